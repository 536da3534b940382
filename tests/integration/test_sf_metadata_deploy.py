"""Metadata API deploys of page layouts: the emulator's `metadata/deployRequest` over real HTTPS with raw requests
(the contract's shapes, asynchronous status, validation, rollback, destructive changes), then cmsf's client
(`cmsf.salesforce.metadata`) deploying and removing the layouts of the SFDX source."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
import zipfile
from typing import Any

import pytest
import requests

from cmsf.salesforce import metadata
from cmsf.salesforce.adapter import SalesforceAdapter
from cmsf.salesforce.auth import Credentials
from cmsf.salesforce.errors import ApiLimitExceeded
from cmsf_sandbox.salesforce.app import create_app
from cmsf_sandbox.salesforce.data import generate_org
from cmsf_sandbox.salesforce.metadata import standard_layouts
from cmsf_sandbox.server import serve_in_thread
from cmsf_sandbox.tls import generate_tls_files

VERSION = "62.0"
NS = {"md": metadata.MD_NS}
SUBSCRIBER_LAYOUT = "CMSF_Subscriber__c-CMSF Subscriber Layout"
STANDARD = standard_layouts()  # the org's own Contact and Lead layouts, there from the start
SOURCE_LAYOUTS = {
    "CMSF_Campaign__c-CMSF Campaign Layout",
    "CMSF_Client__c-CMSF Client Layout",
    "CMSF_Email_Activity__c-CMSF Email Activity Layout",
    "CMSF_List__c-CMSF List Layout",
    SUBSCRIBER_LAYOUT,
    "CMSF_Suppression__c-CMSF Suppression Layout",
    "Contact-Contact Layout",
    "Lead-Lead Layout",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    org = generate_org("tiny", 21)
    tls = generate_tls_files(tmp_path_factory.mktemp("sf-md-tls"))
    app = create_app(org, "none")
    with serve_in_thread(app, tls=tls) as base:
        yield {"org": org, "base": base, "ca": str(tls.ca_file), "em": app.state.emulator}


@pytest.fixture
def http(server):
    session = requests.Session()
    session.trust_env = False
    session.verify = server["ca"]
    session.headers["Authorization"] = f"Bearer {server['em'].issue_token()}"
    server["em"].metadata.layouts = standard_layouts()
    yield session
    server["em"].metadata.layouts = standard_layouts()
    server["em"].metadata.polls_in_progress = 1
    session.post(f"{server['base']}/admin/schema/reset")
    session.close()


def api(server: dict[str, Any], path: str) -> str:
    return f"{server['base']}/services/data/v{VERSION}/{path}"


def admin_layouts(server: dict[str, Any]) -> dict[str, str]:
    response = requests.get(f"{server['base']}/admin/layouts", verify=server["ca"], timeout=30)
    response.raise_for_status()
    return response.json()["layouts"]


def make_zip(files: dict[str, str | bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def package(layouts: list[str]) -> bytes:
    return metadata.package_xml({"Layout": layouts}, VERSION)


def one_layout(xml: str, name: str = SUBSCRIBER_LAYOUT) -> dict[str, str | bytes]:
    """The files of a deploy of one layout."""
    return {"package.xml": package([name]), f"layouts/{name}.layout": xml}


def layout_xml(fields: list[str], related: list[tuple[str, list[str]]] = ()) -> str:  # type: ignore[assignment]
    items = "".join(f"<layoutItems><behavior>Edit</behavior><field>{f}</field></layoutItems>" for f in fields)
    lists = "".join(
        "<relatedLists>"
        + "".join(f"<fields>{c}</fields>" for c in columns)
        + f"<relatedList>{name}</relatedList></relatedLists>"
        for name, columns in related
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Layout xmlns="http://soap.sforce.com/2006/04/metadata">'
        f"<layoutSections><label>Information</label><layoutColumns>{items}</layoutColumns>"
        f"<style>OneColumn</style></layoutSections>{lists}</Layout>"
    )


def post_deploy(http: requests.Session, server: dict[str, Any], archive: bytes, **options: Any) -> requests.Response:
    body = json.dumps({"deployOptions": {"singlePackage": True, **options}})
    files = {"json": (None, body, "application/json"), "file": ("deploy.zip", archive, "application/zip")}
    return http.post(api(server, "metadata/deployRequest"), files=files, timeout=30)


def finish(http: requests.Session, server: dict[str, Any], deploy_id: str) -> dict[str, Any]:
    for _ in range(10):
        body = http.get(api(server, f"metadata/deployRequest/{deploy_id}"), params={"includeDetails": "true"}).json()
        if body["deployResult"]["done"]:
            return body
    raise AssertionError(f"deploy {deploy_id} never finished")


def deploy(
    http: requests.Session, server: dict[str, Any], files: dict[str, str | bytes], **options: Any
) -> dict[str, Any]:
    response = post_deploy(http, server, make_zip(files), **options)
    assert response.status_code == 201, response.text
    return finish(http, server, response.json()["id"])


# ------------------------------------------------------------------------------------------ emulator


def test_a_good_layout_is_pending_then_in_progress_then_succeeds_and_is_recorded(http, server):
    xml = layout_xml(["Name", "Email__c", "State__c", "OwnerId"])
    archive = make_zip(one_layout(xml))
    created = post_deploy(http, server, archive)
    assert created.status_code == 201
    body = created.json()
    deploy_id = body["id"]
    assert deploy_id.startswith("0Af") and len(deploy_id) == 18
    assert body["deployResult"]["id"] == deploy_id
    assert (body["deployResult"]["status"], body["deployResult"]["done"], body["deployResult"]["success"]) == (
        "Pending", False, False,
    )  # fmt: skip
    assert body["deployOptions"]["rollbackOnError"] is True and body["deployOptions"]["singlePackage"] is True
    assert admin_layouts(server) == STANDARD

    first = http.get(api(server, f"metadata/deployRequest/{deploy_id}"), params={"includeDetails": "true"}).json()
    assert (first["deployResult"]["status"], first["deployResult"]["done"]) == ("InProgress", False)
    assert admin_layouts(server) == STANDARD

    second = http.get(api(server, f"metadata/deployRequest/{deploy_id}"), params={"includeDetails": "true"}).json()
    result = second["deployResult"]
    assert (result["status"], result["done"], result["success"]) == ("Succeeded", True, True)
    counts = (result["numberComponentsDeployed"], result["numberComponentsTotal"], result["numberComponentErrors"])
    assert counts == (1, 1, 0)
    assert result["details"]["componentFailures"] == []
    layout = next(m for m in result["details"]["componentSuccesses"] if m["componentType"] == "Layout")
    assert layout["fullName"] == SUBSCRIBER_LAYOUT and layout["fileName"] == f"layouts/{SUBSCRIBER_LAYOUT}.layout"
    assert layout["created"] is True and layout["success"] is True and layout["id"].startswith("00h")
    assert admin_layouts(server) == {**STANDARD, SUBSCRIBER_LAYOUT: xml}

    without_details = http.get(api(server, f"metadata/deployRequest/{deploy_id}")).json()
    assert without_details["deployResult"]["details"] is None and without_details["deployResult"]["done"] is True

    again = deploy(http, server, one_layout(xml))
    successes = again["deployResult"]["details"]["componentSuccesses"]
    assert next(m for m in successes if m["fullName"] == SUBSCRIBER_LAYOUT)["created"] is False  # updated


def test_a_bad_layout_fails_with_its_problems_and_rolls_back_the_good_one(http, server):
    good = layout_xml(["Name", "Email__c"])
    bad = layout_xml(
        ["LastName", "No_Such_Field__c"],
        [("CMSF_Subscriber__c.Contact__c", ["NAME", "Email__c"]), ("CMSF_Subscriber__c.List__c", ["NAME"]),
         ("CMSF_Email_Activity__c.Contact__c", ["Nope__c"])],
    )  # fmt: skip
    files = {
        "package.xml": package([SUBSCRIBER_LAYOUT, "Contact-Contact Layout", "Nobody__c-Nobody Layout"]),
        f"layouts/{SUBSCRIBER_LAYOUT}.layout": good,
        "layouts/Contact-Contact Layout.layout": bad,
        "layouts/Nobody__c-Nobody Layout.layout": good,
    }
    result = deploy(http, server, files)["deployResult"]
    assert (result["status"], result["success"], result["numberComponentsDeployed"]) == ("Failed", False, 0)
    failures = result["details"]["componentFailures"]
    assert all(f["problemType"] == "Error" and f["success"] is False for f in failures)
    problems = {(f["fullName"], f["problem"]) for f in failures}
    assert ("Contact-Contact Layout", "Invalid field:No_Such_Field__c in layout Contact-Contact Layout") in problems
    # a lookup to CMSF_List__c is no relationship of Contact
    assert ("Contact-Contact Layout", "Cannot find related list:CMSF_Subscriber__c.List__c of Contact") in problems
    assert (
        "Contact-Contact Layout",
        "Invalid field:Nope__c in related list:CMSF_Email_Activity__c.Contact__c",
    ) in problems
    assert ("Nobody__c-Nobody Layout", "Cannot find the object Nobody__c for this layout") in problems
    assert {f["fileName"] for f in failures} == {
        "layouts/Contact-Contact Layout.layout",
        "layouts/Nobody__c-Nobody Layout.layout",
    }
    assert result["numberComponentErrors"] == len(failures) == 4
    assert admin_layouts(server) == STANDARD  # rollbackOnError: the good layout was not kept either

    partial = deploy(http, server, files, rollbackOnError=False)["deployResult"]
    assert (partial["status"], partial["success"], partial["numberComponentsDeployed"]) == ("SucceededPartial", True, 1)
    assert set(admin_layouts(server)) == {SUBSCRIBER_LAYOUT, *STANDARD}


def test_a_field_removed_from_the_org_fails_the_layout_that_names_it(http, server):
    http.post(
        f"{server['base']}/admin/schema/remove-field", json={"object": "CMSF_Subscriber__c", "field": "Contact__c"}
    )
    xml = layout_xml(["LastName"], [("CMSF_Subscriber__c.Contact__c", ["NAME"])])
    result = deploy(http, server, one_layout(xml, "Contact-Contact Layout"))
    assert result["deployResult"]["status"] == "Failed"
    assert [f["problem"] for f in result["deployResult"]["details"]["componentFailures"]] == [
        "Cannot find related list:CMSF_Subscriber__c.Contact__c of Contact"
    ]


def test_malformed_xml_and_a_missing_manifest_or_file_are_failures(http, server):
    broken = deploy(http, server, one_layout("<Layout><oops></Layout>"))
    failure = broken["deployResult"]["details"]["componentFailures"][0]
    assert (
        failure["problem"].startswith("Error parsing file") and failure["lineNumber"] == 1 and failure["columnNumber"]
    )
    assert failure["fullName"] == SUBSCRIBER_LAYOUT

    no_manifest = deploy(http, server, {f"layouts/{SUBSCRIBER_LAYOUT}.layout": layout_xml(["Name"])})
    assert [f["problem"] for f in no_manifest["deployResult"]["details"]["componentFailures"]] == [
        "No package.xml found"
    ]

    missing = deploy(http, server, {"package.xml": package([SUBSCRIBER_LAYOUT])})
    assert missing["deployResult"]["details"]["componentFailures"][0]["problem"] == (
        f"An object '{SUBSCRIBER_LAYOUT}' of type Layout was named in package.xml, but was not found in zipped directory"
    )
    not_zip = post_deploy(http, server, b"this is not a zip")
    assert not_zip.status_code == 201
    assert finish(http, server, not_zip.json()["id"])["deployResult"]["status"] == "Failed"
    assert admin_layouts(server) == STANDARD


def test_files_under_one_folder_deploy_when_not_a_single_package(http, server):
    files = {
        "pkg/package.xml": package([SUBSCRIBER_LAYOUT]),
        f"pkg/layouts/{SUBSCRIBER_LAYOUT}.layout": layout_xml(["Name"]),
    }
    assert deploy(http, server, files, singlePackage=False)["deployResult"]["status"] == "Succeeded"
    assert set(admin_layouts(server)) == {SUBSCRIBER_LAYOUT, *STANDARD}


def test_destructive_changes_delete_a_layout_and_a_missing_one_is_a_warning(http, server):
    deploy(http, server, one_layout(layout_xml(["Name"])))
    assert set(admin_layouts(server)) == {SUBSCRIBER_LAYOUT, *STANDARD}
    destructive = {"package.xml": package([]), "destructiveChanges.xml": package([SUBSCRIBER_LAYOUT])}
    result = deploy(http, server, destructive)["deployResult"]
    assert (result["status"], result["numberComponentsDeployed"]) == ("Succeeded", 1)
    deleted = next(m for m in result["details"]["componentSuccesses"] if m["componentType"] == "Layout")
    assert deleted["deleted"] is True and deleted["fullName"] == SUBSCRIBER_LAYOUT
    assert admin_layouts(server) == STANDARD

    warned = deploy(http, server, destructive)["deployResult"]
    assert warned["status"] == "Failed"
    assert [(f["problemType"], f["problem"]) for f in warned["details"]["componentFailures"]] == [
        ("Warning", f"No Layout named: {SUBSCRIBER_LAYOUT} found")
    ]
    ignored = deploy(http, server, destructive, ignoreWarnings=True)["deployResult"]
    assert (ignored["status"], ignored["success"]) == ("Succeeded", True)
    assert ignored["details"]["componentFailures"][0]["problemType"] == "Warning"


def test_check_only_validates_without_recording(http, server):
    files = one_layout(layout_xml(["Name"]))
    result = deploy(http, server, files, checkOnly=True)["deployResult"]
    assert (result["status"], result["checkOnly"]) == ("Succeeded", True)
    assert admin_layouts(server) == STANDARD


def test_a_request_without_its_parts_or_an_unknown_deploy_is_refused(http, server):
    only_json = http.post(
        api(server, "metadata/deployRequest"), files={"json": (None, "{}", "application/json")}, timeout=30
    )
    assert only_json.status_code == 400 and only_json.json()[0]["errorCode"] == "INVALID_MULTIPART_REQUEST"
    bad_option = post_deploy(http, server, make_zip({}), noSuchOption=True)
    assert bad_option.status_code == 400 and bad_option.json()[0]["errorCode"] == "JSON_PARSER_ERROR"
    not_multipart = http.post(api(server, "metadata/deployRequest"), json={"deployOptions": {}}, timeout=30)
    assert not_multipart.status_code == 415
    unknown = http.get(api(server, "metadata/deployRequest/0AfRM0000000zzzAAA"))
    assert unknown.status_code == 404 and unknown.json()[0]["errorCode"] == "NOT_FOUND"
    assert http.delete(api(server, "metadata/deployRequest")).status_code == 405


# ---------------------------------------------------------------------------------------- cmsf client


@pytest.fixture
def sf(server, http):
    oauth = server["org"].oauth
    credentials = Credentials(
        flow="jwt_bearer", login_url=server["base"], client_id=oauth.client_id, username=oauth.jwt_username,
        private_key=oauth.jwt_private_key_pem,
    )  # fmt: skip
    adapter = SalesforceAdapter(credentials, ca_bundle=server["ca"])
    yield adapter
    adapter.session.close()


def related_lists(xml: str | bytes) -> list[str]:
    root = ET.fromstring(xml)
    return [r.findtext("md:relatedList", "", NS) for r in root.findall("md:relatedLists", NS)]


def test_the_source_layouts_apply_and_remove_through_the_client(sf, server):
    sleeps: list[float] = []
    applied = metadata.deploy(sf, metadata.apply_plan(sf.api_version), sleep=sleeps.append)
    assert applied.ok and applied.status == "Succeeded", applied.summary()
    assert sleeps == [0.5]  # the first status check found it in progress
    assert set(applied.succeeded) == SOURCE_LAYOUTS and applied.components_deployed == len(SOURCE_LAYOUTS)
    recorded = admin_layouts(server)
    assert set(recorded) == SOURCE_LAYOUTS
    assert related_lists(recorded["Contact-Contact Layout"])[-2:] == [
        "CMSF_Subscriber__c.Contact__c", "CMSF_Email_Activity__c.Contact__c",
    ]  # fmt: skip
    assert "CMSF_Subscriber__c.Lead__c" in related_lists(recorded["Lead-Lead Layout"])
    assert sf.meter.calls["metadata"] == 3  # one POST, two status checks

    removed = metadata.deploy(sf, metadata.remove_plan(sf.api_version), sleep=sleeps.append)
    assert removed.ok, removed.summary()
    recorded = admin_layouts(server)
    assert set(recorded) == {"Contact-Contact Layout", "Lead-Lead Layout"}
    for name in recorded:
        assert related_lists(recorded[name]) == ["RelatedActivityList", "RelatedHistoryList"]
        assert "CMSF_" not in recorded[name]
    # removing again only warns about the layouts already gone
    again = metadata.deploy(sf, metadata.remove_plan(sf.api_version), sleep=sleeps.append)
    assert again.ok and not again.failures and len(again.warnings) == 6


def test_the_client_reports_component_failures(sf, server):
    requests.post(
        f"{server['base']}/admin/schema/remove-field", json={"object": "CMSF_Email_Activity__c", "field": "Lead__c"},
        verify=server["ca"], timeout=30,
    )  # fmt: skip
    outcome = metadata.deploy(sf, metadata.apply_plan(sf.api_version), sleep=lambda _: None)
    assert not outcome.ok and outcome.status == "Failed"
    assert sorted(str(f) for f in outcome.failures) == [
        "CMSF_Campaign__c-CMSF Campaign Layout: Invalid field:Lead__c in related list:CMSF_Email_Activity__c.Campaign__c",
        "CMSF_Email_Activity__c-CMSF Email Activity Layout: Invalid field:Lead__c in layout "
        "CMSF_Email_Activity__c-CMSF Email Activity Layout",
        "Lead-Lead Layout: Cannot find related list:CMSF_Email_Activity__c.Lead__c of Lead",
    ]
    assert "Cannot find related list:CMSF_Email_Activity__c.Lead__c of Lead" in outcome.summary()
    assert admin_layouts(server) == STANDARD


def test_strip_keeps_everything_but_cmsf_items():
    source = metadata.read_layouts()
    contact = source["Contact-Contact Layout"]
    stripped = metadata.strip_cmsf_items(contact)
    assert related_lists(stripped) == ["RelatedActivityList", "RelatedHistoryList"]
    root, before = ET.fromstring(stripped), ET.fromstring(contact)
    fields = [f.text for f in root.iter(f"{{{metadata.MD_NS}}}field")]
    assert fields == [f.text for f in before.iter(f"{{{metadata.MD_NS}}}field")] and "Email" in fields
    plan = metadata.remove_plan(VERSION)
    with zipfile.ZipFile(io.BytesIO(plan.archive)) as archive:
        names = set(archive.namelist())
        destructive = ET.fromstring(archive.read("destructiveChanges.xml"))
    assert names == {
        "package.xml",
        "destructiveChanges.xml",
        "layouts/Contact-Contact Layout.layout",
        "layouts/Lead-Lead Layout.layout",
    }
    assert {m.text for m in destructive.iter(f"{{{metadata.MD_NS}}}members")} == SOURCE_LAYOUTS - {
        "Contact-Contact Layout",
        "Lead-Lead Layout",
    }


# ---------------------------------------------------------------------------------------- readMetadata

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"


def read_call(server: dict[str, Any], session_id: str, body: str, version: str = VERSION) -> requests.Response:
    envelope = (
        f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{SOAP}" xmlns="{metadata.MD_NS}">'
        f"<soapenv:Header><SessionHeader><sessionId>{session_id}</sessionId></SessionHeader></soapenv:Header>"
        f"<soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"
    )
    return requests.post(
        f"{server['base']}/services/Soap/m/{version}", data=envelope.encode(), verify=server["ca"], timeout=30,
        headers={"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": '""'},
    )  # fmt: skip


def read_layouts_call(names: list[str], type_name: str = "Layout") -> str:
    return (
        f"<readMetadata><type>{type_name}</type>{''.join(f'<fullNames>{n}</fullNames>' for n in names)}</readMetadata>"
    )


def fault(response: requests.Response) -> tuple[int, str, str]:
    root = ET.fromstring(response.content)
    found = root.find(f"{{{SOAP}}}Body/{{{SOAP}}}Fault")
    assert found is not None, response.text
    return response.status_code, found.findtext("faultcode") or "", found.findtext("faultstring") or ""


def test_read_metadata_answers_the_org_layouts_and_an_empty_record_for_a_missing_one(http, server):
    token = server["em"].issue_token()
    response = read_call(server, token, read_layouts_call(["Contact-Contact Layout", "Account-Account Layout"]))
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/xml")
    assert response.headers["sforce-limit-info"].startswith("api-usage=")
    root = ET.fromstring(response.content)
    records = root.findall(f"{{{SOAP}}}Body/md:readMetadataResponse/md:result/md:records", NS)
    assert [r.get(XSI_TYPE) for r in records] == ["Layout", "Layout"]
    contact, missing = records
    assert contact.findtext("md:fullName", "", NS) == "Contact-Contact Layout"
    assert [r.findtext("md:relatedList", "", NS) for r in contact.findall("md:relatedLists", NS)] == [
        "RelatedActivityList", "RelatedHistoryList", "RelatedNoteList",
    ]  # fmt: skip
    assert "Email" in [f.text for f in contact.iter(f"{{{metadata.MD_NS}}}field")]
    assert len(missing) == 0
    # the layout read back is the one the org keeps, byte for byte
    assert metadata.parse_read_layouts(response.content) == {
        "Contact-Contact Layout": STANDARD["Contact-Contact Layout"].encode()
    }


def test_read_metadata_faults_on_a_bad_session_type_or_count(http, server):
    token = server["em"].issue_token()
    status, code, text = fault(read_call(server, "not-a-session", read_layouts_call(["Contact-Contact Layout"])))
    assert (status, code) == (500, "sf:INVALID_SESSION_ID") and "Invalid Session ID" in text
    assert fault(read_call(server, token, read_layouts_call(["Contact"], "CustomObject")))[1] == "sf:INVALID_TYPE"
    too_many = read_layouts_call([f"Contact-Layout {n}" for n in range(11)])
    assert fault(read_call(server, token, too_many))[1] == "sf:INVALID_OPERATION"
    assert fault(read_call(server, token, "<describeMetadata/>"))[1] == "sf:INVALID_OPERATION"
    assert fault(read_call(server, token, read_layouts_call(["Lead-Lead Layout"]), "20.0"))[1] == (
        "sf:UNSUPPORTED_API_VERSION"
    )


def test_the_client_reads_the_org_layouts_and_a_deploy_puts_them_back_byte_equal(sf, server):
    before = metadata.read_org_layouts(sf, ["Contact-Contact Layout", "Lead-Lead Layout", "Account-Account Layout"])
    assert before == {name: xml.encode() for name, xml in STANDARD.items()}
    assert sf.meter.calls["metadata soap"] == 1
    assert metadata.deploy(sf, metadata.apply_plan(sf.api_version), sleep=lambda _: None).ok
    assert metadata.read_org_layouts(sf, ["Contact-Contact Layout"]) != {
        "Contact-Contact Layout": before["Contact-Contact Layout"]
    }
    restored = metadata.deploy(sf, metadata.restore_plan(sf.api_version, before), sleep=lambda _: None)
    assert restored.ok, restored.summary()
    assert admin_layouts(server) == STANDARD
    assert metadata.read_org_layouts(sf, list(STANDARD)) == before


def test_the_client_reads_in_batches_of_ten_and_raises_a_fault(sf, server):
    names = [f"Contact-Layout {n:02d}" for n in range(12)] + ["Contact-Contact Layout"]
    assert set(metadata.read_org_layouts(sf, names)) == {"Contact-Contact Layout"}
    assert sf.meter.calls["metadata soap"] == 2
    # an expired session faults INVALID_SESSION_ID: the client signs in again and reads once more
    requests.post(f"{server['base']}/admin/tokens/expire", verify=server["ca"], timeout=30).raise_for_status()
    assert set(metadata.read_org_layouts(sf, ["Lead-Lead Layout"])) == {"Lead-Lead Layout"}
    assert sf.meter.calls["metadata soap"] == 4 and sf.meter.calls["oauth"] == 2
    server["em"].faults.set_profile("limits", after=0)
    try:
        with pytest.raises(ApiLimitExceeded, match="REQUEST_LIMIT_EXCEEDED"):
            metadata.read_org_layouts(sf, ["Contact-Contact Layout"])
    finally:
        server["em"].faults.set_profile("none")
