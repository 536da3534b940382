"""The Campaign Monitor endpoints cmsf uses, as typed calls over one Transport.

Paged reads are iterators (1,000 a page, oldest first where the endpoint sorts by date). Times given
to a read (`since`) are aware datetimes; they are sent in the client's zone, to the minute, and the
filter is inclusive ("on or after"), so nothing at the boundary is missed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from typing import Any, Literal, cast
from urllib.parse import quote

from cmsf.campaign_monitor import decoding, paging, timezones
from cmsf.campaign_monitor.errors import FatalError
from cmsf.campaign_monitor.records import (
    Activity,
    Campaign,
    CampaignSummary,
    ClientDetails,
    ClientSummary,
    CustomField,
    ImportResult,
    Journey,
    JourneySummary,
    ListDetails,
    ListStats,
    ListSummary,
    MessageDetails,
    MessageSummary,
    Recipient,
    Segment,
    SentMessage,
    SmartEmail,
    SmartEmailDetails,
    Subscriber,
    SubscriberInput,
    Suppression,
    Webhook,
    WebhookEvent,
)
from cmsf.campaign_monitor.transport import Transport

SubscriberState = Literal["active", "unconfirmed", "unsubscribed", "bounced", "deleted"]
SUBSCRIBER_STATES: tuple[SubscriberState, ...] = ("active", "unconfirmed", "unsubscribed", "bounced", "deleted")
CampaignActivity = Literal["opens", "clicks", "bounces", "unsubscribes", "spam"]
CAMPAIGN_ACTIVITIES: tuple[CampaignActivity, ...] = ("opens", "clicks", "bounces", "unsubscribes", "spam")
JourneyActivity = Literal["recipients", "opens", "clicks", "bounces", "unsubscribes"]
IMPORT_BATCH = 1000
INVALID_IMPORT = 210  # "Subscriber Import had some failures": the ResultData still counts what was imported
NOT_IN_LIST = 203


def _since(moment: datetime | None, zone: str) -> str:
    if moment is None:
        return ""
    return timezones.to_local(moment, zone).strftime("%Y-%m-%d %H:%M")


def _q(value: str) -> str:
    return quote(value, safe="")


class CampaignMonitor:
    def __init__(self, transport: Transport, *, page_size: int = paging.PAGE_SIZE, parallel: int = 1) -> None:
        self.transport = transport
        self.page_size = page_size
        self.parallel = parallel

    def _get(
        self,
        path: str,
        endpoint: str,
        params: dict[str, Any] | None = None,
        decode: Callable[[bytes], Any] | None = None,
    ) -> Any:
        return self.transport.request("GET", path, endpoint=endpoint, params=params, decode=decode)

    def _paged(
        self, path: str, endpoint: str, params: dict[str, Any], decode: Callable[[bytes], paging.Page] | None = None
    ) -> Iterator[Any]:
        """The records of every page; `decode` reads a page's bytes into its typed records (`decoding`), plain
        dicts without one."""
        read = decode or decoding.dicts(endpoint)

        def fetch(page: int) -> paging.Page:
            body = self._get(path, endpoint, {**params, "page": page, "pagesize": self.page_size}, read)
            if body is None:
                raise FatalError("expected a page of results", endpoint=endpoint)
            return cast(paging.Page, body)

        return paging.records(fetch, endpoint=endpoint, parallel=self.parallel)

    # -- account and clients -----------------------------------------------------------------------

    def clients(self) -> list[ClientSummary]:
        return [ClientSummary.from_api(d) for d in self._get("clients.json", "GET /clients.json") or ()]

    def system_date(self) -> str:
        return str((self._get("systemdate.json", "GET /systemdate.json") or {}).get("SystemDate", ""))

    def client(self, client_id: str) -> ClientDetails:
        return ClientDetails.from_api(self._get(f"clients/{client_id}.json", "GET /clients/{clientid}.json"))

    def lists(self, client_id: str) -> list[ListSummary]:
        body = self._get(f"clients/{client_id}/lists.json", "GET /clients/{clientid}/lists.json")
        return [ListSummary.from_api(d) for d in body or ()]

    def lists_for_email(self, client_id: str, email: str) -> list[dict[str, Any]]:
        endpoint = "GET /clients/{clientid}/listsforemail.json"
        return list(self._get(f"clients/{client_id}/listsforemail.json", endpoint, {"email": email}) or ())

    def tags(self, client_id: str) -> list[str]:
        body = self._get(f"clients/{client_id}/tags.json", "GET /clients/{clientid}/tags.json")
        return [str(d.get("Name", "")) for d in body or ()]

    def client_segments(self, client_id: str) -> list[Segment]:
        body = self._get(f"clients/{client_id}/segments.json", "GET /clients/{clientid}/segments.json")
        return [Segment.from_api(d) for d in body or ()]

    # -- lists -------------------------------------------------------------------------------------

    def list_details(self, list_id: str) -> ListDetails:
        return ListDetails.from_api(self._get(f"lists/{list_id}.json", "GET /lists/{listid}.json"))

    def list_stats(self, list_id: str) -> ListStats:
        return ListStats.from_api(self._get(f"lists/{list_id}/stats.json", "GET /lists/{listid}/stats.json"))

    def custom_fields(self, list_id: str) -> list[CustomField]:
        body = self._get(f"lists/{list_id}/customfields.json", "GET /lists/{listid}/customfields.json")
        return [CustomField.from_api(d) for d in body or ()]

    def create_custom_field(
        self,
        list_id: str,
        name: str,
        data_type: str,
        *,
        options: Iterable[str] = (),
        visible_in_preference_center: bool = True,
    ) -> str:
        """Add a custom field to a list (Text, Number, Date, MultiSelectOne, MultiSelectMany, Country, USState);
        returns its key, such as "[SalesforceID]"."""
        body = {
            "FieldName": name,
            "DataType": data_type,
            "Options": list(options),
            "VisibleInPreferenceCenter": visible_in_preference_center,
        }
        created = self.transport.request(
            "POST",
            f"lists/{list_id}/customfields.json",
            endpoint="POST /lists/{listid}/customfields.json",
            body=body,
            idempotent=False,
        )
        return str(created)

    def list_segments(self, list_id: str) -> list[Segment]:
        body = self._get(f"lists/{list_id}/segments.json", "GET /lists/{listid}/segments.json")
        return [Segment.from_api(d) for d in body or ()]

    def subscribers(
        self, list_id: str, state: SubscriberState, *, zone: str, since: datetime | None = None
    ) -> Iterator[Subscriber]:
        """The list's subscribers in one state whose state changed on or after `since`, oldest first."""
        if state not in SUBSCRIBER_STATES:
            raise ValueError(f"unknown subscriber state {state!r}")
        params = {
            "date": _since(since, zone),
            "orderfield": "date",
            "orderdirection": "asc",
            "includetrackingpreference": "true",
            "includesmspreference": "true",
        }
        endpoint = f"GET /lists/{{listid}}/{state}.json"
        return self._paged(f"lists/{list_id}/{state}.json", endpoint, params, decoding.subscribers(zone, endpoint))

    def segment_subscribers(self, segment_id: str, *, zone: str, since: datetime | None = None) -> Iterator[Subscriber]:
        params = {
            "date": _since(since, zone),
            "orderfield": "date",
            "orderdirection": "asc",
            "includetrackingpreference": "true",
        }
        endpoint = "GET /segments/{segmentid}/active.json"
        return self._paged(f"segments/{segment_id}/active.json", endpoint, params, decoding.subscribers(zone, endpoint))

    # -- webhooks ----------------------------------------------------------------------------------

    def webhooks(self, list_id: str) -> list[Webhook]:
        body = self._get(f"lists/{list_id}/webhooks.json", "GET /lists/{listid}/webhooks.json")
        return [Webhook.from_api(d) for d in body or ()]

    def create_webhook(self, list_id: str, *, events: Iterable[str], url: str, payload_format: str = "json") -> str:
        body = {"Events": list(events), "Url": url, "PayloadFormat": payload_format}
        created = self.transport.request(
            "POST",
            f"lists/{list_id}/webhooks.json",
            endpoint="POST /lists/{listid}/webhooks.json",
            body=body,
            idempotent=False,
        )
        return str(created)

    def test_webhook(self, list_id: str, webhook_id: str) -> None:
        self._get(f"lists/{list_id}/webhooks/{webhook_id}/test.json", "GET /lists/{listid}/webhooks/{id}/test.json")

    def activate_webhook(self, list_id: str, webhook_id: str) -> None:
        endpoint = "PUT /lists/{listid}/webhooks/{id}/activate.json"
        self.transport.request("PUT", f"lists/{list_id}/webhooks/{webhook_id}/activate.json", endpoint=endpoint)

    def deactivate_webhook(self, list_id: str, webhook_id: str) -> None:
        endpoint = "PUT /lists/{listid}/webhooks/{id}/deactivate.json"
        self.transport.request("PUT", f"lists/{list_id}/webhooks/{webhook_id}/deactivate.json", endpoint=endpoint)

    def delete_webhook(self, list_id: str, webhook_id: str) -> None:
        endpoint = "DELETE /lists/{listid}/webhooks/{id}.json"
        self.transport.request("DELETE", f"lists/{list_id}/webhooks/{webhook_id}.json", endpoint=endpoint)

    # -- subscribers -------------------------------------------------------------------------------

    def subscriber(self, list_id: str, email: str, *, zone: str) -> Subscriber | None:
        """One subscriber of a list, or None when the email is not in it."""
        try:
            body = self._get(
                f"subscribers/{list_id}.json",
                "GET /subscribers/{listid}.json",
                {"email": email, "includetrackingpreference": "true"},
            )
        except FatalError as error:
            if error.code == NOT_IN_LIST:
                return None
            raise
        return Subscriber.from_api(body, zone)

    def add_subscriber(
        self, list_id: str, subscriber: SubscriberInput, *, resubscribe: bool = False, restart_journeys: bool = False
    ) -> str:
        body = {
            **subscriber.to_api(),
            "Resubscribe": resubscribe,
            "RestartSubscriptionBasedAutoresponders": restart_journeys,
        }
        added = self.transport.request(
            "POST", f"subscribers/{list_id}.json", endpoint="POST /subscribers/{listid}.json", body=body
        )
        return str(added)

    def update_subscriber(
        self,
        list_id: str,
        current_email: str,
        subscriber: SubscriberInput,
        *,
        resubscribe: bool = False,
        restart_journeys: bool = False,
    ) -> None:
        body = {
            **subscriber.to_api(),
            "Resubscribe": resubscribe,
            "RestartSubscriptionBasedAutoresponders": restart_journeys,
        }
        self.transport.request(
            "PUT",
            f"subscribers/{list_id}.json?email={_q(current_email)}",
            endpoint="PUT /subscribers/{listid}.json",
            body=body,
        )

    def import_subscribers(
        self,
        list_id: str,
        subscribers: Iterable[SubscriberInput],
        *,
        resubscribe: bool = False,
        queue_journeys: bool = False,
        restart_journeys: bool = False,
    ) -> ImportResult:
        """Import in calls of 1,000; per-subscriber failures are collected, the rest of each call goes on."""
        result = ImportResult()
        batch: list[SubscriberInput] = []
        for subscriber in subscribers:
            batch.append(subscriber)
            if len(batch) == IMPORT_BATCH:
                self._import_batch(list_id, batch, result, resubscribe, queue_journeys, restart_journeys)
                batch = []
        if batch:
            self._import_batch(list_id, batch, result, resubscribe, queue_journeys, restart_journeys)
        return result

    def _import_batch(
        self,
        list_id: str,
        batch: list[SubscriberInput],
        result: ImportResult,
        resubscribe: bool,
        queue_journeys: bool,
        restart_journeys: bool,
    ) -> None:
        endpoint = "POST /subscribers/{listid}/import.json"
        body = {
            "Subscribers": [s.to_api() for s in batch],
            "Resubscribe": resubscribe,
            "QueueSubscriptionBasedAutoresponders": queue_journeys,
            "RestartSubscriptionBasedAutoresponders": restart_journeys,
        }
        try:
            response = self.transport.request(
                "POST", f"subscribers/{list_id}/import.json", endpoint=endpoint, body=body
            )
        except FatalError as error:
            if error.code == INVALID_IMPORT and isinstance(error.result_data, dict):
                result.add(error.result_data)
                return
            raise
        result.add(response or {})

    def unsubscribe(self, list_id: str, email: str) -> None:
        self.transport.request(
            "POST",
            f"subscribers/{list_id}/unsubscribe.json",
            endpoint="POST /subscribers/{listid}/unsubscribe.json",
            body={"EmailAddress": email},
        )

    def delete_subscriber(self, list_id: str, email: str) -> None:
        self.transport.request(
            "DELETE", f"subscribers/{list_id}.json?email={_q(email)}", endpoint="DELETE /subscribers/{listid}.json"
        )

    def subscriber_history(self, list_id: str, email: str) -> list[dict[str, Any]]:
        endpoint = "GET /subscribers/{listid}/history.json"
        return list(self._get(f"subscribers/{list_id}/history.json", endpoint, {"email": email}) or ())

    # -- campaigns ---------------------------------------------------------------------------------

    def sent_campaigns(
        self,
        client_id: str,
        *,
        zone: str,
        sent_from: date | None = None,
        sent_to: date | None = None,
        tags: Iterable[str] = (),
    ) -> Iterator[Campaign]:
        """The client's sent campaigns, oldest first, sent on or after `sent_from` (a date in the client's zone)."""
        params = {
            "sentfromdate": sent_from.isoformat() if sent_from else "",
            "senttodate": sent_to.isoformat() if sent_to else "",
            "tags": ",".join(tags),
            "orderdirection": "asc",
        }
        endpoint = "GET /clients/{clientid}/campaigns.json"
        for d in self._paged(f"clients/{client_id}/campaigns.json", endpoint, params):
            yield Campaign.from_api(d, zone)

    def campaign_summary(self, campaign_id: str) -> CampaignSummary:
        endpoint = "GET /campaigns/{campaignid}/summary.json"
        return CampaignSummary.from_api(self._get(f"campaigns/{campaign_id}/summary.json", endpoint))

    def campaign_lists_and_segments(self, campaign_id: str) -> dict[str, Any]:
        endpoint = "GET /campaigns/{campaignid}/listsandsegments.json"
        return dict(self._get(f"campaigns/{campaign_id}/listsandsegments.json", endpoint) or {})

    def campaign_recipients(self, campaign_id: str, *, zone: str) -> Iterator[Recipient]:
        params = {"orderfield": "email", "orderdirection": "asc"}
        endpoint = "GET /campaigns/{campaignid}/recipients.json"
        path = f"campaigns/{campaign_id}/recipients.json"
        return self._paged(path, endpoint, params, decoding.recipients(zone, endpoint))

    def campaign_activity(
        self, campaign_id: str, kind: CampaignActivity, *, zone: str, since: datetime | None = None
    ) -> Iterator[Activity]:
        """Opens, clicks, bounces, unsubscribes or spam complaints on or after `since`, oldest first."""
        if kind not in CAMPAIGN_ACTIVITIES:
            raise ValueError(f"unknown campaign activity {kind!r}")
        params = {"date": _since(since, zone), "orderfield": "date", "orderdirection": "asc"}
        endpoint = f"GET /campaigns/{{campaignid}}/{kind}.json"
        path = f"campaigns/{campaign_id}/{kind}.json"
        return self._paged(path, endpoint, params, decoding.activities(kind, zone, endpoint))

    # -- suppression list --------------------------------------------------------------------------

    def suppression_list(self, client_id: str, *, zone: str) -> Iterator[Suppression]:
        params = {"orderfield": "date", "orderdirection": "asc"}
        endpoint = "GET /clients/{clientid}/suppressionlist.json"
        path = f"clients/{client_id}/suppressionlist.json"
        return self._paged(path, endpoint, params, decoding.suppressions(zone, endpoint))

    def suppress(self, client_id: str, emails: Iterable[str]) -> None:
        self.transport.request(
            "POST",
            f"clients/{client_id}/suppress.json",
            endpoint="POST /clients/{clientid}/suppress.json",
            body={"EmailAddresses": list(emails)},
        )

    def unsuppress(self, client_id: str, email: str) -> None:
        self.transport.request(
            "PUT",
            f"clients/{client_id}/unsuppress.json?email={_q(email)}",
            endpoint="PUT /clients/{clientid}/unsuppress.json",
        )

    # -- journeys ----------------------------------------------------------------------------------

    def journeys(self, client_id: str) -> list[JourneySummary]:
        body = self._get(f"clients/{client_id}/journeys.json", "GET /clients/{clientid}/journeys.json")
        return [JourneySummary.from_api(d) for d in body or ()]

    def journey(self, journey_id: str) -> Journey:
        return Journey.from_api(self._get(f"journeys/{journey_id}.json", "GET /journeys/{journeyid}.json"))

    def journey_email_activity(
        self, email_id: str, kind: JourneyActivity, *, zone: str, since: datetime | None = None
    ) -> Iterator[Activity | Recipient]:
        """A journey email's recipients (as Recipient, with their sent date) or its opens, clicks,
        bounces or unsubscribes (as Activity), on or after `since`, oldest first."""
        params = {"date": _since(since, zone), "orderdirection": "asc"}
        endpoint = f"GET /journeys/email/{{emailid}}/{kind}.json"
        path = f"journeys/email/{email_id}/{kind}.json"
        decode = (
            decoding.recipients(zone, endpoint) if kind == "recipients" else decoding.activities(kind, zone, endpoint)
        )
        return self._paged(path, endpoint, params, decode)

    # -- transactional -----------------------------------------------------------------------------
    # JSON only, no .json suffix; an account key names the client with clientID. Code 980 (no transactional email
    # on the plan) is `TransactionalNotEnabled`.

    def smart_emails(self, client_id: str, *, status: Literal["all", "active", "draft"] = "all") -> list[SmartEmail]:
        params = {"status": status, "clientID": client_id}
        body = self._get("transactional/smartEmail", "GET /transactional/smartEmail", params)
        return [SmartEmail.from_api(d) for d in body or ()]

    def smart_email(self, smart_email_id: str) -> SmartEmailDetails:
        endpoint = "GET /transactional/smartEmail/{smartemailid}"
        return SmartEmailDetails.from_api(self._get(f"transactional/smartEmail/{_q(smart_email_id)}", endpoint))

    def send_smart_email(
        self,
        smart_email_id: str,
        *,
        to: Iterable[str],
        consent_to_track: Literal["Yes", "No", "Unchanged"],
        cc: Iterable[str] = (),
        bcc: Iterable[str] = (),
        data: dict[str, Any] | None = None,
        add_recipients_to_list: bool = False,
    ) -> list[SentMessage]:
        """Send a smart email: one message per recipient ("Name <email>" or an address), Received. Not retried after
        a response that may mean Campaign Monitor sent it."""
        body = {
            "To": list(to),
            "CC": list(cc),
            "BCC": list(bcc),
            "Data": data or {},
            "AddRecipientsToList": add_recipients_to_list,
            "ConsentToTrack": consent_to_track,
        }
        sent = self.transport.request(
            "POST",
            f"transactional/smartEmail/{_q(smart_email_id)}/send",
            endpoint="POST /transactional/smartEmail/{smartemailid}/send",
            body=body,
            idempotent=False,
            accept=(200, 202),
        )
        return [SentMessage.from_api(d) for d in sent or ()]

    def message_details(
        self, message_id: str, *, zone: str, statistics: bool = True, exclude_body: bool = True
    ) -> MessageDetails:
        """A message's status and, with statistics, its opens and clicks (their dates read in the client's `zone`)."""
        params = {"statistics": str(statistics).lower(), "excludemessagebody": str(exclude_body).lower()}
        body = self._get(f"transactional/messages/{_q(message_id)}", "GET /transactional/messages/{messageid}", params)
        return MessageDetails.from_api(body or {}, zone)

    def message_timeline(
        self,
        client_id: str,
        *,
        status: Literal["all", "delivered", "bounced", "spam"] = "all",
        count: int = 50,
        sent_before_id: str | None = None,
        sent_after_id: str | None = None,
        smart_email_id: str | None = None,
        group: str | None = None,
    ) -> list[MessageSummary]:
        """Messages newest first, at most `count` (1 to 200); the IDs are cursors."""
        params = {
            "clientID": client_id,
            "status": status,
            "count": count,
            "sentBeforeID": sent_before_id,
            "sentAfterID": sent_after_id,
            "smartEmailID": smart_email_id,
            "group": group,
        }
        body = self._get("transactional/messages", "GET /transactional/messages", params)
        return [MessageSummary.from_api(d) for d in body or ()]

    def resend_message(self, message_id: str) -> SentMessage:
        answer = self.transport.request(
            "POST",
            f"transactional/messages/{_q(message_id)}/resend",
            endpoint="POST /transactional/messages/{messageid}/resend",
            idempotent=False,
            accept=(200, 202),
        )
        if isinstance(answer, list):  # the SDKs' fixtures disagree: an object, or a list of one
            answer = answer[0] if answer else {}
        return SentMessage.from_api(answer or {})


# A POSTed batch holds 1,000 events at most; with 50 custom fields of long values each it stays under this.
WEBHOOK_MAX_BYTES = 16 * 1024 * 1024
WEBHOOK_MAX_DEPTH = 32  # the batch, Events, an event and its fields are 6 deep; an event deeper is refused alone


class WebhookBatchTooLarge(ValueError):
    """A POSTed body past WEBHOOK_MAX_BYTES: not read at all."""


def webhook_batch(body: bytes | str) -> tuple[str, list[Any]]:
    """A POSTed webhook batch as sent: the list id and its events, in order, each as it came (a JSON value: its
    shape is checked one event at a time, by `records.webhook_event_problem`, so that a bad event is refused alone).
    Raises ValueError when the body itself is not a batch: too large (WebhookBatchTooLarge), not JSON, nested past
    WEBHOOK_MAX_DEPTH, or not {"Events": [...], "ListID": "..."}."""
    if len(body) > WEBHOOK_MAX_BYTES:
        raise WebhookBatchTooLarge(f"the webhook payload is larger than {WEBHOOK_MAX_BYTES // (1024 * 1024)} MB")
    try:
        payload = json.loads(body, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError(f"the webhook payload is nested more than {WEBHOOK_MAX_DEPTH} deep") from None
    except ValueError as error:
        raise ValueError(f"the webhook payload is not JSON: {error}") from None
    if _deeper_than(payload, WEBHOOK_MAX_DEPTH):
        raise ValueError(f"the webhook payload is nested more than {WEBHOOK_MAX_DEPTH} deep")
    if (
        not isinstance(payload, dict)
        or not isinstance(payload.get("Events"), list)
        or not isinstance(payload.get("ListID"), str)
        or not payload["ListID"].strip()
        or len(payload["ListID"]) > 64
    ):
        raise ValueError("the webhook payload must be {'Events': [...], 'ListID': '...'}")
    return payload["ListID"], list(payload["Events"])


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _deeper_than(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
    return False


def parse_webhook_payload(body: bytes | str, *, zone: str) -> tuple[str, list[WebhookEvent]]:
    """A POSTed webhook batch: the list id and its events, in order. Raises ValueError when malformed."""
    list_id, events = webhook_batch(body)
    return list_id, [WebhookEvent.from_api(e, zone) for e in events]
