"""Typed records read from Campaign Monitor, with every time converted to aware UTC.

Each `from_api` takes the JSON object as the API returns it and the client's time-zone label; field
names follow the official SDKs' fixtures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec

from cmsf.campaign_monitor import timezones


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _float(value: Any) -> float | None:
    try:
        return None if value is None or value == "" else float(value)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class ClientSummary:
    client_id: str
    name: str

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> ClientSummary:
        return cls(client_id=_text(d.get("ClientID")), name=_text(d.get("Name")))


@dataclass(frozen=True, slots=True)
class ClientDetails:
    client_id: str
    name: str
    contact_name: str
    email_address: str
    country: str
    time_zone: str  # Campaign Monitor's label

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> ClientDetails:
        basic = d.get("BasicDetails") or {}
        return cls(
            client_id=_text(basic.get("ClientID")),
            name=_text(basic.get("CompanyName")),
            contact_name=_text(basic.get("ContactName")),
            email_address=_text(basic.get("EmailAddress")),
            country=_text(basic.get("Country")),
            time_zone=_text(basic.get("TimeZone")),
        )


@dataclass(frozen=True, slots=True)
class ListSummary:
    list_id: str
    name: str

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> ListSummary:
        return cls(list_id=_text(d.get("ListID")), name=_text(d.get("Name") or d.get("ListName")))


@dataclass(frozen=True, slots=True)
class ListDetails:
    list_id: str
    title: str
    confirmed_opt_in: bool
    unsubscribe_setting: str
    unsubscribe_page: str
    confirmation_success_page: str

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> ListDetails:
        return cls(
            list_id=_text(d.get("ListID")),
            title=_text(d.get("Title")),
            confirmed_opt_in=bool(d.get("ConfirmedOptIn")),
            unsubscribe_setting=_text(d.get("UnsubscribeSetting")),
            unsubscribe_page=_text(d.get("UnsubscribePage")),
            confirmation_success_page=_text(d.get("ConfirmationSuccessPage")),
        )


@dataclass(frozen=True, slots=True)
class ListStats:
    total_active: int
    total_unsubscribes: int
    total_deleted: int
    total_bounces: int
    raw: dict[str, int] = field(default_factory=dict)  # every counter, by its API name

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> ListStats:
        return cls(
            total_active=_int(d.get("TotalActiveSubscribers")),
            total_unsubscribes=_int(d.get("TotalUnsubscribes")),
            total_deleted=_int(d.get("TotalDeleted")),
            total_bounces=_int(d.get("TotalBounces")),
            raw={k: _int(v) for k, v in d.items()},
        )


@dataclass(frozen=True, slots=True)
class CustomField:
    name: str
    key: str
    data_type: str
    options: tuple[str, ...]
    visible_in_preference_center: bool

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> CustomField:
        return cls(
            name=_text(d.get("FieldName")),
            key=_text(d.get("Key")),
            data_type=_text(d.get("DataType")),
            options=tuple(_text(o) for o in d.get("FieldOptions") or ()),
            visible_in_preference_center=bool(d.get("VisibleInPreferenceCenter")),
        )


class KeyValue(msgspec.Struct):
    """One custom field value of a subscriber as the API sends it."""

    key: str = msgspec.field(name="Key", default="")
    value: str = msgspec.field(name="Value", default="")


# Paged records (millions on a large account) are msgspec structs, decoded straight from a page's bytes by
# `decoding.py`; fields named UNSENT are never in Campaign Monitor's JSON: they are set once, right after a page is
# decoded (times in UTC, the kind of activity), so each record is built once, in the shape the transforms read.
# `from_api` builds the same struct from a decoded dict: the tolerant path, for a page the typed decode refuses.
def _unsent(name: str) -> str:
    return "cmsf." + name


class Subscriber(msgspec.Struct):
    email: str = msgspec.field(name="EmailAddress", default="")
    name: str = msgspec.field(name="Name", default="")
    state: str = msgspec.field(name="State", default="")  # Active, Unconfirmed, Unsubscribed, Bounced, Deleted
    date: datetime | None = msgspec.field(name=_unsent("date"), default=None)  # UTC: when the state last changed
    list_joined_date: datetime | None = msgspec.field(name=_unsent("joined"), default=None)  # UTC
    # (field name, value); multi-select values repeat the name
    custom_fields: tuple[tuple[str, str], ...] = msgspec.field(name=_unsent("fields"), default=())
    consent_to_track: str = msgspec.field(name="ConsentToTrack", default="")
    consent_to_send_sms: str = msgspec.field(name="ConsentToSendSms", default="")
    mobile_number: str = msgspec.field(name="MobileNumber", default="")
    reads_email_with: str = msgspec.field(name="ReadsEmailWith", default="")
    # As sent: read once by `decoding`, which sets the fields above from them.
    date_text: str = msgspec.field(name="Date", default="")
    joined_text: str = msgspec.field(name="ListJoinedDate", default="")
    sent_fields: list[KeyValue] = msgspec.field(name="CustomFields", default_factory=list)

    @classmethod
    def from_api(cls, d: dict[str, Any], zone: str) -> Subscriber:
        return cls(
            email=_text(d.get("EmailAddress")),
            name=_text(d.get("Name")),
            state=_text(d.get("State")),
            date=timezones.parse(d.get("Date"), zone),
            list_joined_date=timezones.parse(d.get("ListJoinedDate"), zone),
            custom_fields=tuple((_text(f.get("Key")), _text(f.get("Value"))) for f in d.get("CustomFields") or ()),
            consent_to_track=_text(d.get("ConsentToTrack")),
            consent_to_send_sms=_text(d.get("ConsentToSendSms")),
            mobile_number=_text(d.get("MobileNumber")),
            reads_email_with=_text(d.get("ReadsEmailWith")),
            date_text=_text(d.get("Date")),
            joined_text=_text(d.get("ListJoinedDate")),
        )

    def settle(self, convert: Callable[[str | None], datetime | None]) -> None:
        """After a typed decode: the times in UTC (`convert`: `timezones.converter` of the client's zone) and the
        custom fields as (name, value) pairs."""
        self.date = convert(self.date_text)
        self.list_joined_date = convert(self.joined_text)
        if self.sent_fields:
            self.custom_fields = tuple((f.key, f.value) for f in self.sent_fields)
            self.sent_fields = []

    def field_values(self, name: str) -> list[str]:
        return [value for key, value in self.custom_fields if key == name]


@dataclass(frozen=True, slots=True)
class SubscriberInput:
    """A subscriber to add, update or import. Consent to track is "Unchanged" unless given."""

    email: str
    name: str = ""
    custom_fields: tuple[tuple[str, str], ...] = ()
    clear_fields: tuple[str, ...] = ()
    consent_to_track: str = "Unchanged"
    mobile_number: str | None = None  # None leaves it unchanged; "" clears it
    consent_to_send_sms: str = "Unchanged"

    def to_api(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "EmailAddress": self.email,
            "Name": self.name,
            "CustomFields": [{"Key": k, "Value": v} for k, v in self.custom_fields]
            + [{"Key": k, "Value": "", "Clear": True} for k in self.clear_fields],
            "ConsentToTrack": self.consent_to_track,
        }
        if self.mobile_number is not None:
            body["MobileNumber"] = self.mobile_number
            body["ConsentToSendSms"] = self.consent_to_send_sms
        return body


@dataclass(frozen=True, slots=True)
class ImportFailure:
    email: str
    code: int
    message: str


@dataclass
class ImportResult:
    """The sum of one or more import calls (Campaign Monitor takes at most 1,000 a call)."""

    submitted: int = 0
    new_subscribers: int = 0
    existing_subscribers: int = 0
    duplicates: list[str] = field(default_factory=list)
    failures: list[ImportFailure] = field(default_factory=list)
    calls: int = 0

    def add(self, d: dict[str, Any]) -> None:
        self.calls += 1
        self.submitted += _int(d.get("TotalUniqueEmailsSubmitted"))
        self.new_subscribers += _int(d.get("TotalNewSubscribers"))
        self.existing_subscribers += _int(d.get("TotalExistingSubscribers"))
        self.duplicates.extend(_text(e) for e in d.get("DuplicateEmailsInSubmission") or ())
        self.failures.extend(
            ImportFailure(email=_text(f.get("EmailAddress")), code=_int(f.get("Code")), message=_text(f.get("Message")))
            for f in d.get("FailureDetails") or ()
        )


@dataclass(frozen=True, slots=True)
class Campaign:
    campaign_id: str
    name: str
    subject: str
    from_name: str
    from_email: str
    reply_to: str
    sent_date: datetime | None
    total_recipients: int
    web_version_url: str
    web_version_text_url: str
    tags: tuple[str, ...]

    @classmethod
    def from_api(cls, d: dict[str, Any], zone: str) -> Campaign:
        return cls(
            campaign_id=_text(d.get("CampaignID")),
            name=_text(d.get("Name")),
            subject=_text(d.get("Subject")),
            from_name=_text(d.get("FromName")),
            from_email=_text(d.get("FromEmail")),
            reply_to=_text(d.get("ReplyTo")),
            sent_date=timezones.parse(d.get("SentDate"), zone),
            total_recipients=_int(d.get("TotalRecipients")),
            web_version_url=_text(d.get("WebVersionURL")),
            web_version_text_url=_text(d.get("WebVersionTextURL")),
            tags=tuple(_text(t) for t in d.get("Tags") or ()),
        )


@dataclass(frozen=True, slots=True)
class CampaignSummary:
    name: str
    recipients: int
    total_opened: int
    unique_opened: int
    clicks: int
    unsubscribed: int
    bounced: int
    spam_complaints: int
    forwards: int
    likes: int
    mentions: int
    web_version_url: str
    web_version_text_url: str
    worldview_url: str

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> CampaignSummary:
        return cls(
            name=_text(d.get("Name")),
            recipients=_int(d.get("Recipients")),
            total_opened=_int(d.get("TotalOpened")),
            unique_opened=_int(d.get("UniqueOpened")),
            clicks=_int(d.get("Clicks")),
            unsubscribed=_int(d.get("Unsubscribed")),
            bounced=_int(d.get("Bounced")),
            spam_complaints=_int(d.get("SpamComplaints")),
            forwards=_int(d.get("Forwards")),
            likes=_int(d.get("Likes")),
            mentions=_int(d.get("Mentions")),
            web_version_url=_text(d.get("WebVersionURL")),
            web_version_text_url=_text(d.get("WebVersionTextURL")),
            worldview_url=_text(d.get("WorldviewURL")),
        )

    @property
    def open_rate(self) -> float:
        return round(100.0 * self.unique_opened / self.recipients, 2) if self.recipients else 0.0


class Recipient(msgspec.Struct):
    email: str = msgspec.field(name="EmailAddress", default="")
    list_id: str = msgspec.field(name="ListID", default="")
    # UTC; journey email recipients carry it, campaign recipients do not
    sent_date: datetime | None = msgspec.field(name=_unsent("sent"), default=None)
    sent_text: str = msgspec.field(name="SentDate", default="")  # as sent

    @classmethod
    def from_api(cls, d: dict[str, Any], zone: str) -> Recipient:
        sent = d.get("SentDate")
        moment = timezones.parse(sent, zone) if sent else None
        return cls(_text(d.get("EmailAddress")), _text(d.get("ListID")), moment, _text(sent))


class Activity(msgspec.Struct):
    """One open, click, bounce, unsubscribe or spam complaint."""

    kind: str = msgspec.field(name=_unsent("kind"), default="")  # opens, clicks, bounces, unsubscribes, spam
    email: str = msgspec.field(name="EmailAddress", default="")
    date: datetime | None = msgspec.field(name=_unsent("date"), default=None)  # UTC
    list_id: str = msgspec.field(name="ListID", default="")
    ip_address: str = msgspec.field(name="IPAddress", default="")
    url: str = msgspec.field(name="URL", default="")
    latitude: float | None = msgspec.field(name="Latitude", default=None)
    longitude: float | None = msgspec.field(name="Longitude", default=None)
    city: str = msgspec.field(name="City", default="")
    region: str = msgspec.field(name="Region", default="")
    country_code: str = msgspec.field(name="CountryCode", default="")
    country_name: str = msgspec.field(name="CountryName", default="")
    bounce_type: str = msgspec.field(name="BounceType", default="")
    reason: str = msgspec.field(name="Reason", default="")
    date_text: str = msgspec.field(name="Date", default="")  # as sent

    @classmethod
    def from_api(cls, kind: str, d: dict[str, Any], zone: str) -> Activity:
        get = d.get
        return cls(
            kind,
            _text(get("EmailAddress")),
            timezones.parse(get("Date"), zone),
            _text(get("ListID")),
            _text(get("IPAddress")),
            _text(get("URL")),
            _float(get("Latitude")),
            _float(get("Longitude")),
            _text(get("City")),
            _text(get("Region")),
            _text(get("CountryCode")),
            _text(get("CountryName")),
            _text(get("BounceType")),
            _text(get("Reason")),
            _text(get("Date")),
        )


class Suppression(msgspec.Struct):
    email: str = msgspec.field(name="EmailAddress", default="")
    reason: str = msgspec.field(name="SuppressionReason", default="")
    date: datetime | None = msgspec.field(name=_unsent("date"), default=None)  # UTC
    state: str = msgspec.field(name="State", default="")
    date_text: str = msgspec.field(name="Date", default="")  # as sent

    @classmethod
    def from_api(cls, d: dict[str, Any], zone: str) -> Suppression:
        return cls(
            email=_text(d.get("EmailAddress")),
            reason=_text(d.get("SuppressionReason")),
            date=timezones.parse(d.get("Date"), zone),
            state=_text(d.get("State")),
            date_text=_text(d.get("Date")),
        )


@dataclass(frozen=True, slots=True)
class JourneySummary:
    journey_id: str
    list_id: str
    name: str
    status: str

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> JourneySummary:
        return cls(
            journey_id=_text(d.get("JourneyID")),
            list_id=_text(d.get("ListID")),
            name=_text(d.get("Name")),
            status=_text(d.get("Status")),
        )


@dataclass(frozen=True, slots=True)
class JourneyEmail:
    email_id: str
    name: str
    sent: int
    opened: int
    unique_opened: int
    clicked: int
    bounced: int
    unsubscribed: int


@dataclass(frozen=True, slots=True)
class Journey:
    journey_id: str
    name: str
    trigger_type: str
    status: str
    emails: tuple[JourneyEmail, ...]

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> Journey:
        return cls(
            journey_id=_text(d.get("JourneyID")),
            name=_text(d.get("Name")),
            trigger_type=_text(d.get("TriggerType")),
            status=_text(d.get("Status")),
            emails=tuple(
                JourneyEmail(
                    email_id=_text(e.get("EmailID")),
                    name=_text(e.get("Name")),
                    sent=_int(e.get("Sent")),
                    opened=_int(e.get("Opened")),
                    unique_opened=_int(e.get("UniqueOpened")),
                    clicked=_int(e.get("Clicked")),
                    bounced=_int(e.get("Bounced")),
                    unsubscribed=_int(e.get("Unsubscribed")),
                )
                for e in d.get("Emails") or ()
            ),
        )


@dataclass(frozen=True, slots=True)
class Segment:
    segment_id: str
    list_id: str
    title: str

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> Segment:
        return cls(segment_id=_text(d.get("SegmentID")), list_id=_text(d.get("ListID")), title=_text(d.get("Title")))


@dataclass(frozen=True, slots=True)
class Webhook:
    webhook_id: str
    events: tuple[str, ...]
    url: str
    status: str
    payload_format: str

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> Webhook:
        return cls(
            webhook_id=_text(d.get("WebhookID")),
            events=tuple(_text(e) for e in d.get("Events") or ()),
            url=_text(d.get("Url")),
            status=_text(d.get("Status")),
            payload_format=_text(d.get("PayloadFormat")),
        )


WEBHOOK_EVENT_TYPES = ("Subscribe", "Deactivate", "Update")
WEBHOOK_EVENT_DEPTH = 6  # an event, its CustomFields, a field, its value: deeper is not an event of Campaign Monitor
_EVENT_TEXT = ("EmailAddress", "OldEmailAddress", "Name", "State", "Date", "SignupIPAddress")


def webhook_event_problem(d: Any) -> str:
    """Why a webhook event as POSTed cannot be applied, in plain words; "" when its shape is sound. Only the shape
    is checked here (what Salesforce accepts is Salesforce's to say): an object with a known Type, an email address,
    text where text is expected, a Campaign Monitor date, and CustomFields as a list of {Key, Value}. Keys this
    client does not read may hold any JSON value, within the depth bound."""
    if not isinstance(d, dict):
        return f"an event must be a JSON object, not {_json_kind(d)}"
    if d.get("Type") not in WEBHOOK_EVENT_TYPES:
        return f"Type must be one of {', '.join(WEBHOOK_EVENT_TYPES)}, not {_short(d.get('Type'))}"
    for key in _EVENT_TEXT:
        if d.get(key) is not None and not isinstance(d[key], str):
            return f"{key} must be text, not {_json_kind(d[key])}"
    for key in ("EmailAddress", "OldEmailAddress"):
        value = d.get(key) or ""
        if (value or key == "EmailAddress") and not _looks_like_email(value):
            return f"{key} must be an email address, not {_short(value)}"
    if d.get("Date") and not timezones.is_date(d["Date"]):
        return f"Date must be a Campaign Monitor date (YYYY-MM-DD HH:MM:SS), not {_short(d['Date'])}"
    fields = d.get("CustomFields")
    if fields is not None:
        if not isinstance(fields, list):
            return f"CustomFields must be a list of {{Key, Value}}, not {_json_kind(fields)}"
        for position, entry in enumerate(fields, start=1):
            if not isinstance(entry, dict) or not isinstance(entry.get("Key"), str) or not entry["Key"]:
                return f"CustomFields[{position}] must be {{Key, Value}} with Key a name, not {_short(entry)}"
            if entry.get("Value") is not None and not isinstance(entry["Value"], (str, int, float)):
                return f"CustomFields[{position}].Value must be text or a number, not {_json_kind(entry['Value'])}"
    return _text_problem(d)


def _text_problem(value: Any) -> str:
    """Text a database cannot keep (a NUL character, half a surrogate pair), or nesting past the depth bound."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > WEBHOOK_EVENT_DEPTH:
            return f"the event is nested more than {WEBHOOK_EVENT_DEPTH} deep"
        texts: list[str] = []
        if isinstance(item, dict):
            texts = list(item)
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
        elif isinstance(item, str):
            texts = [item]
        for text in texts:
            if "\x00" in text or (not text.isascii() and not _encodes(text)):
                return f"the event holds text that is not valid Unicode: {_short(text)}"
    return ""


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _looks_like_email(value: str) -> bool:
    local, at, domain = value.rpartition("@")
    return bool(at and local and domain) and len(value) <= 254 and not any(c.isspace() for c in value)


def _json_kind(value: Any) -> str:
    kinds = {dict: "an object", list: "a list", str: "text", bool: "true or false", int: "a number", float: "a number"}
    return "null" if value is None else kinds.get(type(value), type(value).__name__)


def _short(value: Any) -> str:
    said = repr(value)
    return said if len(said) <= 60 else said[:57] + "..."


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    type: str  # Subscribe, Update, Deactivate
    email: str
    old_email: str
    name: str
    state: str
    date: datetime | None
    custom_fields: tuple[tuple[str, str], ...]
    signup_ip_address: str

    @classmethod
    def from_api(cls, d: dict[str, Any], zone: str) -> WebhookEvent:
        """Raises ValueError, saying why, for an event whose shape is not sound (`webhook_event_problem`)."""
        problem = webhook_event_problem(d)
        if problem:
            raise ValueError(problem)
        return cls(
            type=_text(d.get("Type")),
            email=_text(d.get("EmailAddress")),
            old_email=_text(d.get("OldEmailAddress")),
            name=_text(d.get("Name")),
            state=_text(d.get("State")) or ("Active" if d.get("Type") == "Subscribe" else ""),
            date=timezones.parse(d.get("Date"), zone),
            custom_fields=tuple((_text(f.get("Key")), _text(f.get("Value"))) for f in d.get("CustomFields") or ()),
            signup_ip_address=_text(d.get("SignupIPAddress")),
        )


# -- transactional -----------------------------------------------------------------------------------------------


def _iso(value: Any) -> datetime | None:
    """A transactional date, ISO 8601 with an offset ("2015-05-15T16:09:19-05:00"), as aware UTC."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo is not None else None


@dataclass(frozen=True, slots=True)
class SmartEmail:
    """One smart email of a client's list; `status` is lower case (active, draft)."""

    smart_email_id: str
    name: str
    created_at: datetime | None
    status: str

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> SmartEmail:
        return cls(
            smart_email_id=_text(d.get("ID") or d.get("SmartEmailID")),
            name=_text(d.get("Name")),
            created_at=_iso(d.get("CreatedAt")),
            status=_text(d.get("Status")).lower(),
        )


@dataclass(frozen=True, slots=True)
class SmartEmailDetails:
    smart_email_id: str
    name: str
    created_at: datetime | None
    status: str  # active, draft
    from_address: str
    reply_to: str
    subject: str
    email_variables: tuple[str, ...]
    html_preview_url: str
    text_preview_url: str
    add_recipients_to_list: bool

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> SmartEmailDetails:
        properties = d.get("Properties") or {}
        content = properties.get("Content") or {}
        return cls(
            smart_email_id=_text(d.get("SmartEmailID")),
            name=_text(d.get("Name")),
            created_at=_iso(d.get("CreatedAt")),
            status=_text(d.get("Status")).lower(),
            from_address=_text(properties.get("From")),
            reply_to=_text(properties.get("ReplyTo")),
            subject=_text(properties.get("Subject")),
            email_variables=tuple(_text(v) for v in content.get("EmailVariables") or ()),
            html_preview_url=_text(properties.get("HtmlPreviewUrl")),
            text_preview_url=_text(properties.get("TextPreviewUrl")),
            add_recipients_to_list=bool(d.get("AddRecipientsToList")),
        )


@dataclass(frozen=True, slots=True)
class SentMessage:
    """One recipient of a send or resend: Received (a send) or Accepted (a resend)."""

    message_id: str
    recipient: str
    status: str

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> SentMessage:
        return cls(_text(d.get("MessageID")), _text(d.get("Recipient")), _text(d.get("Status")))


@dataclass(frozen=True, slots=True)
class MessageEvent:
    """An open or a click of a transactional message."""

    email: str
    date: datetime | None  # UTC
    ip_address: str = ""
    url: str = ""  # clicks
    city: str = ""
    country_code: str = ""
    mail_client: str = ""  # opens: "Apple Mail (iOS, Mobile)"

    @classmethod
    def from_api(cls, d: dict[str, Any], zone: str) -> MessageEvent:
        geo = d.get("Geolocation") or {}
        client = d.get("MailClient") or {}
        details = ", ".join(_text(client.get(k)) for k in ("OS", "Device") if client.get(k))
        name = _text(client.get("Name"))
        return cls(
            email=_text(d.get("EmailAddress")),
            date=timezones.parse(d.get("Date"), zone),
            ip_address=_text(d.get("IPAddress")),
            url=_text(d.get("URL")),
            city=_text(geo.get("City")),
            country_code=_text(geo.get("CountryCode")),
            mail_client=f"{name} ({details})" if name and details else name,
        )


@dataclass(frozen=True, slots=True)
class MessageSummary:
    """A message of the timeline; `status` is Campaign Monitor's (Received, Delivered, Bounced, Spam)."""

    message_id: str
    status: str
    sent_at: datetime | None
    recipient: str
    from_address: str
    subject: str
    total_opens: int
    total_clicks: int
    can_be_resent: bool
    smart_email_id: str = ""
    group: str = ""
    bounce_type: str = ""
    bounce_category: str = ""

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> MessageSummary:
        return cls(
            message_id=_text(d.get("MessageID")),
            status=_text(d.get("Status")),
            sent_at=_iso(d.get("SentAt")),
            recipient=_text(d.get("Recipient")),
            from_address=_text(d.get("From")),
            subject=_text(d.get("Subject")),
            total_opens=_int(d.get("TotalOpens")),
            total_clicks=_int(d.get("TotalClicks")),
            can_be_resent=bool(d.get("CanBeResent")),
            smart_email_id=_text(d.get("SmartEmailID")),
            group=_text(d.get("Group")),
            bounce_type=_text(d.get("BounceType")),
            bounce_category=_text(d.get("BounceCategory")),
        )


@dataclass(frozen=True, slots=True)
class MessageDetails:
    """One message read whole: the summary's fields, its addresses and Data, and (with statistics) its opens and
    clicks, dated in UTC."""

    message_id: str
    status: str
    sent_at: datetime | None
    recipient: str
    from_address: str
    subject: str
    total_opens: int
    total_clicks: int
    can_be_resent: bool
    smart_email_id: str = ""
    group: str = ""
    bounce_type: str = ""
    bounce_category: str = ""
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)
    opens: tuple[MessageEvent, ...] = ()
    clicks: tuple[MessageEvent, ...] = ()

    @classmethod
    def from_api(cls, d: dict[str, Any], zone: str) -> MessageDetails:
        message = d.get("Message") or {}

        def addresses(value: Any) -> tuple[str, ...]:
            items = [value] if isinstance(value, str) else value or ()
            return tuple(_text(item) for item in items if item)

        data = message.get("Data")
        return cls(
            message_id=_text(d.get("MessageID")),
            status=_text(d.get("Status")),
            sent_at=_iso(d.get("SentAt")),
            recipient=_text(d.get("Recipient")),
            from_address=_text(message.get("From")),
            subject=_text(message.get("Subject")),
            total_opens=_int(d.get("TotalOpens")),
            total_clicks=_int(d.get("TotalClicks")),
            can_be_resent=bool(d.get("CanBeResent")),
            smart_email_id=_text(d.get("SmartEmailID")),
            group=_text(d.get("Group")),
            bounce_type=_text(d.get("BounceType")),
            bounce_category=_text(d.get("BounceCategory")),
            to=addresses(message.get("To")),
            cc=addresses(message.get("CC")),
            bcc=addresses(message.get("BCC")),
            data=dict(data) if isinstance(data, dict) else {},
            opens=tuple(MessageEvent.from_api(e, zone) for e in d.get("Opens") or ()),
            clicks=tuple(MessageEvent.from_api(e, zone) for e in d.get("Clicks") or ()),
        )

    @property
    def first_opened_at(self) -> datetime | None:
        """The earliest open's date (UTC); None when read without statistics or never opened."""
        return _earliest(self.opens)

    @property
    def first_clicked_at(self) -> datetime | None:
        """The earliest click's date (UTC); None when read without statistics or never clicked."""
        return _earliest(self.clicks)


def _earliest(events: tuple[MessageEvent, ...]) -> datetime | None:
    dates = [event.date for event in events if event.date is not None]
    return min(dates) if dates else None
