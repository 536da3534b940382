"""The `cmsf` command: one entry point for setting up, serving, working and configuring cmsf.

The parser is here, with `main`; each group of commands is a module of this package (setup, status, config,
connect, sync, imports, api_tokens, sandbox, backup), and what they share is in `common` and `arguments`."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from cmsf.cli.api_tokens import cmd_api_token_create, cmd_api_token_list, cmd_api_token_revoke
from cmsf.cli.arguments import (
    ANY_PORT,
    API_RATE,
    PORT,
    SEED,
    WORKERS,
    Parser,
    console_url,
    folder,
    host,
    new_file,
    readable_file,
    text,
)
from cmsf.cli.backup import cmd_backup, cmd_restore
from cmsf.cli.common import CliError, setup_django
from cmsf.cli.config import cmd_config_export, cmd_config_import
from cmsf.cli.connect import cmd_connect
from cmsf.cli.imports import cmd_import_run
from cmsf.cli.sandbox import cmd_bench, cmd_demo, cmd_sandbox
from cmsf.cli.setup import cmd_check, cmd_doctor, cmd_init, cmd_serve, cmd_upgrade, cmd_worker
from cmsf.cli.status import cmd_status
from cmsf.cli.sync import cmd_forget, cmd_sync, cmd_watch

__all__ = ["CliError", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="cmsf", description="cmsf keeps Salesforce in step with Campaign Monitor.")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    def command(name: str, summary: str, func: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=summary, description=summary)
        sub.set_defaults(func=func)
        return sub

    init = command("init", "set up the data folder, keys, database, permission sets and a first admin", cmd_init)
    init.add_argument("--admin-email", type=text, help="the first admin's email, which is also the sign-in name")
    init.add_argument("--admin-password", help="the first admin's password (prompted for when not given)")
    init.add_argument("--no-input", action="store_true", help="never prompt (for scripts)")
    init.add_argument(
        "--public-url",
        metavar="URL",
        help="the https address Campaign Monitor reaches cmsf at (stored; an empty value clears it); when never "
        "stored, CMSF_PUBLIC_URL seeds it",
    )

    srv = command("serve", "serve the console, with the queue worker and scheduler unless --no-worker", cmd_serve)
    srv.add_argument("--host", type=host, default="127.0.0.1")
    srv.add_argument("--port", type=PORT, default=8000)
    srv.add_argument("--no-worker", action="store_true", help="serve the console only (web machines)")
    srv.add_argument("--workers", type=WORKERS, default=1, help="queue worker threads (default 1)")

    chk = command("check", "check the installation; with --deploy, that it is ready to face the internet", cmd_check)
    chk.add_argument("--deploy", action="store_true", help="Django's deployment checks and cmsf's (docs/security.md)")

    doc = command("doctor", "check the installation end to end, one line a check with its fix (exit 1: a check "
                  "failed)", cmd_doctor)  # fmt: skip
    doc.add_argument("--json", action="store_true", help="print the checks as JSON")
    upg = command("upgrade", "after installing a new version: apply the migrations, then run the checks (exit 1 on "
                  "an error)", cmd_upgrade)  # fmt: skip
    upg.add_argument("--plan", action="store_true", help="list the migrations to apply and change nothing")

    wrk = command("worker", "run a queue consumer, with the scheduler unless --no-scheduler", cmd_worker)
    wrk.add_argument("--no-scheduler", action="store_true", help="exactly one machine should run the scheduler")
    wrk.add_argument("--workers", type=WORKERS, default=2, help="worker threads (default 2)")

    st = command("status", "show the sync settings, next run, connections, clients and plan", cmd_status)
    st.add_argument("--json", action="store_true", help="print JSON")

    config = commands.add_parser("config", help="export or import every setting as one YAML or JSON document")
    config_commands = config.add_subparsers(title="config commands", metavar="ACTION", required=True)
    export = config_commands.add_parser("export", help="print every setting")
    export.add_argument("--format", choices=("yaml", "json"), default="yaml")
    export.set_defaults(func=cmd_config_export)
    imp = config_commands.add_parser("import", help="apply a YAML or JSON document in one audited transaction")
    imp.add_argument("file", help="the document, or - for standard input")
    imp.add_argument("--actor", type=text, help="who is making the change, for the audit log (default: cli:USER)")
    imp.set_defaults(func=cmd_config_import)

    demo = command("demo", "set up cmsf with the sandbox, connect, sync, and serve the console", cmd_demo)
    demo.add_argument("--dataset", default="small", help="the sandbox dataset (default small)")
    demo.add_argument("--host", type=host, default="127.0.0.1")
    demo.add_argument("--port", type=PORT, default=8000)

    syn = command("sync", "run the primary sync now, in the foreground, for every selected client (exit status 0: "
                  "all written; 1: a run failed; 3: some records were refused, see maintenance)", cmd_sync)  # fmt: skip
    syn.add_argument("--client", type=text, help="only this Campaign Monitor client id")
    syn.add_argument("--full", action="store_true",
                     help="a full Campaign Monitor sync: remove what cmsf wrote to its objects, then import everything")  # fmt: skip
    syn.add_argument("--dry-run", action="store_true", help="read everything, write nothing, report what would change")
    syn.add_argument("--yes", action="store_true", help="run --full without asking (needed without a terminal)")
    syn.add_argument("--json", action="store_true", help="print a JSON summary")

    wat = command("watch", "push what changed in Salesforce to Campaign Monitor (every interval, or --once)",
                  cmd_watch)  # fmt: skip
    wat.add_argument("--once", action="store_true",
                     help="one run, then exit: 0 done, 1 failed, 3 some records could not be handled")  # fmt: skip
    wat.add_argument("--json", action="store_true", help="print a JSON summary of each run")

    fgt = command("forget", "forget one person: cmsf's records of an email in Salesforce and in cmsf", cmd_forget)
    fgt.add_argument("email", help="the email address to forget")
    fgt.add_argument("--in-campaign-monitor", action="store_true",
                     help="also set the subscriber to Deleted in every list of the selected clients")  # fmt: skip
    fgt.add_argument("--actor", type=text, help="who asks, for the audit log (default: cli:USER)")
    fgt.add_argument("--json", action="store_true", help="print a JSON summary")

    imports = commands.add_parser("import", help="import wizards: Salesforce records into Campaign Monitor lists")
    import_commands = imports.add_subparsers(title="import commands", metavar="ACTION", required=True)
    irun = import_commands.add_parser("run", help="run an import wizard now, in the foreground")
    irun.add_argument("name", help="the wizard's name")
    irun.add_argument("--dry-run", action="store_true",
                      help="a preview: read everything, send nothing, list who a Remove wizard would delete")  # fmt: skip
    irun.add_argument("--yes", action="store_true", help="run a wizard that removes subscribers without asking")
    irun.add_argument("--json", action="store_true", help="print a JSON summary")
    irun.set_defaults(func=cmd_import_run)

    tok = commands.add_parser("api-token", help="the HTTP API's tokens, for Salesforce Flows: create, list, revoke")
    token_commands = tok.add_subparsers(title="api-token commands", metavar="ACTION", required=True)
    tcreate = token_commands.add_parser("create", help="make a token and print it once (only its hash is kept)")
    tcreate.add_argument("name", type=text, help="the token's name, such as salesforce-flows")
    tcreate.add_argument("--scope", required=True, action="extend", nargs="+", choices=("send", "subscribers", "imports"),
                         help="what the token may do (one or more)")  # fmt: skip
    tcreate.add_argument("--rate", type=API_RATE, default=60, help="calls a minute at most (default 60)")
    tcreate.add_argument("--actor", type=text, help="who is making it, for the audit log (default: cli:USER)")
    tcreate.set_defaults(func=cmd_api_token_create)
    tlist = token_commands.add_parser("list", help="list the tokens: name, first characters, scopes, last use")
    tlist.add_argument("--json", action="store_true", help="print JSON")
    tlist.set_defaults(func=cmd_api_token_list)
    trevoke = token_commands.add_parser("revoke", help="revoke a token: its calls get 401 from now on")
    trevoke.add_argument("name", type=text, help="the token's name")
    trevoke.add_argument("--actor", type=text, help="who is revoking it, for the audit log (default: cli:USER)")
    trevoke.set_defaults(func=cmd_api_token_revoke)

    bench = command("bench", "measure a full, a no-change and an incremental sync against the sandbox", cmd_bench)
    bench.add_argument("--dataset", required=True, help="dataset size: tiny, small, medium or large")
    bench.add_argument("--json", type=new_file, help="write the figures to this JSON file")
    bench.add_argument(
        "--compare", type=readable_file, help="a JSON result of a smaller dataset, for the peak memory growth target"
    )
    bench.add_argument("--seed", type=SEED, default=1, help="dataset seed (default 1)")
    bench.add_argument("--keep", action="store_true", help="keep the working folder (logs, cmsf's state)")
    bench.add_argument(
        "--campaign-members",
        action="store_true",
        help="auto-create a Salesforce campaign for every campaign, with statistics and campaign members",
    )

    con = command("connect", "connect Campaign Monitor and Salesforce (from a sandbox info file, or each with options)",
                  cmd_connect)  # fmt: skip
    con.add_argument(
        "--sandbox-info", type=readable_file, help="the info JSON `cmsf sandbox` writes: connects both emulators"
    )
    con.set_defaults(service=None)
    services = con.add_subparsers(title="services", metavar="SERVICE")
    cm_parser = services.add_parser("campaign-monitor", help="connect a Campaign Monitor account with its API key")
    cm_parser.set_defaults(service="campaign-monitor")
    cm_parser.add_argument(
        "--api-key", required=True, type=text, help="an API key of a full-access Campaign Monitor user"
    )
    cm_parser.add_argument("--base-url", help="the API's base URL (default: Campaign Monitor's own)")
    cm_parser.add_argument(
        "--ca-file", type=readable_file, help="a PEM bundle to verify the API's certificate (default: the system's)"
    )
    sf_parser = services.add_parser("salesforce", help="connect a Salesforce org through a connected app")
    sf_parser.set_defaults(service="salesforce")
    sf_parser.add_argument("--flow", choices=("jwt_bearer", "client_credentials"), required=True)
    sf_parser.add_argument("--login-domain", choices=("production", "sandbox", "my_domain", "custom"),
                           default="production")  # fmt: skip
    sf_parser.add_argument("--my-domain", help="the My Domain host, such as acme.my.salesforce.com")
    sf_parser.add_argument("--login-url", help="the login URL when --login-domain custom")
    sf_parser.add_argument("--client-id", required=True, type=text, help="the connected app's consumer key")
    sf_parser.add_argument("--client-secret", type=text, help="the consumer secret (client credentials flow)")
    sf_parser.add_argument("--yes", action="store_true",
                           help="reconnect even when a feature would stop (without asking)")  # fmt: skip
    sf_parser.add_argument("--username", type=text, help="the Salesforce Sync User's username (JWT bearer flow)")
    sf_parser.add_argument(
        "--private-key-file", type=readable_file, help="the PEM private key of the app's certificate (JWT bearer)"
    )
    sf_parser.add_argument(
        "--ca-file", type=readable_file, help="a PEM bundle to verify Salesforce's certificate (default: the system's)"
    )

    bkp = command("backup", "write a backup (the SQLite database while cmsf runs, the keys, a manifest) into a "
                  "folder that is empty or new", cmd_backup)  # fmt: skip
    bkp.add_argument("path", type=folder, help="the backup folder: empty, or not there yet")
    rst = command("restore", "restore a backup into an empty data folder, checking every file", cmd_restore)
    rst.add_argument("path", type=text, help="the folder `cmsf backup` wrote")
    rst.set_defaults(django=False)

    sbx = command("sandbox", "serve a generated Campaign Monitor account over TLS on loopback, for tests", cmd_sandbox)
    sbx.add_argument("--dataset", required=True, help="dataset size: tiny, small, medium or large")
    sbx.add_argument("--seed", type=SEED, default=1, help="dataset seed (default 1)")
    sbx.add_argument(
        "--faults",
        default="none",
        help="fault profile: none, flaky, slow (Campaign Monitor) or limits (Salesforce); default none",
    )
    sbx.add_argument(
        "--cm-port", type=ANY_PORT, default=0, help="Campaign Monitor emulator port (default 0: a free port)"
    )
    sbx.add_argument("--sf-port", type=ANY_PORT, default=0, help="Salesforce emulator port (default 0: a free port)")
    sbx.add_argument(
        "--info-json", required=True, type=new_file, help="where to write the connection details once serving"
    )
    sbx.add_argument("--dir", type=folder, help="folder for the certificates (default: sandbox/tls in the data folder)")
    sbx.add_argument(
        "--console-url",
        type=console_url,
        default="http://127.0.0.1:8000",
        help="the console's address, whose OAuth callbacks both emulators accept, so its Setup page connects through "
        "OAuth (default http://127.0.0.1:8000, where `cmsf serve` listens)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 0
    from cmsf.lib.env import EnvError
    from cmsf.lib.keys import EncryptionKeyError
    from cmsf.lib.memory import tune_allocator

    tune_allocator()  # before the first big buffer: syncs and the console run for hours
    os.umask(0o077)  # every file and folder cmsf makes (data folder, database, queue, keys, outbox) its owner's only
    try:
        if not getattr(args, "django", True):  # cmsf restore: sets Django up itself, once the data folder is filled
            return func(args)
        setup_django()
        from cmsf.configuration import ConfigError

        try:
            return func(args)
        except ConfigError as error:
            if len(error.errors) == 1:  # one line, like every other error
                print(f"cmsf: error: the document was not imported: {error.errors[0]}", file=sys.stderr)
                return 2
            print("cmsf: the document was not imported; nothing changed:", file=sys.stderr)
            for line in error.errors:
                print(f"  {line}", file=sys.stderr)
            return 2
    except (CliError, EncryptionKeyError, EnvError) as error:
        print(f"cmsf: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
