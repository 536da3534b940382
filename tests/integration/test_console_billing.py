"""Billing: the plan and what it unlocks, the trial, the usage count (against the Salesforce emulator over TLS),
billing details, monthly invoices (idempotent, printable, resent by email)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from django.urls import reverse
from django.utils import timezone

import cmsf.console
from cmsf.billing import services as billing
from cmsf.billing.models import BillingAccount, Invoice, Plan, UsageSnapshot
from cmsf.billing.plans import TIERS, band_for
from cmsf.billing.usage import count_active_subscribers
from cmsf.connections import services as connections
from cmsf.maintenance.models import AuditEntry, MaintenanceMessage

pytestmark = pytest.mark.django_db

DETAILS = {
    "billing_name": "Harbour Lights Ltd",
    "address_line1": "12 Wharf Street",
    "address_line2": "",
    "city": "Bristol",
    "postcode": "BS1 4RN",
    "country": "United Kingdom",
    "invoice_email": "accounts@harbour.example",
}


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def _start_trial(at: datetime) -> BillingAccount:
    account = BillingAccount.load()
    account.trial_started_at = at
    account.save()
    return account


# -- plan, features, trial -------------------------------------------------------------------------------------


def test_choosing_a_plan_is_audited_and_features_follow_it(client, alice):
    now = timezone.now()
    _start_trial(now - timedelta(days=1))
    trial = billing.features(now)
    assert trial.plan == Plan.ENTERPRISE and trial.tracking_history and trial.agency_clients and trial.sms
    client.force_login(alice)
    assert client.post(reverse("console:billing_plan"), {"plan": "free"}).status_code == 302
    free = billing.features(timezone.now())
    assert free.plan == Plan.FREE and not (free.tracking_history or free.agency_clients or free.sms)
    entry = AuditEntry.objects.get(section="billing")
    assert entry.actor == "alice@example.com" and entry.after == {"plan": "free"}
    client.post(reverse("console:billing_plan"), {"plan": "standard"})
    standard = billing.features(timezone.now())
    assert standard.tracking_history and not standard.agency_clients and not standard.sms
    response = client.post(reverse("console:billing_plan"), {"plan": "platinum"}, follow=True)
    assert any("not a plan" in m for m in _messages(response))
    assert BillingAccount.load().plan == "standard"


def test_choosing_a_plan_asks_first_and_says_it_ends_the_trial(client, alice, bob):
    now = timezone.now()
    _start_trial(now - timedelta(days=4))
    client.force_login(alice)
    page = client.get(reverse("console:billing")).content.decode()
    assert f'<form method="get" action="{reverse("console:billing_plan")}"' in page  # the choice asks first
    asked = client.get(reverse("console:billing_plan"), {"plan": "standard"})
    html = asked.content.decode()
    assert asked.status_code == 200 and "Choose the Standard plan?" in html
    assert "Choosing Standard ends the Enterprise trial now (10 days left" in html
    assert "No longer included: Agency sub-accounts" in html and "No longer included: SMS" in html
    assert 'name="plan" value="standard"' in html and 'action="/billing/plan"' in html.replace(
        reverse("console:billing_plan"), "/billing/plan"
    )
    assert BillingAccount.load().plan == "" and not AuditEntry.objects.exists()  # asking changed nothing
    free = client.get(reverse("console:billing_plan"), {"plan": "free"}).content.decode()
    assert "already stored in Salesforce is removed by the next syncs" in free
    assert client.post(reverse("console:billing_plan"), {"plan": "standard"}).status_code == 302
    assert BillingAccount.load().plan == "standard"
    # once a plan is chosen, there is no trial left to end: the change is said as one
    later = client.get(reverse("console:billing_plan"), {"plan": "enterprise"}).content.decode()
    assert "The plan changes from Standard to Enterprise now." in later and "trial" not in later.split("<main")[-1]
    assert "Added: Agency sub-accounts" in later
    same = client.get(reverse("console:billing_plan"), {"plan": "standard"}).content.decode()
    assert "Standard is the plan already: choosing it again changes nothing." in same
    unknown = client.get(reverse("console:billing_plan"), {"plan": "platinum"}, follow=True)
    assert any("Choose Free, Standard or Enterprise" in m for m in _messages(unknown))
    client.force_login(bob)
    seen = client.get(reverse("console:billing_plan"), {"plan": "free"}).content.decode()
    assert 'data-testid="view-only"' in seen and 'data-testid="confirm-button"' not in seen  # a viewer only sees
    assert client.post(reverse("console:billing_plan"), {"plan": "free"}).status_code == 403


def test_the_trial_shows_its_end_date_and_days_left_and_then_free(client, bob):
    started = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    account = _start_trial(started)
    assert account.trial_ends_at == datetime(2026, 12, 4, 9, 30, tzinfo=UTC)
    assert account.trial_days_left(datetime(2026, 11, 27, 9, 30, tzinfo=UTC)) == 7
    assert account.trial_days_left(datetime(2026, 11, 27, 10, 0, tzinfo=UTC)) == 7  # a part of a day counts
    assert account.effective_plan(datetime(2026, 12, 4, 9, 29, tzinfo=UTC)) == Plan.ENTERPRISE
    assert account.effective_plan(datetime(2026, 12, 4, 9, 30, tzinfo=UTC)) == Plan.FREE
    assert account.trial_days_left(datetime(2026, 12, 5, tzinfo=UTC)) == 0

    _start_trial(timezone.now() - timedelta(days=4, hours=1))
    client.force_login(bob)
    html = client.get(reverse("console:billing")).content.decode()
    ends = (BillingAccount.load().trial_ends_at).strftime("%-d %b %Y, %H:%M UTC")  # no org: UTC
    trial_end = html.split('data-testid="trial-end">', 1)[1].split("</dd>", 1)[0]
    assert ends in trial_end and "10 days left" in trial_end
    assert "continues on Free" in html and "Enterprise (trial)" in html
    assert 'data-testid="tiers"' in html and "49.00" in html and "2,501 to 10,000" in html
    assert "cmsf stores no card data" in html


# -- usage -------------------------------------------------------------------------------------------------------


@pytest.fixture
def org(start_emulators):
    """The Salesforce emulator over TLS, connected as an admin would."""
    running = start_emulators(33, world=False)
    return {"org": running.org, "base": running.sf_base, "ca": running.ca}


def _write_subscribers(rows: list[tuple[str, str, str]]) -> None:
    """(list id, email, state) rows, as the sync writes them."""
    adapter = connections.salesforce()
    try:
        lists = sorted({list_id for list_id, _, _ in rows})
        results = adapter.upsert("CMSF_List__c", "List_Id__c", [{"List_Id__c": i, "Name": i} for i in lists])
        assert all(r.success for r in results), results
        subscribers = [
            {"Member_Key__c": f"{list_id}:{email.lower()}", "Email__c": email, "State__c": state,
             "List__r": {"List_Id__c": list_id}}
            for list_id, email, state in rows
        ]  # fmt: skip
        results = adapter.upsert("CMSF_Subscriber__c", "Member_Key__c", subscribers)
        assert all(r.success for r in results), results
    finally:
        adapter.session.close()


ROWS = [
    ("list-a", "Ann@Example.com", "Active"),
    ("list-b", "ann@example.com", "Active"),  # the same person on a second list (another client's, say)
    ("list-a", "ben@example.com", "Active"),
    ("list-b", "cat@example.com", "Unsubscribed"),
    ("list-a", "dan@example.com", "Bounced"),
    ("list-b", "eve@example.com", "Active"),
]


def test_usage_counts_an_email_on_two_lists_once_and_only_active_subscribers(org):
    _write_subscribers(ROWS)
    adapter = connections.salesforce()
    try:
        rest = count_active_subscribers(adapter)
        bulk = count_active_subscribers(adapter, bulk_above=0)  # the Bulk 2.0 query job path
    finally:
        adapter.session.close()
    assert (rest.active_subscribers, rest.memberships) == (3, 4)
    assert rest.sf_calls == 2  # COUNT() and one page: no call per record
    assert bulk.active_subscribers == 3

    now = timezone.now()
    snapshot = billing.record_usage(now)
    assert snapshot is not None and snapshot.active_subscribers == 3 and snapshot.day == now.date()
    _write_subscribers([("list-c", "fay@example.com", "Active")])
    billing.record_usage(now + timedelta(minutes=5))  # the latest count of a day replaces the earlier one
    assert list(UsageSnapshot.objects.values_list("active_subscribers", flat=True)) == [4]


def test_count_now_in_the_console_records_todays_usage(client, alice, bob, org):
    _write_subscribers(ROWS)
    client.force_login(bob)
    assert client.post(reverse("console:billing_count_usage")).status_code == 403
    client.force_login(alice)
    page = client.post(reverse("console:billing_count_usage"), follow=True).content.decode()
    assert "3 active subscribers today." in page
    assert UsageSnapshot.objects.get().active_subscribers == 3


def test_a_salesforce_error_during_the_count_is_a_maintenance_message_and_no_snapshot(org):
    removed = requests.post(f"{org['base']}/admin/schema/remove-field", verify=org["ca"], timeout=30,
                            json={"object": "CMSF_Subscriber__c", "field": "State__c"})  # fmt: skip
    assert removed.status_code == 200
    assert billing.record_usage(timezone.now()) is None
    assert not UsageSnapshot.objects.exists()
    message = MaintenanceMessage.objects.get(support_code=billing.USAGE_CODE)
    assert "INVALID_FIELD" in message.details and "Check the Salesforce connection" in message.guidance


def test_no_usage_is_recorded_while_salesforce_is_not_connected(db):
    assert billing.record_usage(timezone.now()) is None
    assert not UsageSnapshot.objects.exists()


# -- invoices -----------------------------------------------------------------------------------------------------


def _snapshot(day: date, count: int, plan: Plan = Plan.STANDARD, on_trial: bool = False) -> None:
    UsageSnapshot.objects.create(day=day, active_subscribers=count, plan=plan, on_trial=on_trial,
                                 counted_at=datetime.combine(day, datetime.min.time(), tzinfo=UTC))  # fmt: skip


def test_a_finished_month_is_invoiced_once_at_its_peak_with_the_tier_price(db):
    account = _start_trial(datetime(2026, 9, 10, tzinfo=UTC))
    account.plan = Plan.STANDARD
    for name, value in DETAILS.items():
        setattr(account, name, value)
    account.save()
    _snapshot(date(2026, 9, 12), 800, Plan.ENTERPRISE, on_trial=True)
    _snapshot(date(2026, 10, 3), 2_400)
    _snapshot(date(2026, 10, 17), 3_120)  # the peak: the 2,501 to 10,000 band
    _snapshot(date(2026, 10, 31), 2_900)
    _snapshot(date(2026, 11, 2), 60_000)  # November has not ended: not invoiced yet
    now = datetime(2026, 11, 3, 0, 15, tzinfo=UTC)

    issued = billing.issue_invoices(now)
    assert [i.number for i in issued] == ["CMSF-2026-09", "CMSF-2026-10"]
    september, october = issued
    assert september.on_trial and september.total == Decimal("0.00")
    assert october.plan == Plan.STANDARD and october.subscribers == 3_120 and october.peak_day == date(2026, 10, 17)
    assert october.total == Decimal("99.00") == band_for(Plan.STANDARD, 3_120)[1] == TIERS[Plan.STANDARD][1].price
    assert october.period_end == date(2026, 10, 31) and october.currency == "USD"
    assert october.bill_to["billing_name"] == "Harbour Lights Ltd"
    assert october.lines == [
        {"description": "Standard plan, 2,501 to 10,000 active subscribers (peak 3,120 active subscribers on 17 Oct 2026)",
         "amount": "99.00"}
    ]  # fmt: skip

    # A rerun (the next day's job, a retry, another worker) issues nothing twice and changes nothing.
    account.billing_name = "Someone Else"
    account.save()
    assert billing.issue_invoices(now) == []
    assert billing.issue_invoices(now + timedelta(days=1)) == []
    assert Invoice.objects.count() == 2
    assert Invoice.objects.get(number="CMSF-2026-10").bill_to["billing_name"] == "Harbour Lights Ltd"


def test_the_daily_job_issues_and_emails_each_new_invoice_once(db, settings, mailoutbox):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    account = _start_trial(datetime(2026, 9, 25, tzinfo=UTC))
    account.plan, account.invoice_email = Plan.ENTERPRISE, "accounts@harbour.example"
    account.save()
    _snapshot(date(2026, 10, 5), 12_000, Plan.ENTERPRISE)
    now = datetime(2026, 11, 1, 0, 15, tzinfo=UTC)
    assert billing.billing_day(now) == ["CMSF-2026-09", "CMSF-2026-10"]
    assert billing.billing_day(now) == []
    assert [m.subject for m in mailoutbox] == ["cmsf invoice CMSF-2026-09: 99.00 USD",
                                                "cmsf invoice CMSF-2026-10: 299.00 USD"]  # fmt: skip
    assert Invoice.objects.filter(emailed_at=None).count() == 0


@pytest.fixture
def october(db) -> Invoice:
    account = _start_trial(datetime(2026, 9, 10, tzinfo=UTC))
    account.plan = Plan.STANDARD
    for name, value in DETAILS.items():
        setattr(account, name, value)
    account.save()
    _snapshot(date(2026, 10, 17), 3_120)
    billing.issue_invoices(datetime(2026, 11, 1, 1, 0, tzinfo=UTC))
    return Invoice.objects.get(number="CMSF-2026-10")


def test_the_invoice_page_is_printable_without_the_navigation(client, bob, october):
    client.force_login(bob)
    html = client.get(reverse("console:billing")).content.decode()
    assert reverse("console:billing_invoice", args=["CMSF-2026-10"]) in html
    response = client.get(reverse("console:billing_invoice", args=["CMSF-2026-10"]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "data-print>Print</button>" in html and "/static/console/print.js" in html
    assert '<link rel="stylesheet" media="print" href="/static/console/invoice-print.css">' in html
    static = Path(cmsf.console.__file__).parent / "static" / "console"
    assert "window.print()" in (static / "print.js").read_text()
    print_css = (static / "invoice-print.css").read_text()
    assert ".slds-context-bar" in print_css and ".slds-global-header_container" in print_css
    assert ".cmsf-no-print" in print_css and "display: none" in print_css
    buttons = html.split('class="cmsf-no-print', 1)[1].split('data-testid="invoice"', 1)[0]
    assert "Print" in buttons and "Resend by email" not in buttons  # bob may print, not resend
    invoice_html = html.split('data-testid="invoice"', 1)[1]
    assert "Harbour Lights Ltd" in invoice_html and "BS1 4RN" in invoice_html
    assert "99.00 USD" in invoice_html and "3,120" in invoice_html and "17 Oct 2026" in invoice_html


def test_resend_emails_the_invoice_to_the_invoice_email_and_is_audited(client, alice, october, settings, mailoutbox):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    client.force_login(alice)
    response = client.post(reverse("console:billing_resend", args=["CMSF-2026-10"]), follow=True)
    assert any("emailed to accounts@harbour.example" in m for m in _messages(response))
    assert len(mailoutbox) == 1
    email = mailoutbox[0]
    assert email.to == ["accounts@harbour.example"]
    assert email.subject == "cmsf invoice CMSF-2026-10: 99.00 USD"
    assert "Invoice CMSF-2026-10" in email.body and "Total: 99.00 USD" in email.body
    assert "Harbour Lights Ltd" in email.body and "Standard plan, 2,501 to 10,000" in email.body
    october.refresh_from_db()
    assert october.emailed_at is not None and october.emailed_to == "accounts@harbour.example"
    entry = AuditEntry.objects.get(section="billing")
    assert entry.action == "Resend invoice CMSF-2026-10" and entry.after["emailed_to"] == "accounts@harbour.example"


def test_resend_without_an_invoice_email_says_what_to_do(client, alice, october, mailoutbox):
    BillingAccount.objects.update(invoice_email="")
    Invoice.objects.update(bill_to={})
    client.force_login(alice)
    response = client.post(reverse("console:billing_resend", args=["CMSF-2026-10"]), follow=True)
    assert any("No invoice email is set: enter one in Billing details" in m for m in _messages(response))
    assert mailoutbox == []


# -- billing details ------------------------------------------------------------------------------------------------


def test_billing_details_are_saved_and_audited(client, alice):
    client.force_login(alice)
    assert client.post(reverse("console:billing_details"), DETAILS).status_code == 302
    account = BillingAccount.load()
    assert account.details() == DETAILS
    entry = AuditEntry.objects.get(section="billing")
    assert entry.action == "Change billing details" and entry.after["city"] == "Bristol" and entry.before["city"] == ""


def test_bad_billing_details_are_shown_next_to_the_fields_with_what_was_typed(client, alice):
    client.force_login(alice)
    typed = {**DETAILS, "billing_name": "", "invoice_email": "accounts-at-harbour", "postcode": "BS1 <4RN>"}
    response = client.post(reverse("console:billing_details"), typed)
    assert response.status_code == 400
    html = response.content.decode()

    def error(field: str) -> str:
        return html.split(f'data-error-for="{field}"', 1)[1].split("</div>", 1)[0]

    assert "Enter the name." in error("billing_name")
    assert "Enter the invoice email as an email address" in error("invoice_email")
    assert "letters, digits, spaces or hyphens" in error("postcode")
    assert 'value="accounts-at-harbour"' in html and 'value="12 Wharf Street"' in html and 'value="Bristol"' in html
    assert html.count("slds-has-error") == 3
    assert BillingAccount.load().details() == {name: "" for name in DETAILS}  # nothing half-saved
    assert not AuditEntry.objects.exists()


def test_user_access_gets_403_on_every_billing_change(client, bob, october, mailoutbox):
    client.force_login(bob)
    posts = [
        (reverse("console:billing_plan"), {"plan": "enterprise"}),
        (reverse("console:billing_details"), {**DETAILS, "billing_name": "Bob"}),
        (reverse("console:billing_resend", args=["CMSF-2026-10"]), {}),
    ]
    for url, data in posts:
        assert client.post(url, data).status_code == 403, url
    account = BillingAccount.load()
    assert account.plan == Plan.STANDARD and account.billing_name == "Harbour Lights Ltd"
    assert mailoutbox == [] and not AuditEntry.objects.exists()
    html = client.get(reverse("console:billing")).content.decode()
    assert 'data-testid="billing-details"' not in html and "Change plan" not in html


def test_a_month_that_ends_on_free_costs_nothing_and_the_page_shows_this_months_peak(client, bob):
    _start_trial(datetime(2026, 8, 1, tzinfo=UTC))  # the trial ended on 15 August, no plan chosen: Free
    _snapshot(date(2026, 8, 10), 4_000, Plan.ENTERPRISE, on_trial=True)
    _snapshot(date(2026, 8, 20), 3_000, Plan.FREE)
    (august,) = billing.issue_invoices(datetime(2026, 9, 1, 0, 15, tzinfo=UTC))
    assert august.plan == Plan.FREE and not august.on_trial and august.total == Decimal("0.00")
    assert august.lines[0]["description"] == "Free plan (peak 4,000 active subscribers on 10 Aug 2026)"

    BillingAccount.objects.update(plan=Plan.STANDARD)
    _snapshot(timezone.now().date(), 3_120)
    client.force_login(bob)
    html = client.get(reverse("console:billing")).content.decode()
    assert "Peak 3,120 on" in html and "2,501 to 10,000 band, 99.00 USD" in html
    assert html.split('data-testid="usage">', 1)[1].startswith("3,120 on")
