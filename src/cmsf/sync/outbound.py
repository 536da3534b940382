"""Every change cmsf makes in Campaign Monitor on Salesforce's behalf goes through `Outbound`: unsubscribes,
deletes, email changes and resubscribes (every later add path, such as the import wizard, too). Here, and only here:

- **Disable triggers** stops them all (`TriggersDisabled`); the sync from Campaign Monitor goes on.
- An add or a resubscribe obeys the opt-out and suppression rules: a contact or lead with Email Opt Out checked is
  not added when "prevent adding" is on, and an address in the client's suppression list is never added. Either
  is a `Refused` with its reason, for the caller to report with the record's key.
- Journeys start or not as "Trigger journeys" says, for whoever cmsf adds or resubscribes.
- Each change is written to the audit log, as cmsf's own ("what cmsf changed"), with the rule that made it.

The calls are idempotent where Campaign Monitor allows it: an unsubscribe or delete of an address no longer in
the list, or an email change already made, is taken as done, so a rerun after a crash doubles nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from cmsf.campaign_monitor.api import NOT_IN_LIST, CampaignMonitor
from cmsf.campaign_monitor.errors import FatalError
from cmsf.campaign_monitor.records import ImportResult, SubscriberInput
from cmsf.maintenance.models import CMSF_ACTOR
from cmsf.maintenance.services import audit
from cmsf.options.models import GeneralOptions
from cmsf.options.services import GENERAL_SECTION
from cmsf.sync.matching import SALESFORCE_ID_FIELD

ALREADY_SUBSCRIBED = 201
IN_SUPPRESSION_LIST = 204
ANY_ZONE = "(GMT) Coordinated Universal Time"  # for a lookup whose dates are not read


@dataclass(frozen=True)
class Moved:
    """What an email change did: the subscriber resubscribed, or why it was not (the add rules)."""

    resubscribed: bool = False
    not_resubscribed: str = ""


class TriggersDisabled(Exception):
    """Disable triggers is on: nothing is sent to Campaign Monitor."""


class Refused(Exception):
    """An add or resubscribe the rules do not allow; the reason is for people to read."""


@dataclass
class Outbound:
    """The pushes of one job (a watcher run, a webhook batch, an import): the options as they were when it started,
    and what it did, by kind."""

    cm: CampaignMonitor
    options: GeneralOptions = field(default_factory=GeneralOptions.load)
    done: dict[str, int] = field(default_factory=dict)
    heartbeat: Callable[[], None] | None = None  # called before every call: a job keeps its lease (or stops)

    def _guard(self) -> None:
        """Read again before every call: Disable triggers turned on in the middle of a job stops it there."""
        if self.heartbeat is not None:
            self.heartbeat()
        now_disabled = GeneralOptions.objects.filter(pk=self.options.pk).values_list("disable_triggers", flat=True)
        if self.options.disable_triggers or any(now_disabled):
            raise TriggersDisabled("Disable triggers is on: cmsf sends nothing to Campaign Monitor")

    def _did(self, kind: str, action: str, details: dict[str, str]) -> None:
        self.done[kind] = self.done.get(kind, 0) + 1
        audit(actor=CMSF_ACTOR, section=GENERAL_SECTION, action=action, before={}, after=details)

    def may_add(self, *, opted_out: bool, suppressed: bool) -> None:
        """Raise `Refused` when the rules do not let cmsf add (or resubscribe) this person."""
        if suppressed:
            raise Refused("the address is in the Campaign Monitor suppression list")
        if opted_out and self.options.prevent_adding_opted_out:
            raise Refused("Email Opt Out is checked and cmsf does not add opted-out records (General Options)")

    def unsubscribe(self, list_id: str, email: str, *, because: str) -> None:
        self._guard()
        _unless_gone(self.cm.unsubscribe, list_id, email)
        self._did(
            "unsubscribed", "Unsubscribe in Campaign Monitor", {"list": list_id, "email": email, "because": because}
        )

    def delete(self, list_id: str, email: str, *, because: str) -> None:
        self._guard()
        _unless_gone(self.cm.delete_subscriber, list_id, email)
        self._did("deleted", "Delete in Campaign Monitor", {"list": list_id, "email": email, "because": because})

    def change_email(
        self,
        list_id: str,
        old_email: str,
        new_email: str,
        *,
        name: str,
        reactivate: bool,
        opted_out: bool,
        because: str,
    ) -> Moved:
        """Move a subscriber to a new address. With `reactivate` (a bounced address fixed in Salesforce) the new
        address is then resubscribed, when the add rules allow: a resubscribe is an add. Raises `Refused` when the
        new address is already in the list (two subscribers cannot share it)."""
        self._guard()
        subscriber = SubscriberInput(email=new_email, name=name)
        try:
            self.cm.update_subscriber(list_id, old_email, subscriber)
        except FatalError as error:
            if error.code == ALREADY_SUBSCRIBED:
                raise Refused(f"{new_email} is already a subscriber of the list") from None
            if error.code != NOT_IN_LIST or self.cm.subscriber(list_id, new_email, zone=ANY_ZONE) is None:
                raise
            # a rerun: the address was moved already
        details = {"list": list_id, "from": old_email, "to": new_email, "because": because}
        self._did("email_changed", "Change an email in Campaign Monitor", details)
        if not reactivate:
            return Moved()
        try:
            self.may_add(opted_out=opted_out, suppressed=False)
            self.cm.add_subscriber(list_id, subscriber, resubscribe=True, restart_journeys=self._journeys(True))
        except Refused as refused:
            return Moved(not_resubscribed=str(refused))
        except FatalError as error:
            if error.code != IN_SUPPRESSION_LIST:
                raise
            return Moved(not_resubscribed="the new address is in the Campaign Monitor suppression list")
        self._did("resubscribed", "Resubscribe in Campaign Monitor", {"list": list_id, "email": new_email,
                                                                      "because": "its bounced email was fixed"})  # fmt: skip
        return Moved(resubscribed=True)

    def add(self, list_id: str, subscriber: SubscriberInput, *, opted_out: bool, because: str) -> None:
        """Add a subscriber (never resubscribing one who left: Campaign Monitor keeps an unsubscribed, bounced or
        deleted address as it is); raises `Refused` when the add rules or the suppression list say no."""
        self._guard()
        self.may_add(opted_out=opted_out, suppressed=False)
        try:
            self.cm.add_subscriber(list_id, subscriber, resubscribe=False, restart_journeys=self._journeys(True))
        except FatalError as error:
            if error.code == IN_SUPPRESSION_LIST:
                raise Refused("the address is in the Campaign Monitor suppression list") from None
            raise
        self._did("added", "Add to Campaign Monitor", {"list": list_id, "email": subscriber.email, "because": because})

    def subscribe(
        self,
        list_id: str,
        subscriber: SubscriberInput,
        *,
        opted_out: Callable[[], bool],
        suppressed: Callable[[], bool],
        resubscribe: bool,
        because: str,
    ) -> str:
        """Add or update one subscriber, as asked from outside (the HTTP API): "added", "updated" or "resubscribed".
        One read first: a new address, and one brought back with `resubscribe` (Unsubscribed or Deleted), obey the
        add rules; an active one has its details updated; one that left is refused unless `resubscribe`, and a
        bounced one is always refused (Campaign Monitor keeps it out until the address is fixed). `opted_out` and
        `suppressed` are asked only when the add rules apply (each may cost a call)."""
        self._guard()
        current = self.cm.subscriber(list_id, subscriber.email, zone=ANY_ZONE)
        state = current.state if current is not None else ""
        if state in ("Active", "Unconfirmed"):
            outcome = "updated"
        elif state == "Bounced":
            raise Refused("the address bounced: Campaign Monitor keeps it out of the list until the address is fixed")
        elif state and not resubscribe:
            raise Refused(f"the subscriber is {state} in the list: ask to resubscribe to bring it back")
        else:
            self.may_add(opted_out=self.options.prevent_adding_opted_out and opted_out(), suppressed=suppressed())
            outcome = "resubscribed" if state else "added"
        bring_back = outcome == "resubscribed"
        try:
            self.cm.add_subscriber(
                list_id, subscriber, resubscribe=bring_back, restart_journeys=self._journeys(outcome != "updated")
            )
        except FatalError as error:
            if error.code == IN_SUPPRESSION_LIST:
                raise Refused("the address is in the Campaign Monitor suppression list") from None
            raise
        action = {"added": "Add to Campaign Monitor", "updated": "Update in Campaign Monitor",
                  "resubscribed": "Resubscribe in Campaign Monitor"}[outcome]  # fmt: skip
        self._did(outcome, action, {"list": list_id, "email": subscriber.email, "because": because})
        return outcome

    def update_fields(
        self,
        list_id: str,
        email: str,
        *,
        name: str,
        custom_fields: tuple[tuple[str, str], ...],
        clear_fields: tuple[str, ...],
        consent_to_track: str,
        because: str,
        mobile_number: str | None = None,
        consent_to_send_sms: str = "Unchanged",
    ) -> bool:
        """Send a subscriber's mapped fields (its state is left as it is; a mobile number None leaves Campaign
        Monitor's as it is); False when the address is no longer in the list."""
        self._guard()
        subscriber = SubscriberInput(email=email, name=name, custom_fields=custom_fields, clear_fields=clear_fields,
                                     consent_to_track=consent_to_track, mobile_number=mobile_number,
                                     consent_to_send_sms=consent_to_send_sms)  # fmt: skip
        try:
            self.cm.update_subscriber(list_id, email, subscriber)
        except FatalError as error:
            if error.code == NOT_IN_LIST:
                return False
            raise
        self._did("fields_sent", "Send mapped fields to Campaign Monitor",
                  {"list": list_id, "email": email, "because": because})  # fmt: skip
        return True

    def replace_salesforce_id(
        self, list_id: str, email: str, *, old_ids: set[str], new_id: str, zone: str, because: str
    ) -> bool:
        """A merge: the subscriber's "Salesforce ID" custom field takes the master's Id when it holds one of the
        merged records' Ids (15 or 18 characters, in any case of the last three), and is left alone otherwise (one
        read; an update only when it held a loser's). True when it was changed."""
        subscriber = self.cm.subscriber(list_id, email, zone=zone or ANY_ZONE)
        if subscriber is None:
            return False
        losers = {i[:15] for i in old_ids}
        key = next((k for k, v in subscriber.custom_fields if _is_id_field(k) and v.strip()[:15] in losers), "")
        if not key:
            return False
        self._guard()
        updated = SubscriberInput(email=subscriber.email, name=subscriber.name, custom_fields=((key, new_id),),
                                  consent_to_track="Unchanged")  # fmt: skip
        try:
            self.cm.update_subscriber(list_id, subscriber.email, updated)
        except FatalError as error:
            if error.code == NOT_IN_LIST:
                return False
            raise
        self._did("salesforce_id_replaced", "Replace the Salesforce ID in Campaign Monitor",
                  {"list": list_id, "email": subscriber.email, "to": new_id, "because": because})  # fmt: skip
        return True

    def import_subscribers(
        self, list_id: str, subscribers: list[SubscriberInput], *, resubscribe: bool, because: str
    ) -> ImportResult:
        """Add or update subscribers, 1,000 a call; with `resubscribe`, deleted, unsubscribed and bounced ones come
        back too, so the caller passes only those the rules let it bring back. The caller has checked each
        with `may_add`. New subscribers start journeys as "Trigger journeys" says."""
        self._guard()
        journeys = self._journeys(True)
        result = self.cm.import_subscribers(
            list_id, subscribers, resubscribe=resubscribe, queue_journeys=journeys, restart_journeys=journeys
        )
        accepted = result.new_subscribers + result.existing_subscribers
        self.done["imported"] = self.done.get("imported", 0) + accepted
        details = {"list": list_id, "new": str(result.new_subscribers), "updated": str(result.existing_subscribers),
                   "failed": str(len(result.failures)), "because": because}  # fmt: skip
        action = "Import to Campaign Monitor, resubscribing" if resubscribe else "Import to Campaign Monitor"
        audit(actor=CMSF_ACTOR, section=GENERAL_SECTION, action=action, before={}, after=details)
        return result

    def _journeys(self, adding: bool) -> bool:
        return adding and self.options.trigger_journeys


def _is_id_field(name: str) -> bool:
    """The "Salesforce ID" custom field, by its name or its key ("[SalesforceID]")."""
    return name.strip("[] ").replace(" ", "").lower() == SALESFORCE_ID_FIELD.replace(" ", "").lower()


def _unless_gone(call: Callable[[str, str], None], list_id: str, email: str) -> None:
    """Unsubscribe or delete: an address no longer in the list is what was wanted (a rerun)."""
    try:
        call(list_id, email)
    except FatalError as error:
        if error.code != NOT_IN_LIST:
            raise
