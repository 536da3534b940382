"""The watcher's evaluation of subscriber rules, with their match bookkeeping.

Per list, at most four rules: a record that meets an add rule's criteria (`sync.rule_logic`) is added to the list,
one that meets a remove rule's has its active subscribers of the list deleted (on every edit, on creation only, or
when an edit makes it meet the criteria it did not meet before); with the account trigger (General Options), the
contacts of a changed account are evaluated again by the contact rules that read an account field.

A rule evaluated "when edited to subsequently meet the criteria" needs the records that met them when last seen:
`Matches` reads them (`RuleMatch`, kept first by the rule's retrospective read in `sync.subscriber_rules`) and
keeps what changed once the run's changes are made. The rows of the subscribers a rule added go to the run's
`Pending`, written with the run's writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db import transaction

from cmsf.campaign_monitor.records import SubscriberInput
from cmsf.options.models import FieldMapping, SubscriberRule
from cmsf.salesforce import soql
from cmsf.salesforce.adapter import parse_datetime
from cmsf.sync import rule_logic
from cmsf.sync.models import RuleMatch, WatchCursor
from cmsf.sync.outbound import Outbound, Refused
from cmsf.sync.transforms import Link, sf_datetime, subscriber_row
from cmsf.sync.watched import ACTIVE_STATES, CHUNK, LAG, OBJECTS, Membership, Pending, Person, Reader, mapped

MATCH_BATCH = 500  # record Ids in one RuleMatch query


def active_rules() -> dict[str, list[SubscriberRule]]:
    """Object -> its active rules (one evaluated "when edited to subsequently meet the criteria" once the records
    that met them as it started are known)."""
    rules: dict[str, list[SubscriberRule]] = {sobject: [] for sobject in OBJECTS}
    for rule in SubscriberRule.objects.filter(active=True).order_by("list_id", "kind"):
        if rule.evaluate != SubscriberRule.When.MET or rule.matches_from is not None:
            rules[rule.sobject].append(rule)
    return rules


def fields_read(rules: Sequence[SubscriberRule]) -> list[str]:
    """The fields of an object the rules need read (besides the watcher's own)."""
    wanted: list[str] = []
    for rule in rules:
        wanted += ["Name", "CreatedDate", *rule_logic.fields_of(rule.criteria)]
    return wanted


def read_account(rule: SubscriberRule) -> bool:
    return any(f.startswith("Account.") for f in rule_logic.fields_of(rule.criteria))


def is_creation(person: Person, *, via_account: bool) -> bool:
    """A version that is the record's creation: never edited since (LastModifiedDate is its CreatedDate); an
    account's change does not count."""
    return not via_account and person.created is not None and person.modified <= person.created


class Matches:
    """The records that met the criteria of the rules evaluated "when edited to subsequently meet the criteria"
    when last seen, as (rule, record), read for the people of a run, and what changed during it. `tokens`: each
    such rule's `matches_token` as the run started."""

    def __init__(self, tokens: dict[int, str]) -> None:
        self.tokens = tokens
        self.known: set[tuple[int, str]] = set()
        self.changes: dict[tuple[int, str], bool] = {}

    @classmethod
    def of(cls, rules: dict[str, list[SubscriberRule]]) -> Matches:
        return cls({r.pk: r.matches_token for rs in rules.values() for r in rs
                    if r.evaluate == SubscriberRule.When.MET})  # fmt: skip

    def load(self, ids: list[str]) -> None:
        """What `met_before` needs of these records (a query per 500 of them, when such a rule is active)."""
        for start in range(0, len(ids) if self.tokens else 0, MATCH_BATCH):
            self.known.update(RuleMatch.objects.filter(
                rule_id__in=list(self.tokens), record_id__in=ids[start : start + MATCH_BATCH]
            ).values_list("rule_id", "record_id"))  # fmt: skip

    def met_before(self, rule_id: int, record_id: str, met: bool) -> bool:
        """Whether the record met the rule's criteria when last seen (so that meeting them now is no change); the
        answer now is kept for the next time."""
        key = (rule_id, record_id)
        before = key in self.known
        if met != before:
            self.changes[key] = met
            if met:
                self.known.add(key)
            else:
                self.known.discard(key)
        return before

    def keep(self) -> None:
        """The records that came to meet, or stopped meeting, such a rule's criteria: kept, unless the rule was
        saved again during the run (its records are then being read afresh)."""
        if not self.changes:
            return
        current = dict(SubscriberRule.objects.filter(pk__in=list(self.tokens)).values_list("pk", "matches_token"))
        kept = {key: met for key, met in self.changes.items() if current.get(key[0]) == self.tokens[key[0]]}
        gone: dict[int, list[str]] = {}
        for (rule_id, record_id), met in kept.items():
            if not met:
                gone.setdefault(rule_id, []).append(record_id)
        with transaction.atomic():
            RuleMatch.objects.bulk_create([RuleMatch(rule_id=rule_id, record_id=record_id)
                                           for (rule_id, record_id), met in kept.items() if met],
                                          ignore_conflicts=True)  # fmt: skip
            for rule_id, record_ids in gone.items():
                for start in range(0, len(record_ids), MATCH_BATCH):
                    RuleMatch.objects.filter(
                        rule_id=rule_id, record_id__in=record_ids[start : start + MATCH_BATCH]
                    ).delete()


class RuleEvaluation:
    """The subscriber rules of one run (`rules`: object -> its active rules) applied through `out`; `pushes`: list
    id -> its field mappings toward Campaign Monitor (a rule's add sends the person's mapped values)."""

    def __init__(
        self,
        rules: dict[str, list[SubscriberRule]],
        matches: Matches,
        pushes: dict[str, list[FieldMapping]],
        out: Outbound,
        pending: Pending,
        now: datetime,
        *,
        sms: str | None = None,
    ) -> None:
        self.rules, self.matches, self.pushes = rules, matches, pushes
        self.out, self.pending, self.now = out, pending, now
        self.sms = sms  # with SMS on, the default country of the mobile numbers mapped (see `watched.mapped`)

    def evaluate(self, person: Person, memberships: list[Membership], *, via_account: bool = False) -> None:
        """The subscriber rules of the person's object: met, an add rule adds the person to its list (unless a
        subscriber of the list already, in any state: an add never resubscribes), a remove rule deletes its active
        subscribers of the list. A rule evaluated on creation only applies to a record read as it was created (not
        edited since; an account's change does not count); one evaluated "when edited to subsequently meet the
        criteria" applies to a record that meets them now and did not when last seen (or when the rule started)."""
        created = is_creation(person, via_account=via_account)
        for rule in self.rules[person.sobject]:
            if rule.evaluate == SubscriberRule.When.CREATED and not created:
                continue
            met = rule_logic.met(rule.criteria, rule.logic, person.values)
            if rule.evaluate == SubscriberRule.When.MET and self.matches.met_before(rule.pk, person.id, met):
                continue
            if not met:
                continue
            on_list = [m for m in memberships if m.list_id == rule.list_id]
            because = f"the {rule.get_kind_display().lower()} rule of list {rule.list_name or rule.list_id}"
            try:
                if rule.adds and not on_list:  # a subscriber of the list in any state already: left as it is
                    self.add(rule, person, because)
                    self.added_row(rule, person)
                elif not rule.adds:
                    for membership in (m for m in on_list if m.state in ACTIVE_STATES):
                        self.out.delete(membership.list_id, membership.email, because=because)
                        membership.state = "Deleted"
                        self.pending.update(membership.id, State__c="Deleted", State_Changed__c=sf_datetime(self.now))
            except Refused as refused:
                self.pending.problem(f"{person.sobject} {person.id}", f"not added by {because}: {refused}",
                                     kept_out=True)  # fmt: skip

    def add(self, rule: SubscriberRule, person: Person, because: str) -> None:
        if not person.email:
            raise Refused("the record has no email address")
        values = mapped(person, self.pushes.get(rule.list_id, ()), clear_blank=False, sms_country=self.sms)
        subscriber = SubscriberInput(email=person.email, name=person.values.get("Name", ""),
                                     custom_fields=tuple(values.entries.values), consent_to_track=values.consent,
                                     mobile_number=values.mobile or None,
                                     consent_to_send_sms=values.sms_consent)  # fmt: skip
        self.out.add(rule.list_id, subscriber, opted_out=person.opted_out, because=because)

    def added_row(self, rule: SubscriberRule, person: Person) -> None:
        """The membership row of the subscriber a rule added, as Campaign Monitor now holds it (one read: an add
        never resubscribes, so its state may not be Active), written with the run's writes through the sync's
        ledger: Salesforce shows the membership at once, and a remove rule finds it before the next sync."""
        found = self.out.cm.subscriber(rule.list_id, person.email, zone=rule.client.time_zone)
        if found is None:
            return
        link = Link(contact_id=person.id) if person.sobject == "Contact" else Link(lead_id=person.id)
        row = subscriber_row(rule.list_id, found, link, owner_id=rule.client.security_owner_id)
        self.pending.added_rows.setdefault(rule.client_id, []).append(row)

    def account_changes(self, reader: Reader, already: set[str], *, account_trigger: bool) -> None:
        """Option (account trigger): the contacts of accounts changed since the last read are evaluated again by
        the contact rules that read an account field (one query for the accounts, one per 200 of them for their
        contacts), leaving out the people `already` evaluated. The first run starts watching accounts from then."""
        if not any(read_account(r) for r in self.rules["Contact"]) or not account_trigger:
            return
        cursor, made = WatchCursor.objects.get_or_create(sobject="Account", defaults={"position": self.now,
                                                                                        "deleted_until": self.now})  # fmt: skip
        if made:
            return
        since = cursor.position - LAG
        newest = cursor.position
        accounts: list[str] = []
        text = f"SELECT Id, SystemModstamp FROM Account WHERE SystemModstamp >= {soql.datetime_literal(since)}"
        for record in reader.sf.query(text):
            accounts.append(str(record["Id"]))
            stamp = parse_datetime(record.get("SystemModstamp"))
            newest = max(newest, stamp) if stamp else newest
        reader.read["Account"] += len(accounts)
        fields = [name for name in reader.fields("Contact") if name != "IsDeleted"]
        people: list[Person] = []
        for start in range(0, len(accounts), CHUNK):
            text = (f"SELECT {', '.join(fields)} FROM Contact "
                    f"WHERE AccountId IN ({soql.quote_list(accounts[start : start + CHUNK])})")  # fmt: skip
            people += [p for p in (reader.person("Contact", r) for r in reader.sf.query(text)) if p.id not in already]
        if people:
            self.matches.load([p.id for p in people])
            memberships: dict[str, list[Membership]] = {}
            for membership in reader.memberships("Contact__c IN ({})", [p.id for p in people]):
                memberships.setdefault(membership.contact_id, []).append(membership)
            for person in people:
                self.evaluate(person, memberships.get(person.id, []), via_account=True)
        WatchCursor.objects.filter(sobject="Account").update(position=min(newest, self.now))
