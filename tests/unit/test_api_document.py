"""The HTTP API's OpenAPI document, built from the one declaration of its operations: valid OpenAPI 3.0
(openapi-spec-validator), within what Salesforce External Services reads (JSON bodies only, no oneOf, anyOf, allOf
or not, an operationId on every operation, request and response bodies as named schemas), and the same routes as
the URL conf. API tokens are redacted from the logs."""

from __future__ import annotations

import json
from typing import Any

from jsonschema import Draft4Validator
from openapi_spec_validator import validate

from cmsf.api.operations import OPERATIONS, PREFIX, SCHEMAS, Operation, Parameter, document
from cmsf.lib.redact import redact


def _walk(value: Any) -> Any:
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def test_the_document_is_valid_openapi_3_0():
    spec = document("https://cmsf.example.org")
    validate(spec)
    assert spec["openapi"].startswith("3.0.") and spec["servers"] == [{"url": "https://cmsf.example.org"}]
    assert spec["components"]["securitySchemes"] == {"bearerAuth": {"type": "http", "scheme": "bearer"}}
    assert spec["security"] == [{"bearerAuth": []}]


def test_the_document_keeps_to_what_external_services_reads():
    spec = document("https://cmsf.example.org")
    for node in _walk(spec):
        assert not {"oneOf", "anyOf", "allOf", "not", "nullable"} & set(node), node
        if "content" in node:
            assert set(node["content"]) == {"application/json"}
            assert set(node["content"]["application/json"]["schema"]) == {"$ref"}  # a named schema
    ids = [op["operationId"] for path in spec["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids)) == len(OPERATIONS)
    for name, schema in SCHEMAS.items():
        Draft4Validator.check_schema(schema)
        assert name.isidentifier() and name[0].isupper()
    json.dumps(spec)  # plain JSON through and through


def test_each_operation_is_one_declaration_of_path_route_and_schemas():
    spec = document("https://cmsf.example.org")
    for operation in OPERATIONS:
        entry = spec["paths"][PREFIX + operation.path][operation.method.lower()]
        assert entry["operationId"] == operation.operation_id
        assert operation.scope in entry["description"]
        for status, (_, schema) in operation.responses.items():
            assert entry["responses"][str(status)]["content"]["application/json"]["schema"]["$ref"].endswith(schema)
    run = Operation("x", "GET", "/runs/{id}/of/{name}", "x", "imports", {},
                    parameters=(Parameter("id", "integer", ""), Parameter("name", "string", "")))  # fmt: skip
    assert run.django_route == "runs/<int:id>/of/<str:name>"


def test_api_tokens_are_redacted_wherever_they_are_written():
    token = "cmsf_" + "Ab1-_" * 8 + "xyz"
    assert len(token) == 48
    assert redact(f"called with {token}.") == "called with cmsf_[redacted]."
    assert redact(f"Authorization: Bearer {token}") == "Authorization: Bearer [redacted]"
    assert redact("cmsf_sandbox.campaign_monitor") == "cmsf_sandbox.campaign_monitor"  # module names stay


def test_the_sfdx_source_registers_the_api_through_its_named_credential():
    """The External Service reads the document the API serves, through the Named Credential, whose External
    Credential sends the bearer token of its principal, which the permission set grants."""
    import xml.etree.ElementTree as ET
    from pathlib import Path

    import cmsf

    base = Path(cmsf.__file__).parent / "sfdx" / "flows" / "main" / "default"
    ns = {"m": "http://soap.sforce.com/2006/04/metadata"}
    project = json.loads((base.parents[2] / "sfdx-project.json").read_text())
    assert {"path": "flows", "default": False} in project["packageDirectories"]

    registration = ET.parse(base / "externalServiceRegistrations" / "CMSF.externalServiceRegistration-meta.xml")
    assert registration.findtext("m:schemaUrl", namespaces=ns) == f"{PREFIX}/openapi.json"
    assert registration.findtext("m:schemaType", namespaces=ns) == "OpenApi3"
    named = registration.findtext("m:namedCredentialReference", namespaces=ns)
    credential = ET.parse(base / "namedCredentials" / f"{named}.namedCredential-meta.xml")
    external = credential.findtext(".//m:externalCredential", namespaces=ns)
    source = ET.parse(base / "externalCredentials" / f"{external}.externalCredential-meta.xml")
    parameters = {p.findtext("m:parameterType", namespaces=ns): p for p in
                  source.findall("m:externalCredentialParameters", namespaces=ns)}  # fmt: skip
    header = parameters["AuthHeader"]
    assert header.findtext("m:parameterName", namespaces=ns) == "Authorization"
    assert f"'Bearer ' & $Credential.{external}.Token" in header.findtext("m:parameterValue", namespaces=ns)
    principal = parameters["NamedPrincipal"].findtext("m:parameterName", namespaces=ns)
    permission_set = ET.parse(base / "permissionsets" / "CMSF_Flow_Actions.permissionset-meta.xml")
    granted = permission_set.findtext(".//m:externalCredentialPrincipal", namespaces=ns)
    assert granted == f"{external}-{principal}"
