"""The pickers in Chromium: a Salesforce field found in the Subscriber Rules picker and added to the criteria, and a
campaign link made by searching both campaign comboboxes."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Site, sign_in

pytestmark = pytest.mark.browser

ALICE = ("alice@example.com", "alice-password-1")


def test_a_field_chosen_in_the_rule_picker_goes_into_the_criteria(page: Page, site: Site):
    from cmsf.options.models import SubscriberRule

    sign_in(page, site, *ALICE)
    page.get_by_role("navigation", name="Console sections").get_by_role("link", name="Subscriber Rules").click()
    expect(page.locator('#rule-fields option[value="LeadSource"]')).to_have_count(1)
    page.locator('label[for="id_kind_2"]').click()  # Add lead
    page.get_by_label("Find a field for the criteria").fill("LeadSource")
    page.get_by_role("button", name="Add to the criteria").click()
    criteria = page.locator("#id_criteria")
    expect(criteria).to_have_value("LeadSource ")
    expect(criteria).to_be_focused()
    page.keyboard.type("equals Web")
    page.locator("#rule-form").get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("rules")).to_contain_text("LeadSource equals Web")
    assert SubscriberRule.objects.get().criteria[0]["field"] == "LeadSource"


def test_a_campaign_link_made_by_searching_the_comboboxes(page: Page, synced: Site):
    from cmsf.sync.models import CampaignLink

    sign_in(page, synced, *ALICE)
    page.goto(synced.at("/campaigns/links"))
    cm_select, sf_select = page.locator("#id_cm_campaign_id"), page.locator("#id_salesforce_campaign_id")
    cm_first = cm_select.locator("option:not([disabled])").first
    cm_name = cm_first.inner_text().split(" · ")[0]
    sf_target = sf_select.locator("option:not([disabled])").last
    sf_name, sf_id = sf_target.inner_text().split(" · ")[0], sf_target.get_attribute("value")

    page.get_by_test_id("id_cm_campaign_id-search").fill(cm_name)
    expect(cm_select).to_have_value(cm_first.get_attribute("value") or "")
    page.get_by_test_id("id_salesforce_campaign_id-search").fill(sf_name)
    expect(sf_select).to_have_value(sf_id or "")
    hidden = sf_select.evaluate("s => [...s.options].filter(o => o.hidden).map(o => o.text)")
    assert all(sf_name.lower() not in text.lower() for text in hidden), hidden
    page.get_by_role("button", name="Link", exact=True).click()
    expect(page.get_by_test_id("links")).to_contain_text(sf_name)
    link = CampaignLink.objects.get()
    assert link.salesforce_campaign_id == sf_id
    white_space = page.locator('[data-testid="links"] .cmsf-nowrap').first.evaluate(
        "e => getComputedStyle(e).whiteSpace"
    )
    assert white_space == "nowrap"
