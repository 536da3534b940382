"""cmsf without cmsf-sandbox beside it (the wheel alone): `cmsf sandbox`, `cmsf demo` and `cmsf bench` say in one line
how to install the sandbox, and exit 2, never with a traceback. The sandbox is hidden from a real `cmsf` process by a
sitecustomize that refuses to import `cmsf_sandbox`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import CMSF

BLOCKER = """
import importlib.abc
import sys


class _NoSandbox(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "cmsf_sandbox" or name.startswith("cmsf_sandbox."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _NoSandbox())
"""


@pytest.fixture
def without_sandbox(tmp_path: Path) -> dict[str, str]:
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(BLOCKER)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CMSF_", "DATABASE_URL", "DJANGO_"))}
    env.update({"CMSF_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(hook)})
    hidden = subprocess.run([sys.executable, "-c", "import cmsf_sandbox"], env=env, capture_output=True, text=True)
    assert hidden.returncode == 1 and "No module named 'cmsf_sandbox'" in hidden.stderr  # the sandbox is really gone
    return env


@pytest.mark.parametrize(
    "args",
    [
        ["sandbox", "--dataset", "tiny", "--info-json", "info.json"],
        ["demo", "--dataset", "tiny"],
        ["bench", "--dataset", "tiny"],
    ],
    ids=lambda args: args[0],
)
def test_a_command_that_needs_the_sandbox_says_how_to_install_it(
    without_sandbox: dict[str, str], tmp_path: Path, args: list[str]
) -> None:
    done = subprocess.run([CMSF, *args], env=without_sandbox, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.splitlines() == [
        f"cmsf: error: cmsf {args[0]} needs the cmsf-sandbox distribution beside cmsf: pip install ./sandbox "
        "(from cmsf's source)"
    ]
    assert "Traceback" not in done.stdout + done.stderr
    assert not (tmp_path / "info.json").exists()


def test_the_other_commands_do_not_need_the_sandbox(without_sandbox: dict[str, str], tmp_path: Path) -> None:
    done = subprocess.run([CMSF, "--help"], env=without_sandbox, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0 and "sandbox" in done.stdout, done.stderr
    checked = subprocess.run(
        [CMSF, "config", "export"], env=without_sandbox, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert "cmsf-sandbox" not in checked.stderr and "Traceback" not in checked.stderr, checked.stderr
