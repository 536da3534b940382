"""The directory's rules, from plain tuples (as the mirror holds them) and from query rows (as Salesforce gives them):
the most recently modified wins an email, ties by Id; converted leads give their contact; Ids link first."""

from __future__ import annotations

from cmsf.sync.matching import SALESFORCE_ID_FIELD, Directory
from cmsf.sync.transforms import Link

C1, C2, C3, C4 = "003000000000001AAA", "003000000000002AAA", "003000000000003AAA", "003000000000004AAA"
L1, L2, L3 = "00Q000000000001AAA", "00Q000000000002AAA", "00Q000000000003AAA"
EARLY, LATE = "2026-01-01T00:00:00.000000+00:00", "2026-06-01T00:00:00.000000+00:00"

CONTACTS = [
    (C1, "dup@example.org", LATE),
    (C2, "Dup@Example.org ", EARLY),  # the same email, less recently modified
    (C3, "", EARLY),  # no email: found by its Id only
    (C4, "tie@example.org", EARLY),
]
LEADS = [
    (L1, "tie@example.org", EARLY, False, ""),  # a person with a contact and a lead links to both
    (L2, "converted@example.org", LATE, True, C4),
    (L3, "lead@example.org", EARLY, False, ""),
]


def test_the_most_recently_modified_wins_and_ties_go_to_the_greater_id() -> None:
    directory = Directory.from_rows(CONTACTS, LEADS)
    assert directory.link("DUP@example.org") == Link(contact_id=C1)
    tied = Directory.from_rows([(C1, "same@example.org", EARLY), (C2, "same@example.org", EARLY)], [])
    assert tied.link("same@example.org") == Link(contact_id=C2)
    assert Directory.from_rows(reversed(CONTACTS), LEADS).contacts == directory.contacts  # order does not matter


def test_contacts_and_leads_by_email_and_by_id() -> None:
    directory = Directory.from_rows(CONTACTS, LEADS)
    assert directory.link("tie@example.org") == Link(contact_id=C4, lead_id=L1)
    assert directory.link("lead@example.org") == Link(lead_id=L3)
    assert directory.link("nobody@example.org") == Link()
    assert "" not in directory.contacts
    assert directory.link("x@example.org", [(SALESFORCE_ID_FIELD, C3[:15])]) == Link(contact_id=C3)
    assert directory.link("x@example.org", [(SALESFORCE_ID_FIELD, L3)]) == Link(lead_id=L3)
    assert directory.known_ids == {C1, C2, C3, C4, L1, L3}


def test_a_converted_lead_gives_its_contact() -> None:
    directory = Directory.from_rows(CONTACTS, LEADS)
    assert "converted@example.org" not in directory.leads
    assert directory.link("converted@example.org") == Link()  # no contact has the address
    assert directory.link("x@example.org", [(SALESFORCE_ID_FIELD, L2)]) == Link(contact_id=C4)
    assert directory.converted == {L2[:15]: C4}


def test_query_rows_follow_the_same_rules() -> None:
    """Bulk 2.0 CSV rows ("" for null, "true"/"false") built with `build` give what the tuples give."""
    contacts = [{"Id": i, "Email": e, "LastModifiedDate": m} for i, e, m in CONTACTS]
    leads = [
        {"Id": i, "Email": e, "LastModifiedDate": m, "IsConverted": "true" if c else "false", "ConvertedContactId": to}
        for i, e, m, c, to in LEADS
    ]
    assert Directory.build(contacts, leads) == Directory.from_rows(CONTACTS, LEADS)
