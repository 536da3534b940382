"""The wheel holds all of cmsf: `python -m build --wheel` from the checkout's files (no network: the setuptools
pinned in the dev virtualenv), then its contents read. Installing and running it is `.ci/wheel`'s."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.wheel


def _tracked(*paths: str) -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "--", *paths],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    return [name for name in listed if (ROOT / name).is_file() and "__pycache__" not in name]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[zipfile.ZipFile, str]:
    """The wheel, built from a copy of the files a clone has (no build/ or egg-info left from a developer's
    tree), and what the build printed."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    for name in _tracked("pyproject.toml", "README.md", "src"):
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((ROOT / name).read_bytes())
    done = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(work / "dist"), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (wheel,) = (work / "dist").glob("cmsf-*-py3-none-any.whl")
    return zipfile.ZipFile(wheel), done.stdout + done.stderr


def test_the_wheel_holds_every_file_of_the_package(built: tuple[zipfile.ZipFile, str]) -> None:
    wheel, _ = built
    names = set(wheel.namelist())
    package = [name.removeprefix("src/") for name in _tracked("src/cmsf")]
    assert [name for name in package if name not in names] == []
    for kind, marker in (
        ("templates", "/templates/"),
        ("static files", "/static/"),
        ("migrations", "/migrations/"),
        ("SFDX source", "cmsf/sfdx/"),
    ):
        shipped = [name for name in package if marker in name]
        assert shipped and all(name in names for name in shipped), kind
    assert "cmsf/sfdx/sfdx-project.json" in names
    assert "cmsf/sfdx/force-app/main/default/objects/CMSF_Subscriber__c/CMSF_Subscriber__c.object-meta.xml" in names
    assert "cmsf/console/templates/console/maintenance/home.html" in names
    assert "cmsf/console/static/console/slds/salesforce-lightning-design-system.min.css" in names
    assert "cmsf/sync/migrations/0016_webhook_url_encrypted.py" in names
    assert not [name for name in names if name.startswith(("tests/", "bench/", "salesforce/"))]


def test_the_wheel_holds_no_sandbox(built: tuple[zipfile.ZipFile, str]) -> None:
    """The emulators, the dataset, the demo's set-up and the benchmark are cmsf-sandbox's, a distribution of its own
    (sandbox/): cmsf's wheel holds none of them."""
    wheel, _ = built
    names = wheel.namelist()
    assert "cmsf/cli/__init__.py" in names and "cmsf/cli/__main__.py" in names
    assert not [name for name in names if name.startswith(("cmsf/sandbox/", "cmsf_sandbox/", "sandbox/"))]
    assert "cmsf/benchmark.py" not in names
    assert not [name for name in names if "/sandbox/" in name or name.endswith("/benchmark.py")]


def test_the_wheel_names_its_command_license_and_pins(built: tuple[zipfile.ZipFile, str]) -> None:
    wheel, printed = built
    info = next(name.split("/")[0] for name in wheel.namelist() if name.endswith(".dist-info/METADATA"))
    entry_points = wheel.read(f"{info}/entry_points.txt").decode()
    assert "cmsf = cmsf.cli:main" in entry_points
    metadata = wheel.read(f"{info}/METADATA").decode()
    assert "License-Expression: BSD-3-Clause" in metadata and "Requires-Python: <3.12,>=3.11" in metadata
    assert "Requires-Dist: Django==5.2.19" in metadata
    assert "Deprecat" not in printed  # setuptools warns of nothing (the license is an SPDX expression)
