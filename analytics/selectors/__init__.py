"""Reads for the analytics pages, by sub-domain (import the submodules)."""
