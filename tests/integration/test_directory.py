"""The mirror of contacts and leads (`sync.directory`) against the Salesforce emulator over HTTPS: a full read
first, nothing while fresh, then only what changed (created, edited, deleted, converted, duplicated), a full read
again after the rebuild interval, and nothing left of it after the org changes."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import requests
from django.db.models import F
from django.utils import timezone

from cmsf.salesforce.adapter import SalesforceAdapter
from cmsf.salesforce.auth import Credentials
from cmsf.sync import directory
from cmsf.sync.matching import CONTACT_QUERY, LEAD_QUERY, SALESFORCE_ID_FIELD, Directory
from cmsf.sync.models import DirectoryEntry, DirectoryState
from cmsf.sync.services import forget_written_records
from cmsf.sync.transforms import Link
from cmsf_sandbox.salesforce.app import create_app
from cmsf_sandbox.salesforce.data import OrgData, generate_org
from cmsf_sandbox.server import serve_in_thread
from cmsf_sandbox.tls import TlsFiles, generate_tls_files

pytestmark = pytest.mark.django_db

BULK = "bulk2 query create"
FULL_READ = Counter({BULK: 2, "bulk2 query status": 2, "bulk2 query results": 2})  # a Bulk 2.0 query per object


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return generate_tls_files(tmp_path_factory.mktemp("sf-tls"))


@pytest.fixture(scope="module")
def org() -> OrgData:
    return generate_org("tiny", 23)


class Org:
    """A running emulator of `org` (each test changes its own), cmsf's adapter to it, and its admin routes."""

    def __init__(self, base: str, tls: TlsFiles, org: OrgData) -> None:
        self.base, self.ca = base, str(tls.ca_file)
        oauth = org.oauth
        credentials = Credentials(flow="jwt_bearer", login_url=base, client_id=oauth.client_id,
                                  username=oauth.jwt_username, private_key=oauth.jwt_private_key_pem)  # fmt: skip
        self.sf = SalesforceAdapter(credentials, ca_bundle=self.ca)

    def admin(self, path: str, **body: Any) -> dict[str, Any]:
        response = requests.post(f"{self.base}/admin/{path}", json=body, verify=self.ca, timeout=30)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def create(self, sobject: str, **values: Any) -> str:
        result = self.sf.insert(sobject, [values])[0]
        assert result.success and result.id, result
        time.sleep(0.002)  # the next change gets a later LastModifiedDate (to the millisecond)
        return result.id

    def update(self, sobject: str, record_id: str, **values: Any) -> None:
        assert self.sf.update(sobject, [{"Id": record_id, **values}])[0].success
        time.sleep(0.002)

    def delete(self, sobject: str, record_id: str) -> None:
        assert self.sf.delete(sobject, [record_id])[0].success

    def calls(self, action: Callable[[], Any]) -> tuple[Any, Counter[str]]:
        """What `action` returned and the calls it made, by kind."""
        before = Counter(self.sf.meter.calls)
        result = action()
        return result, Counter(self.sf.meter.calls) - before

    def reference(self) -> Directory:
        """The directory as the sync built it before the mirror: everything read again."""
        return Directory.build(self.sf.bulk_query(CONTACT_QUERY), self.sf.bulk_query(LEAD_QUERY))


@pytest.fixture
def emulator(org: OrgData, tls: TlsFiles) -> Iterator[Org]:
    with serve_in_thread(create_app(org, "none"), tls=tls) as base:
        running = Org(base, tls, org)
        yield running
        running.sf.session.close()


def assert_same_links(got: Directory, expected: Directory) -> None:
    assert got.contacts == expected.contacts
    assert got.leads == expected.leads
    assert got.converted == expected.converted
    # The mirror also knows contacts with no email, so that a Salesforce Id held in Campaign Monitor finds them.
    assert got.known_ids >= expected.known_ids


def age(**moved: timedelta) -> None:
    """Move the mirror's times back, as if they had passed."""
    DirectoryState.objects.update(**{name: F(name) - by for name, by in moved.items()})


def unique_emails(org: OrgData, sobject: str) -> list[tuple[str, str]]:
    """(email, Id) of the live (not converted) records of `sobject` whose email no other contact or lead has."""
    people = [r for r in (*org.records["Contact"], *org.records["Lead"]) if r.get("Email")]
    counts = Counter(str(r["Email"]).lower() for r in people)
    return sorted(
        (str(r["Email"]).lower(), r["Id"])
        for r in org.records[sobject]
        if r.get("Email") and counts[str(r["Email"]).lower()] == 1 and not r.get("IsConverted")
    )


def within_the_lag(org: OrgData) -> set[str]:
    found: set[str] = set()
    for sobject in ("Contact", "Lead"):
        stamps = {r["Id"]: datetime.fromisoformat(r["SystemModstamp"]) for r in org.records[sobject]}
        since = (max(stamps.values()) - directory.LAG).replace(microsecond=0)
        found |= {rid for rid, stamp in stamps.items() if stamp >= since}
    return found


# ------------------------------------------------------------------------------------------------ loads


def test_the_first_load_reads_everything_then_a_fresh_mirror_makes_no_call(emulator: Org, org: OrgData) -> None:
    first, calls = emulator.calls(lambda: directory.load(emulator.sf))
    assert calls == FULL_READ
    assert_same_links(first, emulator.reference())
    records = org.records
    no_email = [c["Id"] for c in records["Contact"] if not c.get("Email")]
    assert no_email and all(rid in first.known_ids for rid in no_email)
    assert first.link("", [(SALESFORCE_ID_FIELD, no_email[0])]) == Link(contact_id=no_email[0])
    assert DirectoryEntry.objects.count() == len(records["Contact"]) + len(records["Lead"])
    states = {s.sobject: s for s in DirectoryState.objects.all()}
    assert set(states) == {"Contact", "Lead"} and all(
        s.full_at and s.position and s.refreshed_at for s in states.values()
    )
    newest = max(c["SystemModstamp"] for c in records["Contact"])
    assert directory._soql_datetime(states["Contact"].position) == newest[:19] + "Z"

    second, calls = emulator.calls(lambda: directory.load(emulator.sf))
    assert sum(calls.values()) == 0
    assert second == first


def test_a_later_load_reads_only_what_changed(emulator: Org, org: OrgData, monkeypatch: pytest.MonkeyPatch) -> None:
    before = directory.load(emulator.sf)
    (renamed_email, renamed), (deleted_email, deleted) = unique_emails(org, "Contact")[:2]
    converted_email, lead = unique_emails(org, "Lead")[0]

    new_contact = emulator.create("Contact", LastName="New", Email="New.Person@Example.org")
    emulator.update("Contact", renamed, Email="Renamed@Example.org")
    emulator.delete("Contact", deleted)
    converted = emulator.admin("leads/convert", lead_id=lead)
    older = emulator.create("Contact", LastName="Twin", Email="twin@example.org")
    newer = emulator.create("Contact", LastName="Twin", Email="TWIN@example.org")
    assert directory.load(emulator.sf) == before  # refreshed within the minute: the changes are not read yet
    emulator.update("Contact", older, Title="Edited last")  # now the most recently modified of the two

    read: list[str] = []
    query = emulator.sf.query

    def spy(soql: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        for record in query(soql, **kwargs):
            read.append(record["Id"])
            yield record

    monkeypatch.setattr(emulator.sf, "query", spy)
    age(refreshed_at=timedelta(minutes=2))
    after, calls = emulator.calls(lambda: directory.load(emulator.sf))
    assert calls == Counter({"queryAll": 2})
    # what changed, and the org's records saved within the lag before the newest that the full read saw
    changed = {new_contact, renamed, deleted, converted["contact_id"], older, newer, lead}
    assert sorted(read) == sorted(changed | within_the_lag(org))

    assert after.link("new.person@example.org") == Link(contact_id=new_contact)
    assert after.link("renamed@example.org") == Link(contact_id=renamed)
    assert after.link(renamed_email) == Link()
    assert after.link(deleted_email) == Link()
    assert deleted not in after.known_ids and after._by_id(deleted[:15]) is None
    assert after.link("", [(SALESFORCE_ID_FIELD, deleted)]) == Link()
    assert after.link(converted_email) == Link(contact_id=converted["contact_id"])
    assert after.link("x@example.org", [(SALESFORCE_ID_FIELD, lead)]) == Link(contact_id=converted["contact_id"])
    assert after.link("twin@example.org") == Link(contact_id=older) and newer != older
    assert_same_links(after, emulator.reference())
    assert not DirectoryEntry.objects.filter(record_id=deleted).exists()
    assert DirectoryEntry.objects.get(record_id=lead).is_converted


def test_the_built_directory_is_kept_while_the_mirror_does_not_change(emulator: Org) -> None:
    first = directory.load(emulator.sf)
    versions = dict(DirectoryState.objects.values_list("sobject", "version"))
    age(refreshed_at=timedelta(minutes=2))
    again, calls = emulator.calls(lambda: directory.load(emulator.sf))
    assert calls == Counter({"queryAll": 2})  # the changes within the lag are read again, and are all known
    assert again is first and dict(DirectoryState.objects.values_list("sobject", "version")) == versions

    added = emulator.create("Contact", LastName="Added", Email="added@example.org")
    age(refreshed_at=timedelta(minutes=2))
    after = directory.load(emulator.sf)
    assert after is not first and after.link("added@example.org") == Link(contact_id=added)
    assert first.link("added@example.org") == Link()  # what was handed out before is not changed under its holder
    moved = dict(DirectoryState.objects.values_list("sobject", "version"))
    assert moved["Contact"] != versions["Contact"] and moved["Lead"] == versions["Lead"]

    forget_written_records()  # another org: the mirror is read again, with new versions
    assert directory.load(emulator.sf) is not after


def test_after_the_rebuild_interval_everything_is_read_again(emulator: Org) -> None:
    directory.load(emulator.sf)
    gone = emulator.create("Contact", LastName="Purged", Email="purged@example.org")
    age(refreshed_at=timedelta(minutes=2))
    directory.load(emulator.sf)
    DirectoryEntry.objects.filter(record_id=gone).update(email_lower="stale@example.org")  # a change never seen
    age(refreshed_at=timedelta(minutes=2), full_at=directory.REBUILD_INTERVAL)
    rebuilt, calls = emulator.calls(lambda: directory.load(emulator.sf))
    assert calls == FULL_READ
    assert rebuilt.link("purged@example.org") == Link(contact_id=gone) and rebuilt.link("stale@example.org") == Link()
    assert all(timezone.now() - s.full_at < timedelta(minutes=1) for s in DirectoryState.objects.all())


def test_a_new_org_empties_the_mirror(emulator: Org) -> None:
    directory.load(emulator.sf)
    assert DirectoryEntry.objects.exists()
    forget_written_records()
    assert not DirectoryEntry.objects.exists() and not DirectoryState.objects.exists()
    _, calls = emulator.calls(lambda: directory.load(emulator.sf))
    assert calls == FULL_READ


def test_a_refresh_older_than_the_one_written_is_dropped(emulator: Org) -> None:
    """Two workers refreshing at once: the one that started later wins, whichever commits first."""
    now = timezone.now()
    assert directory.refresh(emulator.sf, now=now) == {"Contact": "full", "Lead": "full"}
    count = DirectoryEntry.objects.count()
    stale = directory._Changes(rows=[("003000000000001AAA", "Contact", "late@example.org", "", False, "")])
    directory._apply("Contact", now - timedelta(seconds=1), stale, full=True)
    assert DirectoryEntry.objects.count() == count and DirectoryState.objects.get(sobject="Contact").refreshed_at == now
    assert directory.refresh(emulator.sf, now=now + timedelta(seconds=30)) == {"Contact": "fresh", "Lead": "fresh"}
    assert directory.refresh(emulator.sf, now=now + timedelta(seconds=61)) == {"Contact": "changes", "Lead": "changes"}


def test_writes_go_in_batches_and_a_record_read_twice_is_written_once() -> None:
    DirectoryState.objects.create(sobject="Contact")
    stamp = "2026-11-27T10:00:00.000Z"
    records = [{"Id": f"003RM{n:010d}AAA", "Email": f"P{n}@Example.org", "SystemModstamp": stamp} for n in range(2500)]
    records.append({"Id": records[0]["Id"], "Email": "again@example.org", "SystemModstamp": stamp})
    directory._apply("Contact", timezone.now(), directory._Changes.of("Contact", records), full=True)
    assert DirectoryEntry.objects.count() == 2500
    assert DirectoryEntry.objects.get(record_id=records[0]["Id"]).email_lower == "again@example.org"
    assert DirectoryEntry.objects.get(record_id=records[7]["Id"]).email_lower == "p7@example.org"
    assert directory._soql_datetime(DirectoryState.objects.get(sobject="Contact").position) == "2026-11-27T10:00:00Z"
    assert len(directory.read().contacts) == 2500
    assert directory._upsert([directory._columns("Contact", r) for r in records[1:]]) == 0  # as known: nothing written
    assert directory._upsert([directory._columns("Contact", {**records[1], "Email": "moved@example.org"})]) == 1


def test_a_mass_update_is_read_in_full_rather_than_page_by_page(emulator: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    directory.load(emulator.sf)
    monkeypatch.setattr(directory, "MOST_CHANGES", 3)
    made = [emulator.create("Contact", LastName=f"Mass {n}", Email=f"mass{n}@example.org") for n in range(4)]
    age(refreshed_at=timedelta(minutes=2))
    (done, calls) = emulator.calls(lambda: directory.refresh(emulator.sf))
    assert done == {"Contact": "full", "Lead": "changes"}
    assert calls["queryAll"] == 2 and calls[BULK] == 1
    assert all(directory.read().link(f"mass{n}@example.org") == Link(contact_id=made[n]) for n in range(4))
