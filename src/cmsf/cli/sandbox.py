"""The commands that need the cmsf-sandbox distribution: sandbox, demo and bench. Each says how to install it when
it is missing."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cmsf.cli.common import CliError
from cmsf.cli.connect import connect_sandbox
from cmsf.cli.setup import initialize, serve, store_public_url
from cmsf.cli.sync import sync_now

SANDBOX_MISSING = (
    "cmsf {command} needs the cmsf-sandbox distribution beside cmsf: pip install ./sandbox (from cmsf's source)"
)


def _sandbox_module(name: str, command: str) -> Any:
    """cmsf_sandbox.<name>, or one line saying how to install the sandbox when it is not installed."""
    import importlib

    try:
        return importlib.import_module(f"cmsf_sandbox.{name}")
    except ModuleNotFoundError as error:
        if error.name and (error.name == "cmsf_sandbox" or error.name.startswith("cmsf_sandbox.")):
            raise CliError(SANDBOX_MISSING.format(command=command)) from None
        raise


def cmd_sandbox(args: argparse.Namespace) -> int:
    command = _sandbox_module("command", "sandbox")
    SandboxError, run_sandbox = command.SandboxError, command.run_sandbox

    try:
        return run_sandbox(
            dataset=args.dataset,
            seed=args.seed,
            faults=args.faults,
            cm_port=args.cm_port,
            sf_port=args.sf_port,
            info_json=Path(args.info_json),
            cert_dir=Path(args.dir) if args.dir else None,
            console_url=args.console_url,
            announce=lambda line: print(line, flush=True),
        )
    except SandboxError as error:
        raise CliError(str(error)) from None


def cmd_demo(args: argparse.Namespace) -> int:
    """Everything on a fresh machine: init, the sandbox, connect, a first sync, then the console (see
    cmsf_sandbox.demo); this command hands it the steps that are cmsf's own."""
    demo = _sandbox_module("demo", "demo")
    SandboxError = _sandbox_module("command", "demo").SandboxError

    def public_url(address: str) -> str:
        try:
            return store_public_url(address, actor="demo")
        except CliError as error:
            return f"real time is off in the demo: {error}"

    steps = demo.DemoSteps(
        initialize=initialize,
        connect=connect_sandbox,
        public_url=public_url,
        sync=lambda: sync_now(client_id=None, dry_run=False, quiet=False),
        serve=lambda: serve(host=args.host, port=args.port, worker=True, workers=1),
    )
    try:
        return int(demo.run_demo(steps, dataset=args.dataset, host=args.host, port=args.port))
    except SandboxError as error:
        raise CliError(str(error)) from None


def cmd_bench(args: argparse.Namespace) -> int:
    """Measure the primary sync against the sandbox (see cmsf_sandbox.benchmark); 1 only when a sync fails."""
    benchmark = _sandbox_module("benchmark", "bench")
    BenchError, run_bench = benchmark.BenchError, benchmark.run_bench

    try:
        return run_bench(
            dataset=args.dataset,
            json_path=Path(args.json) if args.json else None,
            compare=Path(args.compare) if args.compare else None,
            seed=args.seed,
            keep=args.keep,
            campaign_members=args.campaign_members,
        )
    except BenchError as error:
        raise CliError(str(error)) from None
