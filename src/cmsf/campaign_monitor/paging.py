"""Paged endpoints as iterators: 1,000 a page, stopping on `NumberOfPages`, never looping forever.

Pages can be fetched ahead in parallel (`parallel` > 1): page 1 tells how many pages there are, the
rest are fetched by a small thread pool and yielded in order. Ascending-by-date endpoints only ever
grow at the end, so earlier pages do not move while they are read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from cmsf.campaign_monitor.errors import PagingError

PAGE_SIZE = 1000
Page = tuple[list[Any], int]  # a page's records (typed, see `decoding`), and the number of pages the endpoint has


def _fingerprint(results: list[Any]) -> str:
    # The first and last records and the count tell pages apart without comparing every record.
    return repr((len(results), results[0], results[-1])) if results else "0"


def _page_count(page: Page) -> int:
    return page[1]


def pages(fetch: Callable[[int], Page], *, endpoint: str, parallel: int = 1) -> Iterator[Page]:
    """Every page of a paged endpoint; `fetch(n)` returns page n (1-based)."""
    first = fetch(1)
    yield first
    total = _page_count(first)
    if total <= 1 or not first[0]:
        return
    previous = _fingerprint(first[0])
    number = 2
    if parallel > 1:
        with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="cm-page") as pool:
            window: dict[int, Future[Page]] = {}
            while number <= total:
                for ahead in range(number, min(total, number + parallel * 2 - 1) + 1):
                    if ahead not in window:
                        window[ahead] = pool.submit(fetch, ahead)
                page = window.pop(number).result()
                fingerprint = _check(page, previous, number, endpoint)
                if fingerprint is None:
                    return
                previous = fingerprint
                yield page
                total = max(total, _page_count(page))
                number += 1
        return
    while number <= total:
        page = fetch(number)
        fingerprint = _check(page, previous, number, endpoint)
        if fingerprint is None:
            return
        previous = fingerprint
        yield page
        total = max(total, _page_count(page))  # records added while reading make more pages
        number += 1


def _check(page: Page, previous: str, number: int, endpoint: str) -> str | None:
    """The fingerprint of this page, None for an empty page (the end); raises when it repeats the previous one."""
    results = page[0]
    if not results:
        return None
    fingerprint = _fingerprint(results)
    if fingerprint == previous:
        raise PagingError(f"page {number} repeats page {number - 1}; stopped instead of looping", endpoint=endpoint)
    return fingerprint


def records(fetch: Callable[[int], Page], *, endpoint: str, parallel: int = 1) -> Iterator[Any]:
    for page in pages(fetch, endpoint=endpoint, parallel=parallel):
        yield from page[0]
