"""What the integration tests share: the emulators of generated datasets, served over TLS in this process (and
connected as an admin would connect them) for as long as the test runs. The `cmsf` executable the tests run as a
process is `tests.processes.CMSF`; `tests.emulators` holds the steps taken once connected (a sync, a watch)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from cmsf_sandbox.dataset import generate_world
from cmsf_sandbox.salesforce.data import generate_org
from tests.emulators import Connected, connected, serving

StartEmulators = Callable[..., Connected]


@pytest.fixture
def start_emulators(tmp_path: Path) -> Iterator[StartEmulators]:
    """`start_emulators(seed)`: the Campaign Monitor and Salesforce emulators of the tiny datasets of that seed, over
    TLS, with cmsf connected to each, until the test ends. `world=False` or `org=False` leaves that emulator out,
    `connect=False` serves without connecting, `client_secret=True` connects Salesforce with the connected app's
    secret as well. Each call has a folder of its own for its TLS files, so a test may start several."""
    with ExitStack() as stack:
        started = 0

        def start(
            seed: int, *, world: bool = True, org: bool = True, connect: bool = True, client_secret: bool = False
        ) -> Connected:
            nonlocal started
            started += 1
            folder = tmp_path / f"emulators-{started}"
            datasets = {
                "world": generate_world("tiny", seed) if world else None,
                "org": generate_org("tiny", seed) if org else None,
            }
            if connect:
                return stack.enter_context(connected(folder, client_secret=client_secret, **datasets))
            return stack.enter_context(serving(folder, **datasets))

        yield start
