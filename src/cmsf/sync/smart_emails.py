"""Smart (transactional) emails sent from cmsf: the one place that lists and sends them. The console's Transactional
section (its "Send a test" form) and the HTTP API call these functions and nothing below them.

- `smart_emails()`: the smart emails of the clients selected for sync, read from Campaign Monitor and kept
  `LIST_SECONDS` seconds (see `LIST_SECONDS`).
- `send_smart_email(...)`: checks locally, with Campaign Monitor's own rules and codes, what can be checked before a
  call (at most 25 recipients, each a valid address of at most 250 characters; Data a JSON object of at most 100 KB;
  consent to track one of Yes, No, Unchanged; the smart email one of the selected clients' and not a draft), then
  sends, keeps each message and writes its Task (`transactional.record_sends`), audits the send (who, which smart
  email, how many recipients: never the data nor the addresses) and logs it. A refusal is a `SendRefused` carrying
  Campaign Monitor's code and a message: the console shows it, the API answers with it.
- `refresh_recent(now)`: one run of the update job as the queue starts it: nothing at all (no call to either service)
  while no message of a selected client is recent; otherwise each recent message read once in its client's zone
  (`transactional.refresh_statuses`), the run logged and counted (`maintenance.observe`), its problems maintenance
  messages.

Sending needs the Enterprise plan (`billing.plans.Features.transactional`) and a Campaign Monitor account whose plan
includes transactional email (code 980 otherwise). The update job follows messages already sent whatever the plan.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Literal

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone

from cmsf.billing.models import BillingAccount
from cmsf.billing.services import features
from cmsf.campaign_monitor.api import CampaignMonitor
from cmsf.campaign_monitor.errors import (
    CampaignMonitorError,
    FatalError,
    TransactionalNotEnabled,
)
from cmsf.campaign_monitor.records import SentMessage
from cmsf.connections import services as connections
from cmsf.connections.models import CampaignMonitorClient
from cmsf.maintenance import observe
from cmsf.maintenance.services import audit, record_message, resolve_cleared
from cmsf.salesforce.adapter import SalesforceAdapter
from cmsf.sync import transactional
from cmsf.sync.services import clients_to_sync
from cmsf.sync.transactional import RefreshOutcome, Send

log = logging.getLogger(__name__)

SECTION = "transactional"  # the audit log's section: the console's Transactional section
# Campaign Monitor's limits on a smart email send (its API reference, §2.10) and the codes it answers with.
MAX_RECIPIENTS = 25
MAX_RECIPIENT_LENGTH = 250
MAX_DATA_BYTES = 100 * 1024
INVALID_EMAIL, NO_RECIPIENT, RECIPIENT_TOO_LONG, TOO_MANY_RECIPIENTS = 1, 952, 953, 954
BAD_CONSENT, DATA_TOO_LARGE, BAD_REQUEST = 974, 996, 400
SMART_EMAIL_NOT_FOUND = 926
# Campaign Monitor documents no code for sending a draft; its emulator answers 929, and so does cmsf's check.
DRAFT = 929
CONSENT_VALUES = ("Yes", "No", "Unchanged")
Consent = Literal["Yes", "No", "Unchanged"]
# How long the list of smart emails is kept. The console's page and the HTTP API (a Flow's builder lists the smart
# emails each time it is opened, a Flow may list before each send) would otherwise call Campaign Monitor once per
# selected client at every view; smart emails are made and published by hand in Campaign Monitor, so a minute's delay
# before one shows is harmless. A send never trusts the kept list to refuse: a smart email it does not find there, or
# finds as a draft, is read again from Campaign Monitor before the send is refused.
LIST_SECONDS = 60
CACHE_PREFIX = "cmsf:smart-emails:"
UTC_ZONE = "(GMT) Coordinated Universal Time"
NAMED = re.compile(r'^\s*"?([^"<]*?)"?\s*<([^<>]*)>\s*$')


class SendRefused(Exception):
    """A smart email list or send refused, before or by Campaign Monitor. `code`: Campaign Monitor's code (the same
    numbers its API answers with), None for cmsf's own refusals (the plan, a connection, a Salesforce record Id);
    `message`: why, to show as it is. `http_status` is what an HTTP API answers with it."""

    http_status: ClassVar[int] = 400

    def __init__(self, code: int | None, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{message} (Campaign Monitor code {code})" if code is not None else message)


class SmartEmailNotFound(SendRefused):
    """No selected client has this smart email (Campaign Monitor's 926)."""

    http_status = 404


class SendNotAllowed(SendRefused):
    """Sending is not open to this installation: the plan, Campaign Monitor's plan (980), or a connection missing."""

    http_status = 403


class SendUnconfirmed(SendRefused):
    """Campaign Monitor did not answer the send (a timeout, a server error, rate limits): it may have gone out."""

    http_status = 503


@dataclass(frozen=True)
class SmartEmail:
    """A smart email of a selected client; `status` is Campaign Monitor's, lower case (active, draft)."""

    id: str
    name: str
    status: str
    client_id: str  # the Campaign Monitor client's id
    client_name: str


# ----------------------------------------------------------------------------------------------- listing


def _check_plan(now: datetime) -> None:
    if not features(now).transactional:
        plan = BillingAccount.load().effective_plan(now)
        raise SendNotAllowed(
            None, f"Smart emails need the Enterprise plan; this account is on the {plan.label} plan (Billing)."
        )


def _not_enabled(error: TransactionalNotEnabled) -> SendNotAllowed:
    return SendNotAllowed(
        error.code,
        "Transactional email is not enabled on the Campaign Monitor account: Campaign Monitor's plan must include "
        "it before smart emails can be listed or sent.",
    )


def _campaign_monitor() -> CampaignMonitor:
    try:
        return connections.campaign_monitor()
    except connections.NotConnected as error:
        raise SendNotAllowed(None, str(error)) from error


def _read(cm: CampaignMonitor, clients: Sequence[CampaignMonitorClient]) -> list[SmartEmail]:
    found: list[SmartEmail] = []
    for client in clients:
        try:
            listed = cm.smart_emails(client.cm_client_id)
        except TransactionalNotEnabled as error:
            raise _not_enabled(error) from error
        found += [SmartEmail(e.smart_email_id, e.name, e.status, client.cm_client_id, client.name) for e in listed]
    return found


def smart_emails(*, fresh: bool = False, cm: CampaignMonitor | None = None) -> list[SmartEmail]:
    """The smart emails of the clients selected for sync, by client name then smart email name; read from Campaign
    Monitor at most once every `LIST_SECONDS` seconds (`fresh`: read now). `SendRefused` when the plan does not
    allow it or Campaign Monitor refuses; a Campaign Monitor that does not answer raises its own error."""
    _check_plan(timezone.now())
    clients = clients_to_sync()
    key = CACHE_PREFIX + ",".join(sorted(c.cm_client_id for c in clients))
    kept = None if fresh else cache.get(key)
    if kept is not None:
        return list(kept)
    own = cm is None
    cm = cm or _campaign_monitor()
    try:
        found = _read(cm, clients)
    finally:
        if own:
            cm.transport.close()
    found.sort(key=lambda e: (e.client_name.lower(), e.name.lower(), e.id))
    cache.set(key, found, LIST_SECONDS)
    return found


def _smart_email(smart_email_id: str, cm: CampaignMonitor) -> SmartEmail:
    """The smart email to send, among the selected clients' and published; a refusal is confirmed by a fresh read."""
    wanted = smart_email_id.strip().lower()
    for fresh in (False, True):
        smart = next((e for e in smart_emails(fresh=fresh, cm=cm) if e.id.lower() == wanted), None)
        if smart is not None and smart.status != "draft":
            return smart
    if smart is None:
        raise SmartEmailNotFound(
            SMART_EMAIL_NOT_FOUND, f"Smart email {smart_email_id!r} not found among the selected clients' smart emails."
        )
    raise SendRefused(
        DRAFT, f"The smart email {smart.name!r} is a draft: publish it in Campaign Monitor before sending."
    )


# ----------------------------------------------------------------------------------------------- checking


def recipient_address(recipient: str) -> str:
    """The address of "Name <email>", '"Name" <email>' or a bare address, as Campaign Monitor reads it."""
    named = NAMED.match(recipient)
    return (named.group(2) if named else recipient).strip()


def check_recipients(to: Sequence[str]) -> list[str]:
    """The recipients, trimmed, by Campaign Monitor's rules (952 none, 954 more than 25, 953 longer than 250
    characters, 1 not a valid address)."""
    if isinstance(to, str) or not all(isinstance(item, str) for item in to):
        raise SendRefused(INVALID_EMAIL, 'The recipients must be a list of addresses ("Name <email>" or an email).')
    recipients = [item.strip() for item in to if item.strip()]
    if not recipients:
        raise SendRefused(NO_RECIPIENT, "At least one recipient is required.")
    if len(recipients) > MAX_RECIPIENTS:
        raise SendRefused(
            TOO_MANY_RECIPIENTS,
            f"{len(recipients)} recipients: a smart email goes to {MAX_RECIPIENTS} recipients at most in one send.",
        )
    for recipient in recipients:
        if len(recipient) > MAX_RECIPIENT_LENGTH:
            raise SendRefused(
                RECIPIENT_TOO_LONG, f"A recipient is longer than {MAX_RECIPIENT_LENGTH} characters: {recipient[:60]}…"
            )
        try:
            validate_email(recipient_address(recipient))
        except ValidationError:
            raise SendRefused(INVALID_EMAIL, f"{recipient!r} is not a valid email address.") from None
    return recipients


def check_data(data: Any) -> dict[str, Any]:
    """The Data of the send: a JSON object of at most 100 KB once encoded (996), as Campaign Monitor measures it."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SendRefused(BAD_REQUEST, "The data must be a JSON object of the smart email's variables.")
    try:
        encoded = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except (TypeError, ValueError) as error:
        raise SendRefused(BAD_REQUEST, f"The data cannot be sent as JSON: {error}.") from None
    if len(encoded) > MAX_DATA_BYTES:
        raise SendRefused(
            DATA_TOO_LARGE, f"The data is {len(encoded) // 1024} KB; Campaign Monitor takes 100 KB at most."
        )
    return data


def check_consent(value: str) -> Consent:
    if value not in CONSENT_VALUES:
        raise SendRefused(BAD_CONSENT, f"Consent to track must be Yes, No or Unchanged, not {value!r}.")
    return value  # type: ignore[return-value]  # one of the literal's values, checked above


def check_related_id(record_id: str | None) -> str | None:
    """A Salesforce record Id (15 or 18 letters and digits) or nothing."""
    record_id = (record_id or "").strip()
    if not record_id:
        return None
    if len(record_id) not in (15, 18) or not record_id.isalnum():
        raise SendRefused(None, f"{record_id!r} is not a Salesforce record Id (15 or 18 letters and digits).")
    return record_id


# ------------------------------------------------------------------------------------------------ sending


def send_smart_email(
    smart_email_id: str,
    *,
    to: Sequence[str],
    data: dict[str, Any] | None,
    consent_to_track: str,
    add_recipients_to_list: bool = False,
    related_record_id: str | None = None,
    actor: str,
    cm: CampaignMonitor | None = None,
    sf: SalesforceAdapter | None = None,
) -> list[SentMessage]:
    """Send a smart email to each recipient ("Name <email>" or an address) and record each message as a Task on
    `related_record_id` or the person found by email; the messages as Campaign Monitor answered (message id,
    recipient, status). `SendRefused` (see its subclasses) before anything is sent, or when Campaign Monitor
    refuses; nothing is kept then. `cm` and `sf`: clients to use instead of the connected ones' new clients."""
    now = timezone.now()
    _check_plan(now)
    recipients = check_recipients(to)
    payload = check_data(data)
    consent = check_consent(consent_to_track)
    related = check_related_id(related_record_id)
    own_cm, own_sf = cm is None, sf is None
    try:
        cm = cm or _campaign_monitor()
        if sf is None:
            try:
                sf = connections.salesforce()
            except connections.NotConnected as error:
                raise SendNotAllowed(None, f"{error}: cmsf records each send as a Task there.") from error
        smart = _smart_email(smart_email_id, cm)
        sent = _send(cm, smart, recipients, payload, consent, add_recipients_to_list)
        sends = [
            Send(smart.id, smart.name, m.message_id, m.recipient, m.status, related, now, smart.client_id) for m in sent
        ]
        transactional.record_sends(sends, sf, fresh=True)
    finally:
        if own_cm and cm is not None:
            cm.transport.close()
        if own_sf and sf is not None:
            sf.session.close()
    audit(
        actor=actor,
        section=SECTION,
        action="Send smart email",
        before={},
        after={
            "smart_email_id": smart.id,
            "smart_email": smart.name,
            "client": smart.client_name,
            "recipients": len(recipients),
            "related_record_id": related or "",
        },
    )
    log.info(
        "smart email %s (%s) of %s sent by %s to %d recipients: %s",
        smart.id, smart.name, smart.client_name, actor, len(sent), ", ".join(m.message_id for m in sent),
    )  # fmt: skip
    return sent


def _send(
    cm: CampaignMonitor,
    smart: SmartEmail,
    recipients: list[str],
    data: dict[str, Any],
    consent: Consent,
    add_recipients_to_list: bool,
) -> list[SentMessage]:
    try:
        return cm.send_smart_email(
            smart.id,
            to=recipients,
            consent_to_track=consent,
            data=data,
            add_recipients_to_list=add_recipients_to_list,
        )
    except TransactionalNotEnabled as error:
        raise _not_enabled(error) from error
    except FatalError as error:
        if error.code == SMART_EMAIL_NOT_FOUND:
            raise SmartEmailNotFound(error.code, error.message) from error
        raise SendRefused(error.code, f"Campaign Monitor refused the send: {error.message}") from error
    except CampaignMonitorError as error:
        raise SendUnconfirmed(
            error.code,
            f"Campaign Monitor did not confirm the send ({error}). It may have gone out: look at the smart email's "
            "recent sends in Campaign Monitor before sending again.",
        ) from error


# ------------------------------------------------------------------------------------------------ update job


def refresh_recent(now: datetime) -> RefreshOutcome | None:
    """One run of the update job (see the module's notes); None when there was nothing to read, or when a service is
    not connected (a maintenance message then)."""
    clients = {client.cm_client_id: client for client in clients_to_sync()}
    if not transactional.has_work(now, clients):
        return None
    started = timezone.now()
    try:
        cm = connections.campaign_monitor()
        sf = connections.salesforce()
    except connections.NotConnected as error:
        record_message(
            support_code=transactional.STATUS_CODE,
            job=transactional.STATUS_JOB,
            message="The smart email update job could not read the recent messages.",
            details=str(error),
            guidance="Connect Campaign Monitor and Salesforce under Sync Settings; the next run reads them again.",
        )
        observe.run_ended(kind="smart_emails", outcome=observe.FAILED, started=started,
                          support_code=transactional.STATUS_CODE, message=str(error))  # fmt: skip
        return None
    zones = {client_id: client.time_zone or UTC_ZONE for client_id, client in clients.items()}
    try:
        outcome = transactional.refresh_statuses(
            lambda message_id, zone: cm.message_details(message_id, zone=zone), sf, now=now, zones=zones
        )
        api = observe.ApiUse.of(cm, sf)
    finally:
        cm.transport.close()
        sf.session.close()
    resolve_cleared(jobs=[transactional.STATUS_JOB, transactional.JOB], since=started)
    observe.run_ended(
        kind="smart_emails",
        outcome="problems" if outcome.failed else "succeeded",
        started=started,
        read={"smart email messages": outcome.checked},
        written={"Task": outcome.tasks_updated + outcome.tasks_written},
        failed={"smart email messages": outcome.failed},
        api=api,
    )
    return outcome
