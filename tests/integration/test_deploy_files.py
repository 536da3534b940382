"""The files of deploy/ (docs/production.md): the systemd units parse, run real `cmsf` commands with their hardening,
and pass `systemd-analyze verify` when it is installed; the environment file names only variables cmsf reads, and
what it sets is what `cmsf check --deploy` wants; Caddy and nginx forward to the port `cmsf serve` listens on, from
the address cmsf trusts (and pass `caddy validate` and `nginx -t` when those are installed)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

import cmsf
from cmsf.cli import build_parser
from tests.processes import CMSF

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SYSTEMD = DEPLOY / "systemd"
UNITS = ["cmsf-serve.service", "cmsf-worker.service", "cmsf-backup.service", "cmsf-backup.timer"]
INSTALLED_CMSF = "/opt/cmsf/bin/cmsf"
HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "RestrictSUIDSGID": "yes",
    "CapabilityBoundingSet": "",
    "UMask": "0077",
}


def unit(name: str) -> dict[str, dict[str, list[str]]]:
    """A unit file as systemd reads it: sections of keys, each with its values in order (keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for number, raw in enumerate((SYSTEMD / name).read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        assert not line.endswith("\\"), f"{name}:{number}: no continuation lines"
        if line.startswith("["):
            assert line.endswith("]"), f"{name}:{number}: {line}"
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None and "=" in line, f"{name}:{number}: not a key=value line in a section: {line}"
        key, value = line.split("=", 1)
        assert re.fullmatch(r"[A-Za-z]+", key.strip()), f"{name}:{number}: {key}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def environment_file() -> tuple[dict[str, str], set[str]]:
    """cmsf.env: the variables it sets, and every variable it names (set or commented out)."""
    active, named = {}, set()
    for number, line in enumerate((SYSTEMD / "cmsf.env").read_text().splitlines(), 1):
        assignment = re.fullmatch(r"(#)?([A-Z][A-Z0-9_]*)=(\S*)", line)
        if assignment:
            named.add(assignment[2])
            if not assignment[1]:
                active[assignment[2]] = assignment[3]
        else:
            assert line == "" or line.startswith("# "), f"cmsf.env:{number}: neither NAME=value nor a comment: {line}"
    return active, named


def variables_cmsf_reads() -> set[str]:
    source = Path(cmsf.__file__).parent
    pattern = re.compile(r"""(?:env_(?:str|bool|int|choice)\(|environ(?:\.get\(|\[))\s*["']([A-Z][A-Z0-9_]*)["']""")
    return {name for path in source.rglob("*.py") for name in pattern.findall(path.read_text())}


def cmsf_argv(command: str) -> list[str]:
    argv = shlex.split(command)
    assert argv[0] == INSTALLED_CMSF, command
    return argv[1:]


def serve_address() -> tuple[str, int]:
    args = build_parser().parse_args(cmsf_argv(unit("cmsf-serve.service")["Service"]["ExecStart"][0]))
    return args.host, args.port


DATA_DIR = environment_file()[0]["CMSF_DATA_DIR"]


@pytest.mark.parametrize("name", [u for u in UNITS if u.endswith(".service")])
def test_each_service_runs_cmsf_as_its_user_with_the_environment_file_and_the_hardening(name):
    service = unit(name)["Service"]
    assert service["User"] == ["cmsf"] and service["Group"] == ["cmsf"]
    assert service["EnvironmentFile"] == ["/etc/cmsf/cmsf.env"]
    assert service["WorkingDirectory"] == [DATA_DIR]
    for key, value in HARDENING.items():
        assert service.get(key) == [value], f"{name}: {key}={value}"
    writable = [path for line in service["ReadWritePaths"] for path in line.split()]
    assert DATA_DIR in writable, f"{name} may not write the data folder {DATA_DIR}"
    assert "@system-service" in service["SystemCallFilter"]


def test_serve_and_worker_run_real_cmsf_commands_in_the_state_directory():
    parser = build_parser()
    serve = parser.parse_args(cmsf_argv(unit("cmsf-serve.service")["Service"]["ExecStart"][0]))
    assert serve.func.__name__ == "cmd_serve" and serve.no_worker  # the worker is its own unit
    worker = parser.parse_args(cmsf_argv(unit("cmsf-worker.service")["Service"]["ExecStart"][0]))
    assert worker.func.__name__ == "cmd_worker" and not worker.no_scheduler  # one machine: it runs the scheduler
    assert unit("cmsf-worker.service")["Service"]["KillSignal"] == ["SIGINT"]  # huey's graceful stop
    for name in ("cmsf-serve.service", "cmsf-worker.service"):
        service = unit(name)["Service"]
        assert f"/var/lib/{service['StateDirectory'][0]}" == DATA_DIR and service["StateDirectoryMode"] == ["0700"]
        assert unit(name)["Install"]["WantedBy"] == ["multi-user.target"]


def test_the_timer_starts_the_backup_whose_command_writes_a_backup(tmp_path):
    timer = unit("cmsf-backup.timer")
    assert timer["Timer"]["OnCalendar"] and timer["Timer"]["Persistent"] == ["true"]
    assert timer["Install"]["WantedBy"] == ["timers.target"]
    service = unit("cmsf-backup.service")["Service"]
    assert service["Type"] == ["oneshot"]
    shell, flag, script = shlex.split(service["ExecStart"][0])
    assert (shell, flag) == ("/bin/sh", "-c")
    assert "/var/backups/cmsf" in [path for line in service["ReadWritePaths"] for path in line.split()]
    # The command as the service runs it (systemd turns %% into %), against a real installation.
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CMSF_", "DATABASE_URL", "DJANGO_"))}
    env["CMSF_DATA_DIR"] = str(data)
    assert subprocess.run([CMSF, "init", "--no-input"], env=env, capture_output=True, timeout=120).returncode == 0
    run = script.replace("%%", "%").replace(INSTALLED_CMSF, CMSF).replace("/var/backups/cmsf", str(tmp_path / "bk"))
    result = subprocess.run([shell, flag, run], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    (made,) = (tmp_path / "bk").iterdir()
    assert re.fullmatch(r"\d{8}T\d{6}Z", made.name)
    assert {p.name for p in made.iterdir()} == {"cmsf.sqlite3", "encryption.key", "secret.key", "manifest.json"}
    prune = shlex.split(service["ExecStartPost"][0])
    assert prune[:2] == ["/usr/bin/find", "/var/backups/cmsf"] and "-mtime" in prune


def test_the_environment_file_names_only_variables_cmsf_reads():
    active, named = environment_file()
    assert named - variables_cmsf_reads() == set()
    assert DATA_DIR == "/var/lib/cmsf"
    assert active["CMSF_HTTPS"] == "true" and active["CMSF_BEHIND_PROXY"] == "true"


def test_what_the_environment_file_sets_passes_cmsf_check_deploy(tmp_path):
    active, _ = environment_file()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CMSF_", "DATABASE_URL", "DJANGO_"))}
    env.update(active)
    env["CMSF_DATA_DIR"] = str(tmp_path / "data")  # the only difference: a folder this test may write
    assert subprocess.run([CMSF, "init", "--no-input"], env=env, capture_output=True, timeout=120).returncode == 0
    check = subprocess.run([CMSF, "check", "--deploy"], env=env, capture_output=True, text=True, timeout=120)
    assert check.returncode == 0 and "no warnings: ready to deploy" in check.stdout, check.stdout + check.stderr


def test_caddy_and_nginx_forward_to_the_port_cmsf_serves_from_an_address_cmsf_trusts():
    host, port = serve_address()
    trusted = environment_file()[0]["CMSF_TRUSTED_PROXIES"].split(",")
    assert host in trusted  # the proxy runs on this machine and reaches cmsf over loopback
    caddy = (DEPLOY / "Caddyfile").read_text()
    assert re.findall(r"^\s*reverse_proxy\s+(\S+)", caddy, re.M) == [f"{host}:{port}"]
    assert re.search(r"max_size\s+10MiB", caddy)  # CMSF_MAX_WEBHOOK_BODY_BYTES
    nginx = (DEPLOY / "nginx.conf").read_text()
    assert re.findall(r"^\s*server\s+(\S+);", nginx, re.M) == [f"{host}:{port}"]
    assert re.search(r"^\s*proxy_pass\s+http://cmsf;", nginx, re.M)
    assert re.search(r"^\s*proxy_set_header\s+X-Forwarded-For\s+\$remote_addr;", nginx, re.M)  # replaced, not added
    assert re.search(r"^\s*proxy_set_header\s+X-Forwarded-Proto\s+\$scheme;", nginx, re.M)
    assert re.search(r"^\s*proxy_set_header\s+Host\s+\$host;", nginx, re.M)
    assert re.search(r"^\s*client_max_body_size\s+10m;", nginx, re.M)
    assert re.search(r"^\s*listen\s+443\s+ssl", nginx, re.M) and "return 301 https://" in nginx


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verifies_the_units(tmp_path):
    # verify checks that each command exists: the units are copied with the cmsf of this environment in its place.
    for name in UNITS:
        (tmp_path / name).write_text((SYSTEMD / name).read_text().replace(INSTALLED_CMSF, CMSF))
    result = subprocess.run(
        ["systemd-analyze", "verify", *(str(tmp_path / name) for name in UNITS)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    said = result.stdout + result.stderr
    assert result.returncode == 0, said
    assert not [line for line in said.splitlines() if any(name in line for name in UNITS)], said  # no warning
    for name in UNITS:  # and the hardening, as systemd scores it (0 exposed least, 10 most; 1.5 as shipped)
        if not name.endswith(".service"):
            continue
        scored = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager", str(tmp_path / name)],
                                capture_output=True, text=True, timeout=120)  # fmt: skip
        level = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", scored.stdout)
        assert level and float(level[1]) <= 2.0, f"{name}: {scored.stdout[-300:]} {scored.stderr[-300:]}"


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed")
def test_nginx_accepts_the_site(tmp_path):
    from cmsf_sandbox.tls import generate_tls_files

    tls = generate_tls_files(tmp_path / "tls")
    site = (DEPLOY / "nginx.conf").read_text()
    site = site.replace("/etc/letsencrypt/live/cmsf.example.org/fullchain.pem", str(tls.cert_file))
    site = site.replace("/etc/letsencrypt/live/cmsf.example.org/privkey.pem", str(tls.key_file))
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log stderr;\nevents {{}}\n"
        f"http {{\n access_log off;\n client_body_temp_path {tmp_path}/body;\n include {tmp_path}/site.conf;\n}}\n"
    )
    result = subprocess.run(["nginx", "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(shutil.which("caddy") is None, reason="caddy is not installed")
def test_caddy_accepts_the_caddyfile(tmp_path):
    env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)}
    result = subprocess.run(["caddy", "validate", "--adapter", "caddyfile", "--config", str(DEPLOY / "Caddyfile")],
                            env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr


GUIDE = ROOT / "docs" / "production.md"
WRITTEN_BESIDE = {"upgrade", "doctor"}  # commands the guide names that other parts of issue 19 add to the parser


def test_the_readme_links_the_production_guide_near_the_top():
    head = (ROOT / "README.md").read_text().split("\n## ", 1)[0]
    assert "(docs/production.md)" in head


def test_the_guide_links_every_deploy_file_and_names_what_cmsf_check_deploy_checks():
    guide = GUIDE.read_text()
    for path in sorted(p for p in DEPLOY.rglob("*") if p.is_file()):
        name = path.relative_to(ROOT).as_posix()
        assert f"../{name}" in guide or path.name in guide, f"docs/production.md does not mention {name}"
    checked = set(re.findall(r"\b(CMSF_[A-Z_]+)\b", (Path(cmsf.__file__).parent / "deploy_check.py").read_text()))
    checked &= variables_cmsf_reads()  # the environment variables among the settings it reads
    assert checked and {name for name in checked if name not in guide} == set()
    for needed in ("DATABASE_URL", "CMSF_QUEUE_URL", "pg_dump", "pg_restore", "/healthz", "/readyz", "/metrics",
                   "CMSF_METRICS_TOKEN", "cmsf doctor", "cmsf upgrade --plan", "CMSF-BACKUP-FAILED"):  # fmt: skip
        assert needed in guide, needed


def test_every_cmsf_command_of_the_guide_is_one_the_parser_takes():
    parser = build_parser()
    known = set(parser._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    blocks = re.findall(r"```(?:sh|ini)\n(.*?)```", GUIDE.read_text(), re.S)
    commands = [
        shlex.split(line.split(" #")[0])
        for block in blocks
        for line in block.splitlines()
        if re.match(r"\s*(cmsf|/opt/cmsf/bin/cmsf|ExecStart=/opt/cmsf/bin/cmsf) ", line)
    ]
    assert len(commands) >= 8
    for argv in commands:
        argv = argv[1:]
        if argv[0] not in known:
            assert argv[0] in WRITTEN_BESIDE, argv
            continue
        parser.parse_args(argv)  # exits 2 (argparse) on an option the command does not have
