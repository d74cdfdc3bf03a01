"""Which patient searches are known to match more than a list's cap, kept in the cache
under a version token replaced whenever any patient is saved or deleted.

The patient list counts a search's matches up to its cap (1,000) to say how many there
are, or "more than 1,000". For the words typed first in a search-as-you-type box ("mag",
"mar") the count is the dearest part of the page: PostgreSQL reads every one of the 1,001
matching rows it counts from the table (the trigram index only says which rows may match),
to show the same "more than 1,000" on every keystroke, page and user. Once a search has
been found past the cap, that is kept (``patients:cap``), and while no patient is saved or
deleted the list reads its page in name order without counting
(``CappedSortingPaginator.past_cap``). A new registration, an edit or a deletion replaces
the token when it commits, so the next such search counts again. ``QuerySet.update`` and
bulk writes send no signal: rows added in bulk (the demo and bench data) only add matches,
so a search past the cap stays past it; nothing updates patients' names or ID numbers in
bulk, and code that ever does must call ``patients_changed`` (a restore replaces the token
itself).

Only searches the trigram sample expects to find past the cap ask (one round trip to the
cache, the same MGET as every versioned value): a search with few matches never pays for
the lookup, and what is kept is only ever "past the cap", never a count or any row. The
words are kept as a hash: they may be a name.

Why this is never stale, and what an unreachable cache does: ``uscpis.versioned_cache``
(an unreachable cache: the search is counted, as before).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from uscpis.versioned_cache import VersionedCache

logger = logging.getLogger(__name__)

EVERY_PATIENT = "patients"
PAST_CAP = VersionedCache(
    "patients:cap",
    base=Path(__file__).resolve().parent,
    # What the answer depends on: a deploy that changes how a search matches starts afresh.
    sources=("search_cache.py", "selectors.py"),
    timeout=600,  # seconds: a lost replacement is stale ten minutes at most
)


def patients_changed() -> None:
    """Searches known past the cap must be counted again once the current transaction
    commits (at once outside a transaction)."""
    PAST_CAP.changed({EVERY_PATIENT})


class PastCap:
    """Whether the search by ``q`` (words alone: no filter) is known to match more than
    ``cap`` patients (``known``); ``found()`` keeps that it does, once a count read after
    this lookup has said so."""

    def __init__(self, q: str, cap: int):
        digest = hashlib.sha256(q.encode()).hexdigest()[:32]
        self.key = f"{cap}:{digest}"
        self.known = False
        self._tokens: list | None = None
        try:
            stored, self._tokens = PAST_CAP.lookup(self.key, [EVERY_PATIENT])
        except Exception:
            logger.warning("patients:cap cache unreachable; counting", exc_info=True)
            return
        self.known = stored is not None and stored[0] is True

    def found(self) -> None:
        """The search was counted past the cap (by a statement read after the lookup)."""
        if not self.known:
            PAST_CAP.store(self.key, self._tokens, True)
