"""No bad argument ends in a traceback (issue 18, found 6): every command and option of `cmsf --help` is given a bad
value; each exits 2 with one line on stderr, `cmsf: error: ...`.

Values that argparse refuses are run in this process through `cmsf.cli.main` (argparse refuses them before anything
else runs, so this is what the command does); values refused by the command itself run as real `cmsf` processes on
a freshly initialized data folder. A test walks the parser so that a new option without a bad case fails here."""

from __future__ import annotations

import argparse
import os
import subprocess

import pytest

from cmsf.cli import build_parser, main
from tests.processes import CMSF

MISSING = "/nonexistent/cmsf/file.pem"
NO_FOLDER = "/nonexistent/cmsf/out.json"
SF = ["connect", "salesforce", "--flow", "client_credentials", "--client-id", "app"]
CM = ["connect", "campaign-monitor", "--api-key", "key"]

# (command, option or positional, argv): refused by argparse, run in this process
PARSED = [
    ("", "COMMAND", ["no-such-command"]),
    ("init", "--admin-email", ["init", "--admin-email", ""]),
    ("serve", "--host", ["serve", "--host", "no such host!"]),
    ("serve", "--port", ["serve", "--port", "99999"]),
    ("serve", "--port", ["serve", "--port", "eighty"]),
    ("serve", "--port", ["serve", "--port", "0"]),
    ("serve", "--workers", ["serve", "--workers", "0"]),
    ("worker", "--workers", ["worker", "--workers", "-3"]),
    ("doctor", "--json", ["doctor", "--json=yes"]),
    ("config", "ACTION", ["config"]),
    ("config export", "--format", ["config", "export", "--format", "xml"]),
    ("config import", "file", ["config", "import"]),
    ("config import", "--actor", ["config", "import", "-", "--actor", ""]),
    ("demo", "--host", ["demo", "--host", ""]),
    ("demo", "--port", ["demo", "--port", "65536"]),
    ("sync", "--client", ["sync", "--client", ""]),
    ("sync", "--client", ["sync", "--client", "  "]),
    ("forget", "email", ["forget"]),
    ("forget", "--actor", ["forget", "a@example.org", "--actor", ""]),
    ("import", "ACTION", ["import"]),
    ("import run", "name", ["import", "run"]),
    ("api-token", "ACTION", ["api-token"]),
    ("api-token create", "name", ["api-token", "create", " ", "--scope", "send"]),
    ("api-token create", "--scope", ["api-token", "create", "flows", "--scope", "everything"]),
    ("api-token create", "--scope", ["api-token", "create", "flows"]),
    ("api-token create", "--rate", ["api-token", "create", "flows", "--scope", "send", "--rate", "0"]),
    ("api-token create", "--rate", ["api-token", "create", "flows", "--scope", "send", "--rate", "many"]),
    ("api-token create", "--actor", ["api-token", "create", "flows", "--scope", "send", "--actor", ""]),
    ("api-token list", "--json", ["api-token", "list", "--json=yes"]),
    ("api-token revoke", "name", ["api-token", "revoke"]),
    ("api-token revoke", "--actor", ["api-token", "revoke", "flows", "--actor", ""]),
    ("bench", "--dataset", ["bench"]),
    ("bench", "--seed", ["bench", "--dataset", "tiny", "--seed", "-1"]),
    ("bench", "--json", ["bench", "--dataset", "tiny", "--json", NO_FOLDER]),
    ("bench", "--compare", ["bench", "--dataset", "tiny", "--compare", MISSING]),
    ("connect", "--sandbox-info", ["connect", "--sandbox-info", MISSING]),
    ("connect campaign-monitor", "--api-key", ["connect", "campaign-monitor", "--api-key", ""]),
    ("connect campaign-monitor", "--ca-file", [*CM, "--ca-file", MISSING]),
    ("connect salesforce", "--flow", ["connect", "salesforce", "--flow", "password", "--client-id", "app"]),
    ("connect salesforce", "--login-domain", [*SF, "--login-domain", "elsewhere"]),
    ("connect salesforce", "--client-id", ["connect", "salesforce", "--flow", "jwt_bearer", "--client-id", ""]),
    ("connect salesforce", "--username", [*SF, "--username", ""]),
    ("connect salesforce", "--client-secret", [*SF, "--client-secret", ""]),
    ("connect salesforce", "--private-key-file", [*SF, "--private-key-file", MISSING]),
    ("connect salesforce", "--ca-file", [*SF, "--ca-file", "/"]),
    ("sandbox", "--seed", ["sandbox", "--dataset", "tiny", "--info-json", "i.json", "--seed", "x"]),
    ("sandbox", "--cm-port", ["sandbox", "--dataset", "tiny", "--info-json", "i.json", "--cm-port", "99999"]),
    ("sandbox", "--sf-port", ["sandbox", "--dataset", "tiny", "--info-json", "i.json", "--sf-port", "-1"]),
    ("sandbox", "--info-json", ["sandbox", "--dataset", "tiny", "--info-json", NO_FOLDER]),
    ("sandbox", "--dir", ["sandbox", "--dataset", "tiny", "--info-json", "i.json", "--dir", "/dev/null/tls"]),
    ("backup", "path", ["backup", "/dev/null/backup"]),
    ("backup", "path", ["backup", ""]),
    ("restore", "path", ["restore", ""]),
    ("sandbox", "--console-url", ["sandbox", "--dataset", "tiny", "--info-json", "i.json", "--console-url", "ftp://x"]),
]

# (command, option or positional, argv, what the message says): refused by the command, run as processes
LATIN1, NOT_JSON = "settings-latin1.yaml", "info-not-json.json"
COMMANDED = [
    ("init", "--public-url", ["init", "--public-url", "ftp://cmsf.example.org"], "--public-url"),
    ("init", "--admin-password", ["init", "--admin-email", "a@example.org", "--admin-password", "pw", "--no-input"],
     "--admin-password"),
    ("init", "--admin-email", ["init", "--admin-email", "not-an-address", "--admin-password", "x", "--no-input"],
     "--admin-email"),
    ("config import", "file", ["config", "import", LATIN1], "not UTF-8"),
    ("forget", "email", ["forget", "not-an-address"], "not an email address"),
    ("import run", "name", ["import", "run", "no such wizard"], "no import wizard"),
    ("api-token create", "name", ["api-token", "create", "flows/2", "--scope", "send"], "a token's name"),
    ("api-token revoke", "name", ["api-token", "revoke", "nobody"], "no token is named"),
    ("connect", "--sandbox-info", ["connect", "--sandbox-info", NOT_JSON], "not JSON"),
    ("connect campaign-monitor", "--base-url", [*CM, "--base-url", "ftp://api.createsend.com/api/v3.3"],
     "--base-url: Enter an https URL"),
    ("connect salesforce", "--login-url",
     [*SF, "--login-domain", "custom", "--login-url", "http://169.254.169.254/"], "--login-url: Enter an https URL"),
    ("connect salesforce", "--login-url", [*SF, "--login-domain", "custom", "--login-url", "https://exa mple.com"],
     "--login-url"),
    ("connect salesforce", "--my-domain", [*SF, "--login-domain", "my_domain", "--my-domain", "acme.my.salesforce"],
     "--my-domain"),
    ("bench", "--dataset", ["bench", "--dataset", "huge"], "--dataset"),
    ("sandbox", "--dataset", ["sandbox", "--dataset", "huge", "--info-json", "i.json"], "--dataset"),
    ("sandbox", "--faults", ["sandbox", "--dataset", "tiny", "--faults", "chaos", "--info-json", "i.json"], "--faults"),
    ("serve", "--port", ["serve", "--port", "99999"], "--port"),  # argparse's refusal, as the real command prints it
    ("sync", "--client", ["sync", "--client", ""], "--client"),
    ("sync", "--full", ["sync", "--full"], "add --yes"),  # it purges: without a terminal, only with --yes
    ("backup", "path", ["backup", "."], "backup: the backup folder"),  # not empty
    ("restore", "path", ["restore", "no-such-backup"], "restore: the data folder"),  # an installation is there
    ("demo", "--dataset", ["demo", "--dataset", "huge", "--port", "8765"], "--dataset"),  # last: it sets up a demo
]  # fmt: skip


def _options(parser: argparse.ArgumentParser, path: str = "") -> set[tuple[str, str]]:
    """Every (command, option or positional) of the parser that takes a value."""
    found = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found.add((path, action.metavar or action.dest))
            for name, sub in action.choices.items():
                found |= _options(sub, f"{path} {name}".strip())
        elif action.nargs != 0 and not isinstance(action, argparse._HelpAction):
            found.add((path, action.option_strings[0] if action.option_strings else action.dest))
    return found


def test_every_option_that_takes_a_value_has_a_bad_case():
    covered = {(command, option) for command, option, *_ in PARSED + COMMANDED}
    covered.add(("connect", "SERVICE"))  # optional: `cmsf connect` alone asks for --sandbox-info or a service
    assert _options(build_parser()) - covered == set()


@pytest.mark.parametrize(("command", "option", "argv"), PARSED, ids=[" ".join(c[2]) or "-" for c in PARSED])
def test_a_value_argparse_refuses_is_one_line(command, option, argv, capsys):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    err = capsys.readouterr().err
    assert exited.value.code == 2, err
    assert err.startswith("cmsf: error: ") and err.count("\n") == 1, err
    assert option.lstrip("-").split("-")[0] in err.lower() or option.isupper(), err


def test_a_value_the_command_refuses_is_one_line_in_a_real_process(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CMSF_", "DATABASE_URL", "DJANGO_"))}
    env["CMSF_DATA_DIR"] = str(tmp_path / "data")
    (tmp_path / LATIN1).write_bytes("sync:\n  import_frequency: daily # d\xe9j\xe0\n".encode("latin-1"))
    (tmp_path / NOT_JSON).write_text("{campaign_monitor: ")
    assert subprocess.run([CMSF, "init", "--no-input"], env=env, capture_output=True, timeout=120).returncode == 0
    failures = []
    for _, _, argv, says in COMMANDED:
        result = subprocess.run([CMSF, *argv], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
                                stdin=subprocess.DEVNULL)  # fmt: skip
        err = result.stderr
        if result.returncode != 2 or not err.startswith("cmsf: error: ") or err.count("\n") != 1 or says not in err:
            failures.append(f"{' '.join(argv)} -> exit {result.returncode}: {err[-600:]}")
        assert "Traceback" not in err, err
    assert failures == []
