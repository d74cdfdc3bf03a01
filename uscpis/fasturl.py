"""``reverse`` for the URLs a page repeats on every row, without resolving each one.

``reverse()`` costs tens of microseconds (resolver lookups, converters, quoting); a page
with a link per row and per tab spent more time reversing than querying. For integer
(and lowercase-slug) arguments the result only differs in those, so each (name, argument count) is
reversed once per process with sentinel numbers, kept as its literal pieces, and later
calls join the pieces around the real numbers. Anything else (keyword arguments,
non-integers, a converter that does not write a number as itself) falls back to
``reverse``, so the result is always what ``reverse`` would give.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse

_SENTINEL = 918_273_645_000  # no real primary key looks like this
_SLUG_SAFE = re.compile(r"[a-z0-9_-]+\Z")  # written into a URL as is


def _kind(arg) -> str | None:
    if type(arg) is int and arg >= 0:
        return "i"
    if isinstance(arg, str) and _SLUG_SAFE.match(arg):  # template literals are SafeString
        return "s"
    return None


@lru_cache(maxsize=2048)
def _pieces(name: str, kinds: tuple[str, ...], _urlconf, _prefix: str) -> tuple[str, ...] | None:
    sentinels = [
        _SENTINEL + i if kind == "i" else f"fasturlsentinel{i}x" for i, kind in enumerate(kinds)
    ]
    try:
        url = reverse(name, args=sentinels)
    except NoReverseMatch:  # e.g. a word where the pattern wants a number: let reverse decide
        return None
    marks = [str(s) for s in sentinels]
    pieces, rest = [], url
    for mark in marks:
        before, found, rest = rest.partition(mark)
        if not found:
            return None
        pieces.append(before)
    pieces.append(rest)
    return tuple(pieces)


def reverse_ints(name: str, *args) -> str:
    """``reverse(name, args=args)``, fast when every argument is a non-negative int or a
    lowercase slug."""
    return _fast(name, args, get_urlconf() or settings.ROOT_URLCONF, get_script_prefix())


def _fast(name: str, args: tuple, urlconf, prefix: str) -> str:
    kinds = tuple(_kind(a) for a in args)
    if None not in kinds:
        pieces = _pieces(name, kinds, urlconf, prefix)
        if pieces is not None:
            out = [pieces[0]]
            for arg, piece in zip(args, pieces[1:], strict=True):
                out.append(str(arg))
                out.append(piece)
            return "".join(out)
    return reverse(name, args=args)


def url_maker(name: str) -> Callable[..., str]:
    """``reverse_ints`` for one URL name with the URLconf and script prefix looked up once,
    for a tag that writes several links to the same view."""
    urlconf, prefix = get_urlconf() or settings.ROOT_URLCONF, get_script_prefix()
    return lambda *args: _fast(name, args, urlconf, prefix)


def int_url_maker(name: str) -> Callable[[int], str]:
    """A function of one id giving ``reverse(name, args=[id])``, for a page that writes the
    same link on many rows: the URL's pieces are looked up once (for the current URLconf and
    script prefix), not on every row. Anything but a non-negative int goes to ``reverse``."""
    pieces = _pieces(name, ("i",), get_urlconf() or settings.ROOT_URLCONF, get_script_prefix())
    if pieces is None:
        return lambda arg: reverse(name, args=[arg])
    head, tail = pieces

    def url(arg) -> str:
        if type(arg) is int and arg >= 0:
            return f"{head}{arg}{tail}"
        return reverse(name, args=[arg])

    return url


@receiver(setting_changed)
def _forget(**kwargs) -> None:
    _pieces.cache_clear()
