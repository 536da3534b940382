"""One client across two workers: two `cmsf worker` processes on Redis, with PostgreSQL as the database, share each
client's run by its partitions (`CMSF_SYNC_HELPERS=1`). Every partition is taken once, Salesforce ends as after a
single worker's sync, and a worker killed (SIGKILL) while it holds a partition loses nothing: its lease expires (a
short TTL here) and the other worker syncs it and closes the run.

Runs where Redis and PostgreSQL answer on 127.0.0.1 (the project's machines, .ci/run); skipped elsewhere."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import psycopg
import pytest

from tests.integration.sandboxes import Sandbox, compare, dataset, env_for, sync_until_done
from tests.integration.test_scale_out import REDIS, answers, database  # noqa: F401 (the fixture)
from tests.processes import CMSF

pytestmark = [
    pytest.mark.queue,
    pytest.mark.skipif(not (answers(5432) and answers(6379)), reason="needs PostgreSQL and Redis on 127.0.0.1"),
]


def _enqueue(env: dict[str, str]) -> None:
    script = (
        "import django; django.setup()\n"
        "from cmsf.connections.models import CampaignMonitorClient\n"
        "from cmsf.sync.tasks import run_sync\n"
        "for pk in CampaignMonitorClient.objects.filter(selected=True).values_list('pk', flat=True): run_sync(pk)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], env={**env, "DJANGO_SETTINGS_MODULE": "cmsf.project.settings"},
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr


def _workers(env: dict[str, str]) -> list[subprocess.Popen[bytes]]:
    return [
        subprocess.Popen(
            [CMSF, "worker", "--no-scheduler", "--workers", "1"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]


def _wait_for_runs(conn: psycopg.Connection, runs: int, deadline: float) -> list[tuple]:
    while True:
        ended = conn.execute(
            "select id, client_id, status, closed_by from sync_syncrun where finished_at is not null order by id"
        ).fetchall()
        if len(ended) >= runs:
            return ended
        assert time.monotonic() < deadline, f"the runs did not end: {ended}"
        time.sleep(0.5)


def test_two_workers_share_a_client_by_partitions_and_a_killed_one_loses_nothing(tmp_path, database) -> None:  # noqa: F811
    with Sandbox(*dataset(), tmp_path / "single", "none") as sandbox:
        single = tmp_path / "single" / "cmsf"
        sandbox.connect(single)
        sync_until_done(single)
        reference = sandbox.contents()

    with Sandbox(*dataset(), tmp_path / "shared", "none") as sandbox:
        data_dir = tmp_path / "shared" / "cmsf"
        env = env_for(data_dir, DATABASE_URL=database, CMSF_QUEUE_URL=REDIS,
                      CMSF_QUEUE_NAME=f"parts-{uuid.uuid4().hex[:6]}", CMSF_SYNC_HELPERS="1",
                      CMSF_PARTITION_TTL_SECONDS="4")  # fmt: skip
        sandbox.connect(data_dir, env=env)
        workers = _workers(env)
        try:
            _enqueue(env)
            with psycopg.connect(database, autocommit=True) as conn:
                expected = conn.execute(
                    "select count(*) from connections_campaignmonitorclient where selected"
                ).fetchone()[0]
                first = _wait_for_runs(conn, expected, time.monotonic() + 300)
                assert {status for _, _, status, _ in first} == {"succeeded"}, first
                rows = conn.execute("select key, claims, state from sync_syncpartition").fetchall()
                assert rows and {(claims, state) for _, claims, state in rows} == {(1, "done")}  # each taken once
                owners = conn.execute("select count(distinct done_by) from sync_syncpartition").fetchone()[0]
                assert owners >= 1
                compare(reference, sandbox.contents())

                # Again, killing the worker that holds a partition; the other finishes the run.
                conn.execute("delete from sync_cursor")  # every stream read again: the run is long enough to kill
                conn.execute("delete from sync_recordmap")
                _enqueue(env)
                deadline = time.monotonic() + 120
                victim = None
                while victim is None:
                    held = conn.execute(
                        "select owner from sync_syncpartition where state = 'taken' and run_id > %s",
                        (max(run_id for run_id, *_ in first),),
                    ).fetchall()
                    for (owner,) in held:
                        pid = int(owner.split(":")[1])
                        if any(worker.pid == pid for worker in workers) or _child_of(pid, workers):
                            victim = pid
                            break
                    assert time.monotonic() < deadline, "no partition was taken"
                    time.sleep(0.05)
                os.kill(victim, signal.SIGKILL)
                second = _wait_for_runs(conn, 2 * expected, time.monotonic() + 300)
                later = [run for run in second if run[0] > max(run_id for run_id, *_ in first)]
                assert {status for _, _, status, _ in later} == {"succeeded"}, later
                retaken = conn.execute("select count(*) from sync_syncpartition where claims > 1").fetchone()[0]
                assert retaken >= 1  # the killed worker's partition, taken over once its lease expired
                assert conn.execute("select count(*) from sync_syncpartition where state <> 'done'").fetchone()[0] == 0
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.terminate()
            for worker in workers:
                worker.wait(timeout=60)
        compare(reference, sandbox.contents())


def _child_of(pid: int, workers: list[subprocess.Popen[bytes]]) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            parent = int(stat.read().rsplit(")", 1)[1].split()[1])
    except OSError:
        return False
    return any(worker.pid == parent for worker in workers)
