"""`GET /v1/jobs?q=`: jobs whose id or title contains the words of `q`, newest first, in pages.

The store's own list pages are read one after the other (their summaries only: id, state,
title; never a job body) until `limit` jobs match or SCAN_MAX jobs were looked at. The answer
has a `next_cursor` (a store cursor) where it stopped, so the next page goes on from there,
and `scanned`: how many jobs this page looked at.
"""
from __future__ import annotations

PAGE = 200
SCAN_MAX = 5000


def matches(info, words: list[str]) -> bool:
    text = f"{info.id} {getattr(info, 'title', None) or ''}".lower()
    return all(word in text for word in words)


def search_jobs(store, q: str, state=None, priority=None, limit: int = 50,
                cursor: str | None = None) -> tuple[list, str | None, int]:
    """(matching JobInfos, the cursor after the last one looked at or None at the end, scanned)."""
    words = q.lower().split()
    found, scanned = [], 0
    while scanned < SCAN_MAX:
        start = cursor
        page, cursor = store.list_jobs(state=state, priority=priority, limit=PAGE, cursor=start)
        hits = [n for n, info in enumerate(page) if matches(info, words)]
        wanted = limit - len(found)
        if len(hits) > wanted:   # this page holds more than fit: stop just after the last one taken
            last = hits[wanted - 1]
            found += [page[n] for n in hits[:wanted]]
            _, cursor = store.list_jobs(state=state, priority=priority, limit=last + 1, cursor=start)
            return found, cursor, scanned + last + 1
        found += [page[n] for n in hits]
        scanned += len(page)
        if cursor is None or len(found) >= limit:
            break
    return found, cursor, scanned
