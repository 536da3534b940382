"""Issue 18, item 3: the data folder is its owner's only: after `cmsf init` (run with a permissive umask, as a
shell has), every folder under it is 0700 and every file 0600, those made before private modes included."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

from tests.integration.test_cli import ADMIN
from tests.processes import CMSF


def run(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CMSF_", "DATABASE_URL", "DJANGO_"))}
    env["CMSF_DATA_DIR"] = str(data_dir)
    return subprocess.run([CMSF, *args], env=env, capture_output=True, text=True, timeout=120,
                          preexec_fn=lambda: os.umask(0o022))  # fmt: skip


def modes(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): stat.S_IMODE(p.stat().st_mode) for p in [folder, *folder.rglob("*")]}


def test_init_leaves_every_file_of_the_data_folder_0600_and_every_folder_0700(tmp_path):
    data_dir = tmp_path / "data"
    (data_dir / "outbox").mkdir(parents=True)  # an installation made before: world-readable
    (data_dir / "outbox" / "old.log").write_text("a mail")
    data_dir.chmod(0o755)
    (data_dir / "outbox" / "old.log").chmod(0o644)
    init = run(data_dir, "init", "--admin-email", ADMIN[0], "--admin-password", ADMIN[1], "--no-input")
    assert init.returncode == 0, init.stderr
    status = run(data_dir, "status")  # opens the database and the queue again
    assert status.returncode == 0, status.stderr
    found = modes(data_dir)
    assert {"cmsf.sqlite3", "queue.sqlite3", "encryption.key", "secret.key", "outbox/old.log"} <= set(found)
    wrong = {p: oct(m) for p, m in found.items() if m != (0o700 if (data_dir / p).is_dir() else 0o600)}
    assert wrong == {}
