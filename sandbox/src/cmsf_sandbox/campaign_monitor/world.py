"""The Campaign Monitor account the emulator serves: plain data, shared by the dataset generator
(which fills it) and the emulator (which reads and changes it).

Times are stored as Campaign Monitor returns them: naive datetimes in the owning client's time zone
(`ClientRecord.time_zone`, a Campaign Monitor zone name; `ZONES` maps the ones the sandbox uses to
IANA zones). Tracking events are kept sorted by date so that a `date` filter is a bisect.

Nothing here imports cmsf's own Campaign Monitor client: the emulator must not share code with it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

# The Campaign Monitor time zones the sandbox gives its clients, with their IANA equivalents.
ZONES: dict[str, str] = {
    "(GMT+10:00) Canberra, Melbourne, Sydney": "Australia/Sydney",
    "(GMT-05:00) Eastern Time (US & Canada)": "America/New_York",
    "(GMT) Greenwich Mean Time : Dublin, Edinburgh, Lisbon, London": "Europe/London",
    "(GMT-08:00) Pacific Time (US & Canada)": "America/Los_Angeles",
    "(GMT+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna": "Europe/Berlin",
    "(GMT+05:30) Chennai, Kolkata, Mumbai, New Delhi": "Asia/Kolkata",
    "(GMT) Coordinated Universal Time": "Etc/UTC",
}

SUBSCRIBER_STATES = ("Active", "Unconfirmed", "Unsubscribed", "Bounced", "Deleted")


def local_to_utc(local: datetime, cm_zone: str) -> datetime:
    return local.replace(tzinfo=ZoneInfo(ZONES[cm_zone])).astimezone(UTC)


def utc_to_local(moment: datetime, cm_zone: str) -> datetime:
    """A UTC moment as the naive client-local time Campaign Monitor shows, to the second."""
    return moment.astimezone(ZoneInfo(ZONES[cm_zone])).replace(tzinfo=None, microsecond=0)


@dataclass
class CustomFieldDef:
    name: str  # "subscription date"
    key: str  # "[subscriptiondate]"
    data_type: str  # Text, Number, MultiSelectOne, MultiSelectMany, Date, Country, USState
    options: list[str] = field(default_factory=list)
    visible_in_preference_center: bool = True


@dataclass
class SubscriberRecord:
    email: str  # as given (case kept); lists index subscribers by its lower-case form
    name: str
    state: str  # one of SUBSCRIBER_STATES
    date: datetime  # local: when the state last changed
    list_joined_date: datetime  # local: when first added
    custom_fields: list[tuple[str, str]] = field(default_factory=list)  # (field name, value); multi-select repeats
    consent_to_track: str = "Yes"  # Yes / No / Unchanged
    mobile_number: str = ""
    consent_to_send_sms: str = "Unchanged"
    reads_email_with: str = ""


@dataclass
class Webhook:
    webhook_id: str
    events: list[str]  # Subscribe, Deactivate, Update
    url: str
    payload_format: str = "json"
    status: str = "Active"  # Active / Deactivated


@dataclass
class ListRecord:
    list_id: str
    client_id: str
    title: str
    confirmed_opt_in: bool = False
    unsubscribe_page: str = ""
    unsubscribe_setting: str = "AllClientLists"  # or OnlyThisList
    confirmation_success_page: str = ""
    add_unsubscribes_to_supp_list: bool = True
    scrub_active_with_supp_list: bool = True
    custom_fields: dict[str, CustomFieldDef] = field(default_factory=dict)  # by key "[name]"
    subscribers: dict[str, SubscriberRecord] = field(default_factory=dict)  # by lower-case email
    webhooks: dict[str, Webhook] = field(default_factory=dict)


@dataclass(slots=True)
class TrackingEvent:
    """One send, open, click, bounce, unsubscribe or spam complaint of a campaign or journey email."""

    date: datetime  # local
    email: str
    list_id: str = ""
    ip_address: str = ""
    latitude: float | None = None
    longitude: float | None = None
    city: str = ""
    region: str = ""
    country_code: str = ""
    country_name: str = ""
    url: str = ""  # clicks
    bounce_type: str = ""  # bounces: Hard / Soft
    reason: str = ""  # bounces


@dataclass
class CampaignRecord:
    campaign_id: str
    client_id: str
    name: str
    subject: str
    from_name: str
    from_email: str
    reply_to: str
    sent_date: datetime  # local
    tags: list[str] = field(default_factory=list)
    list_ids: list[str] = field(default_factory=list)
    web_version_url: str = ""
    web_version_text_url: str = ""
    worldview_url: str = ""
    recipients: list[tuple[str, str]] = field(default_factory=list)  # (email, list id), sorted by lower email
    opens: list[TrackingEvent] = field(default_factory=list)  # each list sorted by date
    clicks: list[TrackingEvent] = field(default_factory=list)
    unsubscribes: list[TrackingEvent] = field(default_factory=list)
    spam: list[TrackingEvent] = field(default_factory=list)
    bounces: list[TrackingEvent] = field(default_factory=list)
    forwards: int = 0
    likes: int = 0
    mentions: int = 0


@dataclass
class SuppressionRecord:
    email: str
    reason: str  # Unsubscribed, Bounced, Spam complaint, Manually added, ...
    date: datetime  # local
    state: str = "Suppressed"


@dataclass
class JourneyEmailRecord:
    email_id: str
    name: str
    recipients: list[TrackingEvent] = field(default_factory=list)  # date = sent date; sorted by date
    opens: list[TrackingEvent] = field(default_factory=list)
    clicks: list[TrackingEvent] = field(default_factory=list)
    unsubscribes: list[TrackingEvent] = field(default_factory=list)
    bounces: list[TrackingEvent] = field(default_factory=list)


@dataclass
class JourneyRecord:
    journey_id: str
    client_id: str
    list_id: str
    name: str
    status: str = "Active"  # Active, Not started, Paused
    trigger_type: str = "On Subscription"
    emails: list[JourneyEmailRecord] = field(default_factory=list)


@dataclass
class SegmentRecord:
    segment_id: str
    list_id: str
    title: str
    rule_groups: list[dict] = field(default_factory=list)  # [{"Rules": [{"RuleType": ..., "Clause": ...}]}]


@dataclass
class ClientRecord:
    client_id: str
    company_name: str
    contact_name: str
    email_address: str
    country: str
    time_zone: str  # a key of ZONES
    api_key: str  # a client-level key: it sees only this client
    list_ids: list[str] = field(default_factory=list)
    campaign_ids: list[str] = field(default_factory=list)  # sent campaigns
    journey_ids: list[str] = field(default_factory=list)
    segment_ids: list[str] = field(default_factory=list)
    suppression: dict[str, SuppressionRecord] = field(default_factory=dict)  # by lower-case email


@dataclass
class SmartEmailRecord:
    """A transactional smart email: content kept in Campaign Monitor, sent with `Data` for its variables."""

    smart_email_id: str  # a dashed GUID
    client_id: str
    name: str
    created_at: datetime  # aware UTC
    status: str  # active / draft
    from_address: str  # '"Team" <team@example.com>'
    reply_to: str
    subject: str  # may hold variables: "[username], your password has been reset!"
    html: str
    text: str
    email_variables: list[str] = field(default_factory=list)
    inline_css: bool = True
    add_recipients_to_list: bool = False
    list_id: str = ""  # the list recipients are added to when a send asks for it


@dataclass
class MessageRecord:
    """One transactional message: one recipient of a smart or classic email send (or of a resend)."""

    message_id: str  # a dashed GUID
    client_id: str
    sent_at: datetime  # aware UTC
    recipient: str  # as given: "Joe Smith <joe@example.com>"
    email: str  # the recipient's address
    from_address: str
    subject: str
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)
    attachments: list[tuple[str, str]] = field(default_factory=list)  # (name, MIME type)
    html: str = ""
    text: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    smart_email_id: str = ""  # a smart email's send
    group: str = ""  # a classic email's group
    consent_to_track: str = "Yes"  # Yes / No / Unchanged
    track_opens: bool = True
    track_clicks: bool = True
    status: str = "Received"  # Received, then Delivered or Bounced as the clock moves on
    bounce_type: str = ""
    bounce_category: str = ""
    opens: list[TrackingEvent] = field(default_factory=list)  # dates client-local, sorted
    clicks: list[TrackingEvent] = field(default_factory=list)
    resent_from: str = ""  # the message this one is a resend of


@dataclass
class OAuthApp:
    client_id: str  # the integration's OAuth client id (a number in Campaign Monitor)
    client_secret: str
    redirect_uri: str


@dataclass
class World:
    """The whole account. `lock` guards every change made while the emulator serves it."""

    seed: int
    size: str
    account_api_key: str  # an account-level key: it sees every client
    account_name: str
    clients: dict[str, ClientRecord] = field(default_factory=dict)
    lists: dict[str, ListRecord] = field(default_factory=dict)
    campaigns: dict[str, CampaignRecord] = field(default_factory=dict)
    journeys: dict[str, JourneyRecord] = field(default_factory=dict)
    journey_emails: dict[str, JourneyEmailRecord] = field(default_factory=dict)
    segments: dict[str, SegmentRecord] = field(default_factory=dict)
    oauth_app: OAuthApp | None = None
    smart_emails: dict[str, SmartEmailRecord] = field(default_factory=dict)  # by lower-case id
    messages: dict[str, MessageRecord] = field(default_factory=dict)  # by lower-case id, in the order sent
    transactional: bool = True  # the account's plan includes transactional email (else code 980)
    transactional_off: set[str] = field(default_factory=set)  # clients whose plan does not include it
    generated_until: datetime = field(default_factory=lambda: datetime.now(UTC))  # aware UTC
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)
