"""The test environment lives in the pytest configuration: a plain `pytest` keeps its data in var/test and its
queue apart, never in the demo's ./var; an environment that names its own data folder and queue (.ci/run) wins."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import os

from django.conf import settings


def test_probe():
    print("DATA_DIR", settings.DATA_DIR)
    print("CMSF_QUEUE_NAME", os.environ["CMSF_QUEUE_NAME"])
"""


def _plain_pytest(tmp_path: Path, **given: str) -> dict[str, str]:
    """A pytest process started in the checkout as a developer starts it, with no CMSF_ variables but those given;
    what it reports of its settings."""
    probe = tmp_path / "test_probe.py"
    probe.write_text(PROBE)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CMSF_", "DATABASE_URL", "DJANGO_", "PYTEST_"))}
    env.update(given)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "--rootdir", str(ROOT),
         "-c", str(ROOT / "pyproject.toml"), str(probe)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return dict(line.split(" ", 1) for line in result.stdout.splitlines() if line.startswith(("DATA_DIR", "CMSF_")))


def test_a_plain_pytest_run_keeps_out_of_the_demos_data_folder(tmp_path):
    seen = _plain_pytest(tmp_path)
    assert Path(seen["DATA_DIR"]) == ROOT / "var" / "test"
    assert Path(seen["DATA_DIR"]) != ROOT / "var"
    assert seen["CMSF_QUEUE_NAME"] == "cmsf-test"


def test_the_environment_given_wins_over_the_configured_one(tmp_path):
    seen = _plain_pytest(tmp_path, CMSF_DATA_DIR=str(tmp_path / "given"), CMSF_QUEUE_NAME="cmsf-test-given")
    assert seen == {"DATA_DIR": str(tmp_path / "given"), "CMSF_QUEUE_NAME": "cmsf-test-given"}
