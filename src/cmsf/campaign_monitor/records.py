"""Typed records read from Campaign Monitor, with every time converted to aware UTC.

Each `from_api` takes the JSON object as the API returns it and the client's time-zone label; field
names follow the official SDKs' fixtures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

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


@dataclass(slots=True)  # not frozen: built once per record read, and frozen init is slower
class Subscriber:
    email: str
    name: str
    state: str  # Active, Unconfirmed, Unsubscribed, Bounced, Deleted
    date: datetime | None  # UTC: when the state last changed
    list_joined_date: datetime | None  # UTC
    custom_fields: tuple[tuple[str, str], ...]  # (field name, value); multi-select values repeat the name
    consent_to_track: str
    consent_to_send_sms: str
    mobile_number: str
    reads_email_with: str

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
        )

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


@dataclass(slots=True)  # not frozen: built once per record read, and frozen init is slower
class Recipient:
    email: str
    list_id: str
    sent_date: datetime | None = None  # journey email recipients carry it; campaign recipients do not

    @classmethod
    def from_api(cls, d: dict[str, Any], zone: str) -> Recipient:
        sent = d.get("SentDate")
        return cls(d.get("EmailAddress") or "", d.get("ListID") or "", timezones.parse(sent, zone) if sent else None)


@dataclass(slots=True)  # not frozen: built once per record read, and frozen init is slower
class Activity:
    """One open, click, bounce, unsubscribe or spam complaint."""

    kind: str  # opens, clicks, bounces, unsubscribes, spam
    email: str
    date: datetime | None
    list_id: str = ""
    ip_address: str = ""
    url: str = ""
    latitude: float | None = None
    longitude: float | None = None
    city: str = ""
    region: str = ""
    country_code: str = ""
    country_name: str = ""
    bounce_type: str = ""
    reason: str = ""

    @classmethod
    def from_api(cls, kind: str, d: dict[str, Any], zone: str) -> Activity:
        # Runs once per tracking event (millions on a large account): plain lookups, no helpers.
        get = d.get
        latitude, longitude = get("Latitude"), get("Longitude")
        return cls(
            kind,
            get("EmailAddress") or "",
            timezones.parse(get("Date"), zone),
            get("ListID") or "",
            get("IPAddress") or "",
            get("URL") or "",
            latitude if latitude is None or isinstance(latitude, float) else _float(latitude),
            longitude if longitude is None or isinstance(longitude, float) else _float(longitude),
            get("City") or "",
            get("Region") or "",
            get("CountryCode") or "",
            get("CountryName") or "",
            get("BounceType") or "",
            get("Reason") or "",
        )


@dataclass(frozen=True, slots=True)
class Suppression:
    email: str
    reason: str
    date: datetime | None
    state: str

    @classmethod
    def from_api(cls, d: dict[str, Any], zone: str) -> Suppression:
        return cls(
            email=_text(d.get("EmailAddress")),
            reason=_text(d.get("SuppressionReason")),
            date=timezones.parse(d.get("Date"), zone),
            state=_text(d.get("State")),
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
