"""Pages of records decoded straight from the response's bytes into typed records (msgspec), each built once.

A paged read is most of what the sync costs a client in CPU: decoding JSON, building each record and converting
its times to UTC. msgspec decodes a page into the record structs of `records.py` in one pass of C (no dict per
record, no second object built from it); the times are then converted in one loop over the page, with the offset
looked up once per hour (`timezones.converter`). docs/architecture.md gives the figures that chose it.

A page the typed decode refuses (a field of another type than Campaign Monitor documents: a number where text is
expected, null for a text) is decoded again as plain JSON and its records built by their tolerant `from_api`, so an
odd value costs time, never the read. Bytes that are not JSON raise ValueError, which the transport treats as it
treats any answer that is not JSON (retried, then a TransientError); JSON that is not a page raises FatalError.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import msgspec

from cmsf.campaign_monitor import timezones
from cmsf.campaign_monitor.errors import FatalError
from cmsf.campaign_monitor.records import Activity, Recipient, Subscriber, Suppression

T = TypeVar("T")
Page = tuple[list[Any], int]  # the page's records, and the number of pages the endpoint says it has


class _Page(msgspec.Struct, Generic[T]):
    results: list[T] = msgspec.field(name="Results", default_factory=list)
    number_of_pages: int = msgspec.field(name="NumberOfPages", default=0)


_PLAIN = msgspec.json.Decoder()
# strict=False: numbers sent as text ("-33.86") are read as numbers, as Campaign Monitor's SDKs read them.
_SUBSCRIBERS = msgspec.json.Decoder(_Page[Subscriber], strict=False)
_RECIPIENTS = msgspec.json.Decoder(_Page[Recipient], strict=False)
_ACTIVITIES = msgspec.json.Decoder(_Page[Activity], strict=False)
_SUPPRESSIONS = msgspec.json.Decoder(_Page[Suppression], strict=False)


def plain(content: bytes) -> Any:
    """Any JSON body, as Python values (ValueError when it is not JSON)."""
    return _PLAIN.decode(content)


def _page_count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _typed(decoder: msgspec.json.Decoder[_Page[T]], content: bytes) -> _Page[T] | None:
    """The page as typed records; None when its JSON does not fit them (the tolerant path reads it)."""
    try:
        return decoder.decode(content)
    except msgspec.ValidationError:
        return None


def _tolerant(content: bytes, endpoint: str) -> tuple[list[dict[str, Any]], int]:
    body = plain(content)  # ValueError when not JSON at all
    if not isinstance(body, dict):
        raise FatalError("expected a page of results", endpoint=endpoint)
    results = body.get("Results") or []
    if not isinstance(results, list) or not all(isinstance(d, dict) for d in results):
        raise FatalError("expected a page of results: Results is not a list of records", endpoint=endpoint)
    return results, _page_count(body.get("NumberOfPages"))


def _date(text: str, zone: str, endpoint: str) -> Any:
    try:
        return timezones.converter(zone)(text)
    except ValueError as error:
        raise FatalError(str(error), endpoint=endpoint) from None


def subscribers(zone: str, endpoint: str) -> Callable[[bytes], Page]:
    def decode(content: bytes) -> Page:
        page = _typed(_SUBSCRIBERS, content)
        if page is None:
            results, count = _tolerant(content, endpoint)
            try:
                return [Subscriber.from_api(d, zone) for d in results], count
            except ValueError as error:
                raise FatalError(str(error), endpoint=endpoint) from None
        try:
            convert = timezones.converter(zone)
            for subscriber in page.results:
                subscriber.settle(convert)
        except ValueError as error:
            raise FatalError(str(error), endpoint=endpoint) from None
        return page.results, page.number_of_pages

    return decode


def recipients(zone: str, endpoint: str) -> Callable[[bytes], Page]:
    def decode(content: bytes) -> Page:
        page = _typed(_RECIPIENTS, content)
        if page is None:
            results, count = _tolerant(content, endpoint)
            try:
                return [Recipient.from_api(d, zone) for d in results], count
            except ValueError as error:
                raise FatalError(str(error), endpoint=endpoint) from None
        for recipient in page.results:
            if recipient.sent_text:
                recipient.sent_date = _date(recipient.sent_text, zone, endpoint)
        return page.results, page.number_of_pages

    return decode


def activities(kind: str, zone: str, endpoint: str) -> Callable[[bytes], Page]:
    def decode(content: bytes) -> Page:
        page = _typed(_ACTIVITIES, content)
        if page is None:
            results, count = _tolerant(content, endpoint)
            try:
                return [Activity.from_api(kind, d, zone) for d in results], count
            except ValueError as error:
                raise FatalError(str(error), endpoint=endpoint) from None
        convert = timezones.converter(zone)
        try:
            for activity in page.results:  # once per tracking event: the loop is kept bare
                activity.kind = kind
                activity.date = convert(activity.date_text)
        except ValueError as error:
            raise FatalError(str(error), endpoint=endpoint) from None
        return page.results, page.number_of_pages

    return decode


def suppressions(zone: str, endpoint: str) -> Callable[[bytes], Page]:
    def decode(content: bytes) -> Page:
        page = _typed(_SUPPRESSIONS, content)
        if page is None:
            results, count = _tolerant(content, endpoint)
            try:
                return [Suppression.from_api(d, zone) for d in results], count
            except ValueError as error:
                raise FatalError(str(error), endpoint=endpoint) from None
        for suppression in page.results:
            suppression.date = _date(suppression.date_text, zone, endpoint)
        return page.results, page.number_of_pages

    return decode


def dicts(endpoint: str) -> Callable[[bytes], Page]:
    """A page of records kept as dicts (campaigns, a few a client, built by their own `from_api`)."""

    def decode(content: bytes) -> Page:
        return _tolerant(content, endpoint)

    return decode
