"""Pure: a Salesforce record, as an import wizard reads it, to the subscriber Campaign Monitor is sent.

A record without a usable email is not sent; a mobile number that cannot be made E.164 is left out (the rest of
the subscriber is sent); a consent value that is not Yes, No or Unchanged is sent as Unchanged. Each is a problem
for the run to report with the record's key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from cmsf.campaign_monitor.records import SubscriberInput
from cmsf.lib.phones import BadNumber, to_e164
from cmsf.sync import field_values

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class Shape:
    """What a wizard sends, settled once per run: the fields to read and the custom field keys to fill."""

    email_field: str
    name_field: str
    consent_field: str = ""
    mappings: tuple[tuple[str, str, str], ...] = ()  # (Salesforce field, custom field key, its data type)
    id_key: str = ""  # the "Salesforce ID" custom field's key, when the record Id is sent
    clear_blank_values: bool = False
    mobile_field: str = ""  # only when SMS is on
    sms_consent_field: str = ""
    sms_consent_by_object: tuple[tuple[str, str], ...] = ()  # SMS Settings' field per object, when the wizard has none
    country: str = ""  # SMS's default country


@dataclass
class Made:
    subscriber: SubscriberInput | None
    problems: list[str] = field(default_factory=list)


def _consent(raw: str, what: str, problems: list[str]) -> str:
    value = field_values.consent(raw)
    if value is None:
        problems.append(f"{what} {raw.strip()!r} is not Yes, No or Unchanged: sent as Unchanged")
        return "Unchanged"
    return value


def subscriber(record_id: str, values: dict[str, str], shape: Shape, sobject: str = "") -> Made:
    problems: list[str] = []
    email = values.get(shape.email_field, "").strip()
    if not email:
        return Made(None, [f"no email address in {shape.email_field}"])
    if not EMAIL.match(email):
        return Made(None, [f"{email!r} in {shape.email_field} is not an email address"])
    entries = field_values.to_campaign_monitor(values, shape.mappings, clear_blank=shape.clear_blank_values)
    problems += entries.problems
    custom, clear = entries.values, entries.clear
    if shape.id_key:
        custom.append((shape.id_key, record_id))
    mobile: str | None = None
    sms_consent = "Unchanged"
    if shape.mobile_field:
        raw = values.get(shape.mobile_field, "")
        try:
            mobile = to_e164(raw, shape.country)
        except BadNumber as error:
            problems.append(f"the mobile number in {shape.mobile_field} is not sent: {error}")
        if mobile is None and not raw.strip() and shape.clear_blank_values:
            mobile = ""  # a blank number clears Campaign Monitor's
        consent_field = shape.sms_consent_field or dict(shape.sms_consent_by_object).get(sobject, "")
        if mobile and consent_field:
            sms_consent = _consent(values.get(consent_field, ""), "consent to send SMS", problems)
    consent = "Unchanged"
    if shape.consent_field:
        consent = _consent(values.get(shape.consent_field, ""), "consent to track", problems)
    made = SubscriberInput(
        email=email,
        name=values.get(shape.name_field, "").strip(),
        custom_fields=tuple(custom),
        clear_fields=tuple(clear),
        consent_to_track=consent,
        mobile_number=mobile,
        consent_to_send_sms=sms_consent,
    )
    return Made(made, problems)
