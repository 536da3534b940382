"""The JSON that `cmsf ... --json` prints is described by a JSON Schema under docs/schemas (docs/cli-json.md): each
schema is valid, every command with --json has one, and real outputs follow them (here the import run's; the
others in tests/integration/test_cli_sync_output.py, from commands run against the sandbox)."""

from __future__ import annotations

import argparse
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from cmsf.cli import build_parser

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"
NOT_PRINTED = {"bench"}  # `cmsf bench --json FILE` writes its figures to a file (docs/performance.md)


@cache
def schema(command: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / f"cli-{command}.json").read_text())


def valid(command: str, document: Any) -> None:
    """Fail, naming every place, unless `document` follows the schema of `cmsf <command> --json`."""
    errors = [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
              for e in Draft202012Validator(schema(command)).iter_errors(document)]  # fmt: skip
    assert errors == [], f"cmsf {command} --json does not follow docs/schemas/cli-{command}.json: {errors}"


def _json_commands(parser: argparse.ArgumentParser, path: str = "") -> set[str]:
    found = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found |= _json_commands(sub, f"{path} {name}".strip())
        elif "--json" in action.option_strings:
            found.add(path.replace(" ", "-"))
    return found


def test_every_command_that_prints_json_has_a_schema():
    commands = _json_commands(build_parser()) - NOT_PRINTED
    assert commands >= {"status", "doctor", "sync"}
    assert {p.name for p in SCHEMAS.glob("cli-*.json")} == {f"cli-{c}.json" for c in commands}


@pytest.mark.parametrize("path", sorted(SCHEMAS.glob("cli-*.json")), ids=lambda p: p.name)
def test_each_schema_is_a_valid_json_schema(path):
    Draft202012Validator.check_schema(json.loads(path.read_text()))


def test_an_import_runs_summary_follows_its_schema():
    from cmsf.audience.models import ImportRun, ImportWizard
    from cmsf.cli.imports import import_summary

    run = ImportRun(wizard=ImportWizard(name="Donors"), dry_run=True, status=ImportRun.Status.PARTIAL, read=12,
                    refused={"no email": 2}, problems=[{"key": "003x", "reason": "invalid"}],
                    would_remove=["a@example.org"])  # fmt: skip
    valid("import-run", json.loads(json.dumps(import_summary(run))))
    with pytest.raises(AssertionError, match="read"):
        valid("import-run", {**import_summary(run), "read": "12"})
