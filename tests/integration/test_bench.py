"""`cmsf bench` as a user runs it: the sandbox in its own process, three measured syncs, a JSON result.

Only the shape and the sense of the figures are checked here, never a time."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.processes import CMSF

RUN_KEYS = (
    "wall_s",
    "cpu_s",
    "peak_rss_mb",
    "records_per_s",
    "cm_calls",
    "cm_min_calls",
    "sf_calls",
    "sf_rows_written",
    "floor_wall_s",
)


def _bench(tmp_path: Path, *extra: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CMSF_", "DATABASE_URL", "DJANGO_"))}
    env["CMSF_DATA_DIR"] = str(tmp_path / "data")
    result_file = tmp_path / "bench.json"
    done = subprocess.run(
        [CMSF, "bench", "--dataset", "tiny", "--json", str(result_file), *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done, json.loads(result_file.read_text())


def test_bench_measures_a_full_a_no_change_and_an_incremental_sync(tmp_path):
    done, document = _bench(tmp_path)
    assert "Targets" in done.stdout and "wall s" in done.stdout
    assert document["dataset"] == "tiny"
    runs = document["runs"]
    assert set(runs) == {"full", "no_change", "incremental"}
    for name, run in runs.items():
        for key in RUN_KEYS:
            assert isinstance(run[key], int | float), (name, key, run.get(key))
            assert run[key] >= 0, (name, key)
        assert run["cm_calls"] >= run["cm_min_calls"] > 0, name
        assert run["cm_calls_server"] == run["cm_calls"], name  # the emulator saw every call the client counted
        assert run["floor_wall_s"] > 0 and run["wall_s"] > 0 and run["peak_rss_mb"] > 0, name
        assert run["floor_download_calls"] <= run["cm_min_calls"], name

    full, quiet, incremental = runs["full"], runs["no_change"], runs["incremental"]
    assert full["sf_rows_written"] > 0 and full["records_per_s"] > 0
    assert full["floor_upload_sf_calls"] > 0 and full["floor_upload_failed"] == 0
    assert all(run["floor_left_kb"] == 0 for run in runs.values())  # its rows are gone, from the recycle bin too
    assert quiet["sf_rows_written"] == 0 and quiet["sf_write_calls"] == 0
    assert quiet["cm_calls"] < full["cm_calls"]
    assert "generated_until" in document["advance"]  # the emulator lived on before the incremental sync
    assert incremental["sf_rows_written"] <= full["sf_rows_written"]

    read_path = document["read_path"]  # the dry run before the full sync: everything read, nothing written
    assert document["read_records_per_s"] == read_path["read_records_per_s"] > 0
    assert read_path["records_read"] > 0 and read_path["cm_calls"] >= read_path["cm_min_calls"] > 0
    assert read_path["sf_write_calls"] == 0
    assert "read path (dry run, nothing written)" in done.stdout

    verdicts = {(t["name"], t["run"]): t["met"] for t in document["targets"]}
    assert any(name.startswith("no Salesforce write") for name, _ in verdicts)
    assert any(name.startswith("read path >=") for name, _ in verdicts)
    assert all(met in (True, False, None) for met in verdicts.values())
    assert not any((tmp_path / "data" / "bench").iterdir())  # the working folder is gone


def test_bench_with_campaign_members_writes_campaigns_and_members_and_its_floor_copies_them(tmp_path):
    _, document = _bench(tmp_path, "--campaign-members")
    full, quiet = document["runs"]["full"], document["runs"]["no_change"]
    assert document["campaign_members"] is True
    assert full["written"]["Campaign"] > 0 and full["written"]["CampaignMember"] > 0
    assert full["floor_upload_failed"] == 0  # member copies found a free campaign and person each
    assert full["floor_left_kb"] == 0  # the throwaway campaigns and their members are gone
    assert quiet["sf_rows_written"] == 0 and quiet["sf_write_calls"] == 0
