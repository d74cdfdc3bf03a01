"""HTTP bench pages for accounts: each role's home dashboard (issue 15)."""

from __future__ import annotations

from uscpis.benchhttp import HttpPage

HTTP_PAGES = [
    HttpPage("doctor's home dashboard", "/", user="doctor@usc.edu.ph"),
    HttpPage("front desk's home dashboard", "/", user="frontdesk@usc.edu.ph"),
    HttpPage("inventory manager's home", "/", user="inventory@usc.edu.ph"),
]
