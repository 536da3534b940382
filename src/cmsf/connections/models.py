"""What cmsf is connected to. Credentials are encrypted at rest (EncryptedTextField)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from cmsf.lib.crypto import EncryptedTextField
from cmsf.lib.declared import Declared
from cmsf.lib.singleton import SingletonModel
from cmsf.lib.urls import validate_service_url

salesforce_id = RegexValidator(r"^[A-Za-z0-9]{15}([A-Za-z0-9]{3})?$", "Enter a 15 or 18 character Salesforce Id.")
my_domain_host = RegexValidator(
    r"^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.my\.salesforce\.com$",
    "Enter the My Domain host, such as acme.my.salesforce.com.",
)


class CampaignMonitorAccount(SingletonModel):
    """The connected Campaign Monitor account (direct or agency)."""

    class AuthMethod(models.TextChoices):
        API_KEY = "api_key", "API key"
        OAUTH = "oauth", "OAuth"

    auth_method = models.CharField(max_length=16, choices=AuthMethod.choices, blank=True)
    # Blank means the real service; the sandbox and tests point these at the emulator.
    api_base_url = models.URLField("API base URL", blank=True, help_text="Blank: https://api.createsend.com/api/v3.3")
    ca_file = models.CharField(
        "CA bundle",
        max_length=500,
        blank=True,
        help_text="A PEM file to verify the API's certificate; blank: the system's",
    )
    api_key = EncryptedTextField(blank=True, default="")
    oauth_access_token = EncryptedTextField(blank=True, default="")
    oauth_refresh_token = EncryptedTextField(blank=True, default="")
    # The secret in the URL of cmsf's list webhooks (`sync.webhooks`): a POST without it is refused.
    webhook_secret = EncryptedTextField(blank=True, default="")
    oauth_expires_at = models.DateTimeField(null=True, blank=True)
    # The OAuth app cmsf signs in through (Campaign Monitor: Integrations > OAuth): its client id and secret, kept
    # for the next connect or reconnect through OAuth.
    oauth_client_id = models.CharField("OAuth client id", max_length=64, blank=True)
    oauth_client_secret = EncryptedTextField(blank=True, default="")
    account_name = models.CharField(max_length=255, blank=True)
    is_agency = models.BooleanField(default=False)
    connected_at = models.DateTimeField(null=True, blank=True)

    @property
    def is_connected(self) -> bool:
        return bool(self.auth_method and (self.api_key or self.oauth_access_token))

    def clean(self) -> None:
        try:
            validate_service_url(self.api_base_url, example="https://api.createsend.com/api/v3.3")
        except ValidationError as error:
            raise ValidationError({"api_base_url": error.messages}) from None

    def __str__(self) -> str:
        return self.account_name or "Campaign Monitor account"


class CampaignMonitorClient(models.Model):
    """A Campaign Monitor client of the account: one for a direct account, several for an agency."""

    cm_client_id = models.CharField("Campaign Monitor client id", max_length=64, unique=True)
    name = models.CharField(max_length=255)
    # Campaign Monitor's own zone name, such as "(GMT+10:00) Canberra, Melbourne, Sydney".
    time_zone = models.CharField(max_length=128, blank=True)
    selected = models.BooleanField("selected for sync", default=True)
    active = models.BooleanField(default=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    security_owner_id = models.CharField(
        "Salesforce Security Owner", max_length=18, blank=True, validators=[salesforce_id]
    )
    security_owner_name = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SalesforceOrg(SingletonModel):
    """The connected Salesforce org and the Salesforce Sync User the sync runs as."""

    class LoginDomain(models.TextChoices):
        PRODUCTION = "production", "Production (login.salesforce.com)"
        SANDBOX = "sandbox", "Sandbox (test.salesforce.com)"
        MY_DOMAIN = "my_domain", "My Domain"
        CUSTOM = "custom", "Another login URL (such as the sandbox emulator)"

    class AuthFlow(models.TextChoices):
        JWT_BEARER = "jwt_bearer", "OAuth 2.0 JWT bearer"
        CLIENT_CREDENTIALS = "client_credentials", "OAuth 2.0 client credentials"
        WEB_SERVER = "web_server", "OAuth 2.0 web server (refresh token)"

    login_domain = models.CharField(max_length=16, choices=LoginDomain.choices, default=LoginDomain.PRODUCTION)
    my_domain = models.CharField(max_length=255, blank=True, validators=[my_domain_host])
    custom_login_url = models.URLField(blank=True)
    ca_file = models.CharField(
        "CA bundle",
        max_length=500,
        blank=True,
        help_text="A PEM file to verify Salesforce's certificate; blank: the system's",
    )
    api_version = models.CharField(max_length=8, default="62.0", validators=[RegexValidator(r"^\d{2,3}\.0$")])
    api_budget_percent = models.PositiveSmallIntegerField(
        "API budget (% of the daily limit)",
        default=50,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="A run stops cleanly when the org's API usage reaches this share of its daily limit.",
    )
    instance_url = models.URLField(blank=True)
    org_id = models.CharField(max_length=18, blank=True)
    is_sandbox = models.BooleanField(default=False)
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        help_text="The org's default time zone (Organization.TimeZoneSidKey, an IANA name), read when it is "
        "connected: the console shows times in it unless a console user chose another.",
    )
    auth_flow = models.CharField(max_length=24, choices=AuthFlow.choices, blank=True)
    client_id = models.CharField("connected app consumer key", max_length=255, blank=True)
    client_secret = EncryptedTextField(blank=True, default="")
    jwt_private_key = EncryptedTextField(blank=True, default="")
    jwt_username = models.CharField(max_length=255, blank=True)
    access_token = EncryptedTextField(blank=True, default="")
    refresh_token = EncryptedTextField(blank=True, default="")
    sync_user_id = models.CharField(max_length=18, blank=True, validators=[salesforce_id])
    sync_user_name = models.CharField(max_length=255, blank=True)
    connected_at = models.DateTimeField(null=True, blank=True)

    def clean(self) -> None:
        if self.login_domain == self.LoginDomain.MY_DOMAIN and not self.my_domain:
            raise ValidationError({"my_domain": "Enter the My Domain host when the login domain is My Domain."})
        if self.login_domain == self.LoginDomain.CUSTOM and not self.custom_login_url:
            raise ValidationError({"custom_login_url": "Enter the login URL when the login domain is another URL."})
        if self.login_domain == self.LoginDomain.CUSTOM:
            try:
                validate_service_url(self.custom_login_url)
            except ValidationError as error:
                raise ValidationError({"custom_login_url": error.messages}) from None

    @property
    def login_url(self) -> str:
        if self.login_domain == self.LoginDomain.SANDBOX:
            return "https://test.salesforce.com"
        if self.login_domain == self.LoginDomain.MY_DOMAIN:
            return f"https://{self.my_domain}"
        if self.login_domain == self.LoginDomain.CUSTOM:
            return self.custom_login_url.rstrip("/")
        return "https://login.salesforce.com"

    @property
    def is_connected(self) -> bool:
        return bool(self.instance_url and (self.access_token or self.refresh_token))

    def __str__(self) -> str:
        return self.instance_url or "Salesforce org"


SALESFORCE = Declared(
    "salesforce",
    SalesforceOrg,
    {"login": ("login_domain", "my_domain", "custom_login_url"), "api_usage": ("api_budget_percent",)},
)


class PageLayoutBackup(models.Model):
    """A copy of one of the org's own page layouts (Contact, Lead) as it was before cmsf's Apply page layouts
    replaced it: Metadata API XML, deployed back by Remove page layouts. The first copy is kept until Remove puts it
    back (a second Apply does not overwrite it with cmsf's version)."""

    full_name = models.CharField(max_length=255, unique=True)  # "Contact-Contact Layout"
    layout_xml = models.TextField()
    saved_at = models.DateTimeField()

    class Meta:
        ordering = ["full_name"]

    def __str__(self) -> str:
        return self.full_name
