"""Two processes on the same outputs: file locks (wait, or stop naming the holder); damaged cache entries redone."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from harness.locks import LockHeld, hold, lock_path_for
from harness.runs import read_run

from fixtures import scifact_slice

REPO = Path(__file__).resolve().parents[1]


def start(args: list[str], env_extra: dict | None = None) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", **(env_extra or {}))
    return subprocess.Popen([sys.executable, "-m", "harness.cli", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=str(REPO))


@pytest.fixture
def data(shared_data, tmp_path):
    scifact_slice(shared_data, tmp_path / "data" / "sci", n_queries=20, extra_docs=200)
    return tmp_path / "data"


def bm25_args(data: Path, out: Path, *extra: str) -> list[str]:
    return ["run", "--system", "bm25", "--datasets", "sci", "--data-dir", str(data), "--out", str(out), "--top-k", "50",
            *extra]


def test_held_run_file_stops_a_second_run_naming_the_holder(data, tmp_path):
    out = tmp_path / "runs"
    target = out / "beir" / "sci" / "bm25.trec"
    with hold(target, "run file"):
        p = start(bm25_args(data, out, "--lock-wait", "0"))
        stdout, stderr = p.communicate(timeout=120)
    assert p.returncode == 2
    assert f"run file {target} is in use by" in stderr and f"pid {os.getpid()}" in stderr
    assert not target.exists()


def test_second_run_waits_for_the_holder_then_finds_the_run_up_to_date(data, tmp_path):
    out = tmp_path / "runs"
    target = out / "beir" / "sci" / "bm25.trec"
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    # hold the lock ourselves until both real runs queue on it; then release it and let them race
    with hold(target, "run file"):
        procs = [subprocess.Popen([sys.executable, "-m", "harness.cli", *bm25_args(data, out)], stdout=subprocess.DEVNULL,
                                  stderr=open(p, "w"), env=env, cwd=str(REPO)) for p in logs]
        deadline = time.time() + 120
        while not all("waiting for its lock" in p.read_text() for p in logs) and time.time() < deadline:
            time.sleep(0.2)
        assert all(p.poll() is None for p in procs) and not target.exists()  # both waiting, nothing written
    assert [p.wait(timeout=180) for p in procs] == [0, 0], [p.read_text()[-2000:] for p in logs]
    texts = [p.read_text() for p in logs]
    assert all(f"is in use by" in t and f"pid {os.getpid()}" in t for t in texts)
    assert sum("up to date" in t for t in texts) == 1  # exactly one wrote, the other skipped the finished run
    run = read_run(target)  # whole and valid (in trec_eval's order, no duplicates)
    solo = tmp_path / "solo"
    r = subprocess.run([sys.executable, "-m", "harness.cli", *bm25_args(data, solo)], capture_output=True, text=True,
                       cwd=str(REPO))
    assert r.returncode == 0 and read_run(solo / "beir" / "sci" / "bm25.trec") == run
    assert not list(target.parent.glob(".*.tmp"))


def test_lock_wait_runs_out_with_the_holder_named(tmp_path):
    """The holder is another process (a different pid and command); a bounded wait ends with its name."""
    target = tmp_path / "work"
    code = ("import sys, time; from harness.locks import hold\n"
            f"with hold({str(target)!r}, 'GPL train folder'):\n    print('held', flush=True); time.sleep(60)\n")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=str(REPO))
    try:
        assert holder.stdout.readline().strip() == "held"
        t0 = time.time()
        with pytest.raises(LockHeld, match=rf"still in use by .* pid {holder.pid} .* after 1 s"):
            with hold(target, "GPL train folder", wait=1):
                pass
        assert 0.9 < time.time() - t0 < 10
        with pytest.raises(LockHeld, match=rf"GPL train folder is in use by .*pid {holder.pid}"):
            with hold(target, "GPL train folder", wait=0):
                pass
    finally:
        holder.kill()
        holder.wait()
    with hold(target, "GPL train folder", wait=0) as lock:  # the kernel dropped the killed holder's lock
        assert lock == lock_path_for(target) and lock.parent == tmp_path


def test_truncated_embedding_memmap_is_detected_and_encoded_again(minilm_path, shared_data, tmp_path, caplog):
    from harness.datasets import load_dataset
    from harness.dense import encode_corpus, load_encoder
    from harness.registry import custom_dataset

    scifact_slice(shared_data, tmp_path / "data" / "sci", n_queries=5, extra_docs=40)
    ds = load_dataset(custom_dataset("sci"), data_dir=tmp_path / "data")
    model = load_encoder(minilm_path, device="cpu", max_seq_length=64)
    cache = tmp_path / "cache"
    stats: dict = {}
    first = np.array(encode_corpus(model, ds.corpus, batch_size=16, cache_dir=cache, stats=stats))
    path = Path(stats["cache_path"])
    with open(path, "r+b") as fh:  # a half-written file behind a "complete" note
        fh.truncate(path.stat().st_size // 2)
    stats = {}
    with caplog.at_level(logging.WARNING, logger="harness"):
        again = np.array(encode_corpus(model, ds.corpus, batch_size=16, cache_dir=cache, stats=stats))
    assert stats["cache"] == "miss" and "truncated" in caplog.text and str(path) in caplog.text
    assert np.allclose(again, first, atol=1e-6) and path.stat().st_size == first.nbytes
    stats = {}
    encode_corpus(model, ds.corpus, batch_size=16, cache_dir=cache, stats=stats)
    assert stats["cache"] == "hit"


@pytest.mark.slow
def test_checkpoint_without_trainer_state_is_dropped_and_training_resumes_earlier(shared_data, tmp_path_factory, tmp_path):
    from gpl_support import base_sets, cli, read_log, run_args, tiny_world, work_dir_of

    world = tiny_world(shared_data, tmp_path_factory.getbasetemp() / "gpl-world")
    sets = base_sets(world, steps=30, checkpoint_every=10)
    args = run_args("gpl", world, sets, tmp_path / "runs")
    killed = cli(args, tmp_path / "cache", {"HARNESS_GPL_KILL_AT": "step:25"})
    assert killed.returncode == -9
    work = next((tmp_path / "cache" / "gpl" / "train").glob("[0-9a-f]*"))
    assert sorted(p.name for p in (work / "checkpoints").iterdir()) == ["step-10", "step-20"]
    (work / "checkpoints" / "step-20" / "trainer_state.json").unlink()  # damaged: no trainer state
    resumed = cli(args, tmp_path / "cache")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "step-20 lacks trainer_state.json" in resumed.stderr and "from step 10" in resumed.stderr
    assert work_dir_of(tmp_path / "runs" / "beir" / "scifact" / "gpl.manifest.json") == work
    assert [x["step"] for x in read_log(work)] == list(range(1, 31))
    assert read_run(tmp_path / "runs" / "beir" / "scifact" / "gpl.trec")
    json.loads((work / "training.json").read_text())
    shutil.rmtree(tmp_path / "cache", ignore_errors=True)
