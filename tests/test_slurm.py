"""Grid runs through a real single-node Slurm (sbatch, squeue, scancel) and through the local executor.

The cluster comes from ``.ci/slurm-up.sh`` (Debian's slurm-wlm + munge). Without ``sbatch`` the Slurm test skips,
unless ``HARNESS_REQUIRE_SLURM=1`` (set by CI where the packages install) turns the skip into a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.runs import read_run

from gpl_support import base_sets, tiny_world

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # trains a tiny R-GPL twice and waits on a scheduler


def _cluster_answers() -> bool:
    r = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
    return r.returncode == 0 and any(s.strip().rstrip("*") in ("idle", "mixed", "allocated") for s in r.stdout.split())


@pytest.fixture(scope="module")
def slurm():
    required = os.environ.get("HARNESS_REQUIRE_SLURM") == "1"
    if shutil.which("sbatch") is None:
        msg = "Slurm is not installed (apt-get install slurm-wlm munge; then .ci/slurm-up.sh)"
        pytest.fail(msg + " but HARNESS_REQUIRE_SLURM=1") if required else pytest.skip(msg)
    if not _cluster_answers():
        r = subprocess.run(["bash", str(REPO / ".ci" / "slurm-up.sh")], capture_output=True, text=True, timeout=120)
        if r.returncode != 0 or not _cluster_answers():
            msg = f"no Slurm cluster answers and .ci/slurm-up.sh failed: {(r.stdout + r.stderr)[-800:]}"
            pytest.fail(msg) if required else pytest.skip(msg)


@pytest.fixture(scope="module")
def world(shared_data, tmp_path_factory):
    return tiny_world(shared_data, tmp_path_factory.getbasetemp() / "gpl-world")


def harness(args: list[str], cache: Path, extra_env: dict | None = None, timeout: int = 600):
    env = dict(os.environ, HARNESS_CACHE=str(cache), OMP_NUM_THREADS="1", HARNESS_POLL_SECONDS="1", **(extra_env or {}))
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True, env=env,
                          cwd=str(REPO), timeout=timeout)


def grid_args(world: dict, out: Path, systems: str = "bm25,rgpl") -> list[str]:
    sets = base_sets(world, steps=20, checkpoint_every=10)
    args = ["run", "--system", systems, "--suite", "beir", "--datasets", "scifact", "--data-dir", world["data"],
            "--out", str(out), "--no-download", "--top-k", "100", "--sweep", "remine_every=10"]
    for k, v in sets.items():
        args += ["--set", f"{k}={v}"]
    return args


def status(out: Path, cache: Path) -> dict[str, dict]:
    r = harness(["status", "--out", str(out), "--json"], cache)
    assert r.returncode == 0, r.stderr
    return {row["label"].split("/")[-1]: row for row in json.loads(r.stdout)["jobs"]}


def wait_until(pred, timeout: float, what: str):
    end = time.time() + timeout
    while time.time() < end:
        value = pred()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


NAMES = {"bm25": "bm25.trec", "rgpl": "rgpl-remine_every-10.trec"}
RGPL = "rgpl-remine_every-10"


@pytest.fixture(scope="module")
def local(world, tmp_path_factory) -> dict:
    """The reference: the grid on the local executor, two jobs at a time (its cache holds every GPL stage)."""
    base = tmp_path_factory.mktemp("local")
    r = harness(grid_args(world, base / "runs") + ["--executor", "local", "--jobs", "2"], base / "cache")
    assert r.returncode == 0, r.stderr[-3000:]
    runs = {k: base / "runs" / "beir" / "scifact" / v for k, v in NAMES.items()}
    assert all(p.is_file() for p in runs.values()) and str(runs["bm25"]) in r.stdout
    return {"runs": runs, "cache": base / "cache"}


def untrained_cache(local: dict, cache: Path) -> Path:
    """The reference's cache without its training (queries, negatives and labels kept): a job trains from step 0."""
    shutil.copytree(local["cache"], cache, ignore=lambda d, names: ["train"] if Path(d).name == "gpl" else [])
    return cache


def restarts(job_id: str) -> int:
    """How many times Slurm started the job again (requeued), from ``scontrol show job``."""
    r = subprocess.run(["scontrol", "show", "job", job_id], capture_output=True, text=True, check=True)
    return int(r.stdout.split("Restarts=")[1].split()[0])


def steps_logged(cache: Path) -> list[int]:
    work = Path(next((cache / "gpl" / "train").glob("[0-9a-f]*")))
    return [json.loads(line)["step"] for line in (work / "train-log.jsonl").read_text().splitlines()]


def test_grid_on_slurm_equals_local_and_resumes_after_scancel(slurm, world, local, tmp_path):
    ref = local["runs"]
    # Slurm, first submission: the R-GPL job stalls at step 15 (after its step-10 checkpoint) and is cancelled
    out, cache, stalled = tmp_path / "slurm", tmp_path / "cache-slurm", tmp_path / "stalled"
    args = grid_args(world, out) + ["--executor", "slurm", "--time", "20"]
    first = harness(args, cache, {"HARNESS_GPL_STALL_AT": "step:15", "HARNESS_GPL_STALL_FILE": str(stalled)})
    assert first.returncode == 0, first.stderr[-3000:]
    assert "submitted 2 jobs to Slurm" in first.stderr
    wait_until(stalled.is_file, 300, "the R-GPL job to reach step 15")
    rows = wait_until(lambda: (s := status(out, cache))["bm25"]["state"] == "COMPLETED" and s, 120, "bm25 to finish")
    assert rows[RGPL]["state"] == "RUNNING" and rows[RGPL]["run_files"] == []
    assert rows["bm25"]["run_files"] == [str(out / "beir" / "scifact" / "bm25.trec")]
    assert Path(rows[RGPL]["log"]).is_file()
    subprocess.run(["scancel", rows[RGPL]["job_id"]], check=True)
    rows = wait_until(lambda: (s := status(out, cache))[RGPL]["state"].startswith("CANCELLED") and s,
                      120, "the cancelled state")
    work = Path(next((cache / "gpl" / "train").glob("[0-9a-f]*")))
    assert steps_logged(cache) == list(range(1, 16)) and not (work / "model").exists()
    bm25_mtime = (out / "beir" / "scifact" / "bm25.trec").stat().st_mtime_ns

    # resubmitting the same grid finishes only what is missing: bm25 is skipped, R-GPL resumes from step 10
    second = harness(args + ["--wait"], cache)
    assert second.returncode == 0, second.stderr[-3000:]
    rows = status(out, cache)
    assert {r["state"] for r in rows.values()} == {"COMPLETED"}
    assert (out / "beir" / "scifact" / "bm25.trec").stat().st_mtime_ns == bm25_mtime
    rgpl_log = Path(rows[RGPL]["log"]).read_text()
    bm25_log = Path(rows["bm25"]["log"]).read_text()
    assert "up to date" in bm25_log
    assert "resuming" in rgpl_log and "from step 10" in rgpl_log and "generating" not in rgpl_log
    assert steps_logged(cache) == list(range(1, 21))

    # the run files equal the local executor's: BM25 byte for byte, R-GPL the same ranking (resumed from a checkpoint)
    assert (out / "beir" / "scifact" / "bm25.trec").read_bytes() == ref["bm25"].read_bytes()
    a = (out / "beir" / "scifact" / NAMES["rgpl"]).read_text().splitlines()
    b = ref["rgpl"].read_text().splitlines()
    assert [line.split()[:4] for line in a] == [line.split()[:4] for line in b]
    assert read_run(out / "beir" / "scifact" / NAMES["rgpl"]).keys() == read_run(ref["rgpl"]).keys()


def test_job_at_its_time_limit_is_requeued_and_ends_like_an_uninterrupted_one(slurm, world, local, tmp_path):
    """``--time 1``: the R-GPL job stalls mid-training (step 15, after its step-10 checkpoint) until Slurm signals
    the time limit; submitit requeues it, and the job comes back, resumes from step 10 and writes the reference's
    run file, byte for byte."""
    out, cache, stalled = tmp_path / "slurm", untrained_cache(local, tmp_path / "cache"), tmp_path / "stalled"
    r = harness(grid_args(world, out, "rgpl") + ["--executor", "slurm", "--time", "1", "--wait"], cache,
                {"HARNESS_GPL_STALL_AT": "step:15", "HARNESS_GPL_STALL_FILE": str(stalled)}, timeout=400)
    assert r.returncode == 0, r.stderr[-3000:]
    row = status(out, cache)[RGPL]
    assert row["state"] == "COMPLETED" and stalled.is_file()
    log = Path(row["log"]).read_text()
    assert "this job is timed-out" in log  # submitit, at the signal before the time limit (then it requeues the job,
    assert restarts(row["job_id"]) >= 1  # which Slurm kills at once: its "Requeued job" line may never be written)
    assert "from step 10" in log
    assert steps_logged(cache) == list(range(1, 21))
    assert (out / "beir" / "scifact" / NAMES["rgpl"]).read_bytes() == local["runs"]["rgpl"].read_bytes()


def test_job_requeued_mid_training_comes_back_and_ends_like_an_uninterrupted_one(slurm, world, local, tmp_path):
    """``scontrol requeue`` (what preemption does) while the R-GPL job is at step 15: Slurm kills it and starts it
    again; it resumes from its step-10 checkpoint and writes the reference's run file, byte for byte."""
    out, cache, stalled = tmp_path / "slurm", untrained_cache(local, tmp_path / "cache"), tmp_path / "stalled"
    r = harness(grid_args(world, out, "rgpl") + ["--executor", "slurm", "--time", "20"], cache,
                {"HARNESS_GPL_STALL_AT": "step:15", "HARNESS_GPL_STALL_FILE": str(stalled)})
    assert r.returncode == 0, r.stderr[-3000:]
    wait_until(stalled.is_file, 300, "the R-GPL job to reach step 15")
    job_id = status(out, cache)[RGPL]["job_id"]
    requeue = subprocess.run(["scontrol", "requeue", job_id], capture_output=True, text=True)
    assert requeue.returncode == 0, requeue.stderr  # the job asked to be requeueable (--requeue)
    row = wait_until(lambda: (s := status(out, cache)[RGPL])["state"] == "COMPLETED" and s, 300, "the requeued job")
    assert restarts(job_id) == 1
    log = Path(row["log"]).read_text()
    assert "resuming" in log and "from step 10" in log
    assert steps_logged(cache) == list(range(1, 21))
    assert (out / "beir" / "scifact" / NAMES["rgpl"]).read_bytes() == local["runs"]["rgpl"].read_bytes()


def test_failed_job_reports_its_log_tail_and_keeps_the_others(shared_data, tmp_path):
    """Local executor: one job fails (a missing dataset), the other's run file is still written and listed."""
    from fixtures import scifact_slice

    data = tmp_path / "data"
    scifact_slice(shared_data, data / "sci-a", n_queries=10, extra_docs=50)
    r = harness(["run", "--system", "bm25", "--datasets", "sci-a,sci-missing", "--data-dir", str(data), "--no-download",
                 "--out", str(tmp_path / "runs"), "--executor", "local", "--jobs", "2"], tmp_path / "cache")
    assert r.returncode == 1
    assert str(tmp_path / "runs" / "beir" / "sci-a" / "bm25.trec") in r.stdout
    assert "job beir/sci-missing/bm25" in r.stderr and "FAILED" in r.stderr
    assert "dataset 'sci-missing' not found" in r.stderr  # the failed job's log tail
    rows = {row["label"]: row for row in json.loads(harness(["status", "--out", str(tmp_path / "runs"), "--json"],
                                                            tmp_path / "cache").stdout)["jobs"]}
    assert rows["beir/sci-a/bm25"]["state"] == "COMPLETED" and rows["beir/sci-missing/bm25"]["state"] == "FAILED"
