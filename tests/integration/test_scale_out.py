"""Scale-out: two `cmsf worker` processes on Redis, with PostgreSQL as the database, sync several clients at
once and end in the same Salesforce contents as the embedded mode; no client is synced by both at once.

Runs where Redis and PostgreSQL answer on 127.0.0.1 (the project's machines); skipped elsewhere."""

from __future__ import annotations

import itertools
import socket
import subprocess
import time
import uuid

import psycopg
import pytest

from tests.integration.sandboxes import Sandbox, cmsf, compare, dataset, env_for, sync_until_done
from tests.processes import CMSF

POSTGRES = "postgres://postgres@127.0.0.1:5432"
REDIS = "redis://127.0.0.1:6379/13"


def answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(
    not (answers(5432) and answers(6379)), reason="scale-out needs PostgreSQL and Redis on 127.0.0.1"
)


@pytest.fixture
def database():
    name = f"cmsf_scaleout_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    yield f"{POSTGRES}/{name}"
    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')


def test_two_workers_on_redis_and_postgres_end_as_the_embedded_mode(tmp_path, database):
    with Sandbox(*dataset(), tmp_path / "embedded", "none") as sandbox:
        embedded = tmp_path / "embedded" / "cmsf"
        sandbox.connect(embedded)
        sync_until_done(embedded)
        reference = sandbox.contents()

    with Sandbox(*dataset(), tmp_path / "scaled", "none") as sandbox:
        data_dir = tmp_path / "scaled" / "cmsf"
        env = env_for(
            data_dir, DATABASE_URL=database, CMSF_QUEUE_URL=REDIS, CMSF_QUEUE_NAME=f"scale-{uuid.uuid4().hex[:6]}"
        )
        sandbox.connect(data_dir, env=env)
        workers = [
            subprocess.Popen(
                [CMSF, "worker", "--no-scheduler", "--workers", "2"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(2)
        ]
        try:
            enqueue = (
                "import django; django.setup()\n"
                "from cmsf.connections.models import CampaignMonitorClient\n"
                "from cmsf.sync.tasks import run_sync\n"
                "ids = list(CampaignMonitorClient.objects.values_list('pk', flat=True))\n"
                "for _ in range(3):\n"
                "    for pk in ids: run_sync(pk)\n"
                "print(len(ids))\n"
            )
            python = str(__import__("sys").executable)
            result = subprocess.run([python, "-c", enqueue], env={**env, "DJANGO_SETTINGS_MODULE": "cmsf.project.settings"},
                                    capture_output=True, text=True, timeout=120)  # fmt: skip
            assert result.returncode == 0, result.stderr
            clients = int(result.stdout.strip())
            assert clients >= 2

            with psycopg.connect(database) as conn:
                deadline = time.monotonic() + 240
                while True:
                    running = conn.execute(
                        "select count(*) from sync_syncrun where status in ('queued', 'running')"
                    ).fetchone()[0]
                    done = conn.execute(
                        "select count(distinct client_id) from sync_syncrun where status = 'succeeded'"
                    ).fetchone()[0]
                    pending = subprocess.run(
                        [python, "-c", "import django; django.setup()\nfrom huey.contrib.djhuey import HUEY\nprint(HUEY.pending_count())"],
                        env={**env, "DJANGO_SETTINGS_MODULE": "cmsf.project.settings"}, capture_output=True, text=True,
                        timeout=60,
                    ).stdout.strip()  # fmt: skip
                    if done == clients and running == 0 and pending == "0":
                        break
                    assert time.monotonic() < deadline, (
                        f"workers did not finish: {done}/{clients} done, {running} running"
                    )
                    time.sleep(1)
                runs = conn.execute(
                    "select client_id, started_at, finished_at, status from sync_syncrun order by client_id, started_at"
                ).fetchall()
        finally:
            for worker in workers:
                worker.terminate()
            for worker in workers:
                worker.wait(timeout=60)
        contents = sandbox.contents()

    by_client: dict[int, list] = {}
    for client_id, started, finished, status in runs:
        assert status == "succeeded", runs
        by_client.setdefault(client_id, []).append((started, finished))
    for spans in by_client.values():
        for (_, first_end), (second_start, _) in itertools.pairwise(spans):
            assert second_start >= first_end, f"two runs of one client overlapped: {spans}"
    compare(reference, contents)
    assert cmsf(data_dir, "status", env=env).returncode == 0
