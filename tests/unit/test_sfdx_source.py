"""The SFDX source in src/cmsf/sfdx holds every object and field cmsf writes."""

import re

import pytest

from cmsf.salesforce.sfdx import ACTIVITY_OBJECTS, read_objects, read_permission_sets

OBJECTS = read_objects()

EXTERNAL_IDS = {
    "CMSF_Client__c": "Client_Id__c",
    "CMSF_List__c": "List_Id__c",
    "CMSF_Subscriber__c": "Member_Key__c",
    "CMSF_Campaign__c": "Campaign_Id__c",
    "CMSF_Email_Activity__c": "Activity_Key__c",
    "CMSF_Suppression__c": "Suppression_Key__c",
}

REQUIRED_FIELDS = {
    "CMSF_Subscriber__c": {
        "Email__c",
        "State__c",
        "List__c",
        "Contact__c",
        "Lead__c",
        "Consent_To_Track__c",
        "Mobile_Number__c",
        "Consent_To_Send_SMS__c",
    },
    "CMSF_Campaign__c": {
        "Subject__c",
        "Sent_Date__c",
        "Tags__c",
        "Web_Version_URL__c",
        "Recipients__c",
        "Total_Opened__c",
        "Unique_Opened__c",
        "Clicks__c",
        "Unsubscribed__c",
        "Bounced__c",
        "Spam_Complaints__c",
        "Forwards__c",
        "Likes__c",
        "Mentions__c",
        "Open_Rate__c",
        "Click_Rate__c",
        "Industry_Open_Rate__c",
        "Industry_Click_Rate__c",
        "Salesforce_Campaign__c",
    },
    "CMSF_Email_Activity__c": {
        "Activity__c",
        "Activity_Date__c",
        "Email__c",
        "Campaign__c",
        "Contact__c",
        "Lead__c",
        "List__c",
        "URL__c",
        "Bounce_Type__c",
        "Bounce_Reason__c",
        "IP_Address__c",
        "City__c",
        "Region__c",
        "Country_Code__c",
        "Latitude__c",
        "Longitude__c",
    },
    "Campaign": {"CMSF_Campaign_Id__c", "CMSF_Recipients__c", "CMSF_Total_Opened__c", "CMSF_Clicks__c"},
    "CampaignMember": {"CMSF_Opens__c", "CMSF_Clicks__c", "CMSF_Activity__c", "CMSF_Activity_Date__c"},
}


@pytest.mark.parametrize(("obj", "key"), EXTERNAL_IDS.items())
def test_each_custom_object_has_its_case_insensitive_unique_external_id(obj, key):
    spec = OBJECTS[obj]
    assert spec.custom and spec.label
    field = spec.fields[key]
    assert (field.external_id, field.unique, field.case_sensitive) == (True, True, False)
    assert field.type == "Text" and field.length and field.length >= 64
    assert spec.external_ids == [key]


@pytest.mark.parametrize(("obj", "names"), REQUIRED_FIELDS.items())
def test_each_object_has_the_fields_the_sync_writes(obj, names):
    assert names <= set(OBJECTS[obj].fields)


def test_activity_picklist_holds_the_six_email_types_in_the_products_words():
    from cmsf.options.models import EmailActivity

    values = OBJECTS["CMSF_Email_Activity__c"].fields["Activity__c"].picklist_values
    assert values == tuple(EmailActivity.labels)
    assert OBJECTS["CampaignMember"].fields["CMSF_Activity__c"].picklist_values == values


def test_subscriber_states_are_campaign_monitors_five():
    states = OBJECTS["CMSF_Subscriber__c"].fields["State__c"].picklist_values
    assert states == ("Active", "Unconfirmed", "Unsubscribed", "Bounced", "Deleted")


def test_lookups_point_at_objects_that_exist():
    standard = {"Contact", "Lead", "Campaign", "User", "Account"}
    for spec in OBJECTS.values():
        for field in spec.fields.values():
            if field.type == "Lookup":
                assert field.reference_to in OBJECTS or field.reference_to in standard, (spec.name, field.name)
                assert field.relationship_name


def test_relationship_names_are_unique_per_parent():
    seen: dict[tuple[str, str], str] = {}
    for spec in OBJECTS.values():
        for field in spec.fields.values():
            if field.type == "Lookup":
                key = (field.reference_to or "", field.relationship_name or "")
                assert key not in seen, f"{spec.name}.{field.name} and {seen[key]} share {key}"
                seen[key] = f"{spec.name}.{field.name}"


def test_api_names_are_valid_salesforce_names():
    pattern = re.compile(r"^[A-Za-z](?!.*__.*__c$)[A-Za-z0-9_]*[A-Za-z0-9]__c$")
    for spec in OBJECTS.values():
        assert not spec.custom or pattern.match(spec.name), spec.name
        for name in spec.fields:
            assert pattern.match(name) and len(name) <= 43, f"{spec.name}.{name}"


def test_the_two_permission_sets_cover_every_object_and_field():
    sets = read_permission_sets()
    assert set(sets) == {"CMSF_Full_Access", "CMSF_User_Access"}
    every_field = {f"{o.name}.{f}" for o in OBJECTS.values() for f in o.fields}
    # an activity field is granted on Task and on Event, as Salesforce shows it on both
    every_field |= {f"{activity}.{f}" for activity in ACTIVITY_OBJECTS for f in OBJECTS["Task"].fields}
    custom = {o.name for o in OBJECTS.values() if o.custom}
    full, user = sets["CMSF_Full_Access"], sets["CMSF_User_Access"]
    assert full.readable_fields == every_field == full.editable_fields
    assert user.readable_fields == every_field and not user.editable_fields
    assert {o: full.objects[o] for o in custom} == {o: {"read", "create", "edit", "delete"} for o in custom}
    assert {o: user.objects[o] for o in custom} == {o: {"read"} for o in custom}


def test_the_activity_fields_are_read_as_the_tasks():
    """Salesforce keeps custom activity fields on Activity (objects/Activity/fields/); they are Task's fields."""
    task = OBJECTS["Task"]
    assert "Activity" not in OBJECTS and not task.custom
    assert set(task.fields) == {
        "CMSF_Smart_Email_Id__c",
        "CMSF_Message_Id__c",
        "CMSF_Recipient__c",
        "CMSF_Status__c",
        "CMSF_First_Opened__c",
        "CMSF_First_Clicked__c",
        "CMSF_Opens__c",
        "CMSF_Clicks__c",
    }
    assert task.external_ids == ["CMSF_Message_Id__c"] and task.fields["CMSF_Message_Id__c"].unique
    assert task.fields["CMSF_Message_Id__c"].length == task.fields["CMSF_Smart_Email_Id__c"].length == 36
    assert {"Received", "Delivered", "Opened", "Clicked", "Bounced"} <= set(
        task.fields["CMSF_Status__c"].picklist_values
    )
