"""Asynchronous R-GPL re-mining: a worker mines from a snapshot L steps before the round boundary.

The negatives must equal synchronous re-mining's from the same weights, rounds keep the synchronous boundaries,
and a run killed anywhere (worker or trainer) resumes to the uninterrupted run's result.
"""

from __future__ import annotations

import filecmp
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from gpl_support import base_sets, build, cli, load, read_log, run_args, work_dir_of
from harness.errors import SettingsError
from harness.gpl.workdir import WorkDir

K, LAG, STEPS = 8, 4, 24


pytestmark = pytest.mark.usefixtures("one_thread")


def async_sets(world, **over):
    return base_sets(world, **{"remine_every": K, "steps": STEPS, "checkpoint_every": 4, "keep_checkpoints": 10,
                               "remine_schedule": "async", "remine_lag": LAG, **over})


def test_settings_are_checked():
    from harness.gpl.settings import RGPLSettings

    for bad in ({"remine_schedule": "later"}, {"remine_schedule": "async", "remine_lag": K + 1, "remine_every": K},
                {"remine_lag": -1}):
        s = RGPLSettings(**bad)
        with pytest.raises(SettingsError, match="remine_"):
            s.validate()
    s = RGPLSettings(remine_schedule="async", remine_every=K, remine_lag=0)
    s.validate()
    assert s.lag() == K and RGPLSettings(remine_every=K, remine_lag=3).lag() == 0  # sync ignores the lag


@pytest.fixture(scope="module")
def reference(world, tmp_path_factory):
    base = tmp_path_factory.mktemp("async-ref")
    r = cli(run_args("rgpl", world, async_sets(world), base / "runs"), base / "cache")
    assert r.returncode == 0, r.stderr[-3000:]
    manifest = base / "runs" / "beir" / "scifact" / "rgpl.manifest.json"
    return {"base": base, "work": work_dir_of(manifest), "stderr": r.stderr}


@pytest.mark.slow
def test_async_rounds_keep_boundaries_and_record_their_snapshot(reference):
    work = reference["work"]
    assert sorted(int(p.name) for p in (work / "rounds").iterdir()) == [0, 8, 16]
    assert [x["round"] for x in read_log(work)] == [0] * 8 + [8] * 8 + [16] * 8
    for r in (8, 16):
        m = json.loads((work / "rounds" / str(r) / "manifest.json").read_text())
        assert m["schedule"] == "async" and m["snapshot_step"] == r - LAG and m["train_steps"] == [r, r + K]
        assert m["snapshot_fingerprint"] == m["checkpoint_fingerprint"]  # saved and reloaded weights hash alike
    assert "worker" in reference["stderr"] and not list((work / "snapshots").iterdir())  # cleaned up
    timing = json.loads((work / "timing.json").read_text())
    assert timing["remine_wait_seconds"] >= 0 and [r["step"] for r in timing["remine_rounds"]] == [8, 16]


@pytest.mark.slow
def test_async_negatives_equal_sync_remining_from_the_same_weights(reference, world, tmp_path):
    """Round r (async) == what the synchronous re-miner writes given the checkpoint of step r - lag."""
    from harness.datasets import Corpus
    from harness.dense import load_encoder, model_fingerprint
    from harness.gpl.labels import Space
    from harness.gpl.pipeline import _make_teacher
    from harness.gpl.qgen import load_qgen
    from harness.gpl.remining import Reminer
    from harness.fileio import read_jsonl

    work = reference["work"]
    qgen_dir = Path(json.loads((work / "sources.json").read_text())["qgen_dir"])
    rows = [r for _, r in read_jsonl(qgen_dir / "corpus.jsonl")]
    train_corpus = Corpus([r["_id"] for r in rows], [r["title"] for r in rows], [r["text"] for r in rows])
    queries, qrels = load_qgen(qgen_dir)
    s = build("rgpl", async_sets(world, remine_schedule="sync"))
    sync_work = tmp_path / "work"
    shutil.copytree(work / "rounds" / "0", sync_work / "rounds" / "0")
    corpus = load(world).corpus
    reminer = Reminer(work=WorkDir(sync_work), settings=s, spec=s.remining(), space=Space(list(qrels), queries, corpus),
                      train_corpus=train_corpus, qrels=qrels, seed=42, teacher_factory=_make_teacher(s, corpus))
    for r in (8, 16):
        model = load_encoder(str(work / "checkpoints" / f"step-{r - LAG}"), device="cpu", max_seq_length=64)
        m = json.loads((work / "rounds" / str(r) / "manifest.json").read_text())
        assert m["checkpoint_fingerprint"] == model_fingerprint(model)
        reminer(r, model)  # synchronous re-mining, these weights
        for name in ("hard-negatives.jsonl", "gpl-training-data.tsv", "negative-scores.jsonl"):
            assert filecmp.cmp(work / "rounds" / str(r) / name, sync_work / "rounds" / str(r) / name, shallow=False), name
    negs = WorkDir(work).round(8).negatives()
    assert all(list(v.neg) == ["student"] and not set(v.neg["student"]) & set(v.pos) for v in negs.values())


@pytest.mark.slow
def test_killed_worker_and_killed_trainer_resume_to_the_same_result(reference, world, tmp_path):
    ref = reference["work"]
    args = run_args("rgpl", world, async_sets(world), tmp_path / "runs")
    cache = tmp_path / "cache"
    shutil.copytree(reference["base"] / "cache", cache, ignore=lambda d, names: ["train"] if Path(d).name == "gpl" else [])
    work = cache / ref.relative_to(reference["base"] / "cache")
    first = cli(args, cache, {"HARNESS_GPL_KILL_AT": "round:8"})  # the worker dies while writing round 8
    assert first.returncode == 2 and "re-mining worker exited with status -9" in first.stderr, first.stderr[-2000:]
    assert not (work / "rounds" / "8" / "manifest.json").exists()
    second = cli(args, cache, {"HARNESS_GPL_KILL_AT": "step:14"})  # the trainer dies while round 16 is mined
    assert second.returncode == -9, second.stderr[-2000:]
    assert "from step 4" in second.stderr  # the checkpoint of step 8 comes after round 8: never written
    assert (work / "rounds" / "8" / "manifest.json").is_file() and (work / "snapshots" / "step-12").is_dir()
    third = cli(args, cache)
    assert third.returncode == 0, third.stderr[-3000:]
    assert "from step 12" in third.stderr
    log, ref_log = read_log(work), read_log(ref)
    assert [x["round"] for x in log] == [x["round"] for x in ref_log]
    assert np.allclose([x["loss"] for x in log], [x["loss"] for x in ref_log], rtol=1e-5, atol=1e-7)
    for r in (8, 16):
        for name in ("hard-negatives.jsonl", "gpl-training-data.tsv"):
            assert (work / "rounds" / str(r) / name).read_text() == (ref / "rounds" / str(r) / name).read_text()
        m = json.loads((work / "rounds" / str(r) / "manifest.json").read_text())
        assert m["snapshot_step"] == r - LAG
