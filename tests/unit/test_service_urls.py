"""The addresses cmsf calls out to (issue 18, found 5): https only, http to loopback for the sandbox; checked by the
connections' models before any call is made."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from cmsf.connections.models import CampaignMonitorAccount, SalesforceOrg
from cmsf.lib.urls import validate_service_url


@pytest.mark.parametrize(
    "url",
    [
        "https://login.salesforce.com",
        "https://acme.my.salesforce.com/",
        "https://api.createsend.com/api/v3.3",
        "https://127.0.0.1:8443/api/v3.3",
        "http://127.0.0.1:8080",
        "http://127.5.6.7",
        "http://[::1]:9000/",
        "http://localhost:8000",
    ],
)
def test_https_and_loopback_are_accepted(url):
    validate_service_url(url)


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://169.254.169.254/", "link_local"),
        ("https://169.254.169.254/latest/meta-data", "link_local"),
        ("http://login.salesforce.com", "https"),
        ("http://10.0.0.5", "https"),
        ("ftp://api.createsend.com/api/v3.3", "invalid"),
        ("file:///etc/passwd", "invalid"),
        ("not a url", "invalid"),
        ("https://login.salesforce.com:99999", "invalid"),
        ("https://user:pw@login.salesforce.com", "credentials"),
        ("https://login.salesforce.com/?next=x", "query"),
        ("https://login.salesforce.com/#x", "query"),
    ],
)
def test_anything_else_is_refused_with_one_sentence(url, code):
    with pytest.raises(ValidationError) as raised:
        validate_service_url(url)
    assert raised.value.code == code
    assert raised.value.messages[0].startswith("Enter an https URL")


def _salesforce(**fields):
    return SalesforceOrg(auth_flow=SalesforceOrg.AuthFlow.CLIENT_CREDENTIALS, client_id="app", **fields)


def test_the_salesforce_login_url_must_be_https():
    org = _salesforce(login_domain=SalesforceOrg.LoginDomain.CUSTOM, custom_login_url="http://169.254.169.254/")
    with pytest.raises(ValidationError) as raised:
        org.full_clean(validate_unique=False)
    assert set(raised.value.message_dict) == {"custom_login_url"}
    _salesforce(login_domain=SalesforceOrg.LoginDomain.CUSTOM, custom_login_url="https://127.0.0.1:5000").full_clean(
        validate_unique=False
    )


def test_a_mistyped_my_domain_is_refused():
    org = _salesforce(login_domain=SalesforceOrg.LoginDomain.MY_DOMAIN, my_domain="acme.my.salesforce.com/x")
    with pytest.raises(ValidationError) as raised:
        org.full_clean(validate_unique=False)
    assert set(raised.value.message_dict) == {"my_domain"}


def test_the_campaign_monitor_base_url_must_be_https():
    account = CampaignMonitorAccount(api_base_url="ftp://api.createsend.com/api/v3.3")
    with pytest.raises(ValidationError) as raised:
        account.full_clean(validate_unique=False)
    assert set(raised.value.message_dict) == {"api_base_url"}
    CampaignMonitorAccount(api_base_url="https://127.0.0.1:4443/api/v3.3").full_clean(validate_unique=False)
