"""Webhook delivery: subscriber events batched per webhook and POSTed from a background thread.

Events are collected for a short window (200 ms by default) and sent as one envelope
{"Events": [...], "ListID": ...} per webhook, at most 1000 events a POST, in the webhook's payload format.
A failing URL is logged and forgotten: it never breaks the API call that caused the event.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import queue
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from xml.etree import ElementTree

import requests

from cmsf_sandbox.campaign_monitor.world import ListRecord, SubscriberRecord

log = logging.getLogger(__name__)

EVENT_TYPES = ("Subscribe", "Deactivate", "Update")
MAX_EVENTS_PER_POST = 1000
DELIVERY_TIMEOUT = 5.0
XSI = "http://www.w3.org/2001/XMLSchema-instance"


def custom_fields_of(subscriber: SubscriberRecord) -> list[dict[str, str]]:
    return [{"Key": name, "Value": value} for name, value in subscriber.custom_fields]


def subscribe_event(subscriber: SubscriberRecord, date: str, signup_ip: str) -> dict[str, Any]:
    return {
        "CustomFields": custom_fields_of(subscriber),
        "Date": date,
        "EmailAddress": subscriber.email,
        "Name": subscriber.name,
        "SignupIPAddress": signup_ip,
        "Type": "Subscribe",
    }


def deactivate_event(subscriber: SubscriberRecord, date: str) -> dict[str, Any]:
    return {
        "CustomFields": custom_fields_of(subscriber),
        "Date": date,
        "EmailAddress": subscriber.email,
        "Name": subscriber.name,
        "State": subscriber.state,
        "Type": "Deactivate",
    }


def update_event(subscriber: SubscriberRecord, date: str, old_email: str) -> dict[str, Any]:
    return {
        "CustomFields": custom_fields_of(subscriber),
        "Date": date,
        "OldEmailAddress": old_email,
        "EmailAddress": subscriber.email,
        "Name": subscriber.name,
        "State": subscriber.state,
        "Type": "Update",
    }


def payload(list_id: str, events: list[dict[str, Any]], payload_format: str) -> tuple[bytes, str]:
    """The body and content type of one delivery."""
    if payload_format.lower() != "xml":
        body = json.dumps({"Events": events, "ListID": list_id}, ensure_ascii=False).encode("utf-8")
        return body, "application/json; charset=utf-8"
    ElementTree.register_namespace("xsi", XSI)
    root = ElementTree.Element("ListEvents")
    ElementTree.SubElement(root, "ListID").text = list_id
    events_element = ElementTree.SubElement(root, "Events")
    for event in events:
        element = ElementTree.SubElement(events_element, "SubscriberEvent", {f"{{{XSI}}}type": f"{event['Type']}Event"})
        for key, value in event.items():
            child = ElementTree.SubElement(element, key)
            if key == "CustomFields":
                for item in value:
                    custom = ElementTree.SubElement(child, "CustomField")
                    ElementTree.SubElement(custom, "Key").text = item["Key"]
                    ElementTree.SubElement(custom, "Value").text = item["Value"]
            else:
                child.text = str(value)
    body = ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)
    return body, "application/xml; charset=utf-8"


@dataclass(frozen=True)
class Target:
    webhook_id: str
    url: str
    payload_format: str
    list_id: str


def targets_for(lst: ListRecord, event_type: str) -> list[Target]:
    return [
        Target(hook.webhook_id, hook.url, hook.payload_format, lst.list_id)
        for hook in lst.webhooks.values()
        if hook.status == "Active" and any(e.lower() == event_type.lower() for e in hook.events)
    ]


class WebhookDispatcher:
    """Collects events and delivers them in batches from one daemon thread (started on the first event)."""

    def __init__(self, window: float = 0.2, timeout: float = DELIVERY_TIMEOUT, *, ca_file: str | None = None) -> None:
        self.window = window
        self.timeout = timeout
        self.ca_file = ca_file  # trusted for https deliveries (default: the system's bundle)
        self._queue: queue.Queue[tuple[Target, dict[str, Any]] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._stopped = False
        self.delivered = 0  # POSTs answered 2xx
        self.failed = 0  # POSTs that failed or were answered otherwise

    def emit(self, lst: ListRecord, event: dict[str, Any]) -> None:
        """Queue `event` for every active webhook of `lst` registered for its Type."""
        for target in targets_for(lst, event["Type"]):
            self._ensure_thread()
            self._queue.put((target, event))

    def _ensure_thread(self) -> None:
        if self._thread is not None or self._stopped:
            return
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="cm-emulator-webhooks", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        session = requests.Session()
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    return
                batch = [item]
                deadline = time.monotonic() + self.window
                stop = False
                while True:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    try:
                        nxt = self._queue.get(timeout=remaining)
                    except queue.Empty:
                        break
                    if nxt is None:
                        stop = True
                        break
                    batch.append(nxt)
                self._deliver(session, batch)
                if stop:
                    return
        finally:
            session.close()

    def _deliver(self, session: requests.Session, batch: list[tuple[Target, dict[str, Any]]]) -> None:
        grouped: dict[Target, list[dict[str, Any]]] = {}
        for target, event in batch:
            grouped.setdefault(target, []).append(event)
        for target, events in grouped.items():
            for start in range(0, len(events), MAX_EVENTS_PER_POST):
                body, content_type = payload(
                    target.list_id, events[start : start + MAX_EVENTS_PER_POST], target.payload_format
                )
                try:
                    response = session.post(
                        target.url,
                        data=body,
                        headers={"Content-Type": content_type},
                        timeout=self.timeout,
                        verify=self.ca_file or True,  # per request: a session's own gives way to REQUESTS_CA_BUNDLE
                    )
                    if 200 <= response.status_code < 300:
                        self.delivered += 1
                    else:
                        self.failed += 1
                        log.info("webhook %s answered %s", target.url, response.status_code)
                except requests.RequestException as error:
                    self.failed += 1
                    log.info("webhook %s failed: %s", target.url, error)

    def close(self) -> None:
        """Deliver what is queued, then stop the thread."""
        self._stopped = True
        thread = self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join(self.timeout + self.window + 1)


def test_delivery(
    list_id: str, url: str, payload_format: str, events: list[str], timeout: float
) -> dict[str, Any] | None:
    """POST a sample payload to `url`; None on success, else the ResultData of code 610."""
    sample = SubscriberRecord(
        email="test@example.com",
        name="Test Subscriber",
        state="Active",
        date=datetime(2010, 12, 14, 11, 32),
        list_joined_date=datetime(2010, 12, 14, 11, 32),
        custom_fields=[("website", "http://example.org")],
    )
    date = "2010-12-14 11:32:00"
    built: list[dict[str, Any]] = []
    for event_type in events or ["Subscribe"]:
        if event_type.lower() == "subscribe":
            built.append(subscribe_event(sample, date, "53.78.123.243"))
        elif event_type.lower() == "update":
            built.append(update_event(sample, date, "old-test@example.com"))
        else:
            built.append(deactivate_event(dataclasses.replace(sample, state="Unsubscribed"), date))
    body, content_type = payload(list_id, built, payload_format)
    try:
        response = requests.post(url, data=body, headers={"Content-Type": content_type}, timeout=timeout)
    except requests.RequestException as error:
        status = "Timeout" if isinstance(error, requests.Timeout) else "ConnectFailure"
        return {
            "FailureStatus": status,
            "FailureResponseMessage": str(error),
            "FailureResponseCode": 0,
            "FailureResponse": "",
        }
    if 200 <= response.status_code < 300:
        return None
    return {
        "FailureStatus": "ProtocolError",
        "FailureResponseMessage": response.reason or "",
        "FailureResponseCode": response.status_code,
        "FailureResponse": response.text[:2000],
    }
