"""A sync killed with SIGKILL at any point, then run again, ends in exactly the Salesforce contents of a
sync that was never interrupted: nothing lost, nothing doubled. The same under both emulators' faults.

Two identical sandboxes (the same dataset generated twice from one seed and one moment) serve a
reference sync and the killed one; `cmsf sync` runs as its own process, as a worker would."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from tests.integration.sandboxes import Sandbox, compare, dataset, env_for, sync_until_done
from tests.processes import CMSF


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    world, org = dataset()
    folder = tmp_path_factory.mktemp("reference")
    with Sandbox(world, org, folder, "none") as sandbox:
        sandbox.connect(folder / "cmsf")
        sync_until_done(folder / "cmsf")
        return sandbox.contents()


@pytest.mark.parametrize("faults", ["none", "flaky"])
def test_a_sync_killed_at_several_points_then_run_again_ends_as_an_uninterrupted_one(reference, tmp_path, faults):
    world, org = dataset()
    with Sandbox(world, org, tmp_path, faults) as sandbox:
        data_dir = tmp_path / "cmsf"
        sandbox.connect(data_dir)
        for delay in (0.4, 0.9, 1.4, 2.0):
            process = subprocess.Popen([CMSF, "sync"], env=env_for(data_dir), stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)  # fmt: skip
            time.sleep(delay)
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
        sync_until_done(data_dir)
        contents = sandbox.contents()
    compare(reference, contents)
