"""GPL training end to end: a learnable toy, the whole pipeline through the CLI, kill -9 and resume."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from gpl_support import base_sets, build, cli, load, read_log, run_args, work_dir_of
from harness.gpl.training import LinearWarmup

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]  # trains models (tiny ones, seconds each)


def test_lr_schedule_is_gpl_warmup_linear_with_optional_restarts():
    f = LinearWarmup(warmup=10, total=100)
    assert f(0) == 0.0 and f(5) == 0.5 and f(10) == 1.0 and f(55) == pytest.approx(0.5) and f(100) == 0.0
    r = LinearWarmup(warmup=10, total=100, restart_every=40)
    assert [r(s) for s in (0, 10, 39)] == [f(s) for s in (0, 10, 39)]
    assert r(40) == 0.0 and r(45) == pytest.approx(0.5 * f(45)) and r(50) == pytest.approx(f(50))


def test_training_loss_falls_on_a_learnable_toy(world, tmp_path):
    """A bi-encoder teacher of the student's own architecture: its margins are learnable, so MarginMSE must fall."""
    from harness.gpl.pipeline import run_pipeline

    s = build("gpl", base_sets(world, teacher_kind="bi-encoder", teacher=world["teacher_bi"], teacher_score_function="dot",
                               steps=80, learning_rate=1e-3, warmup_steps=5, checkpoint_every=80, batch_size=16))
    res = run_pipeline(load(world), s, tmp_path / "cache", seed=3)
    losses = np.array([r["loss"] for r in read_log(res.work_dir)])
    assert len(losses) == 80
    assert losses[-20:].mean() < 0.5 * losses[:20].mean(), losses


E2E_STEPS = 24


@pytest.fixture(scope="module")
def reference(world, tmp_path_factory):
    """The whole pipeline through the CLI: tiny T5 generator, tiny BERT miner + BM25, tiny cross-encoder."""
    base = tmp_path_factory.mktemp("gpl-ref")
    sets = base_sets(world, generator=world["t5"], qgen_max_length=12, qgen_max_input_length=64, queries_per_passage=3,
                     steps=E2E_STEPS, checkpoint_every=5)
    r = cli(run_args("gpl", world, sets, base / "runs"), base / "cache")
    assert r.returncode == 0, r.stderr[-3000:]
    return {"base": base, "sets": sets, "output": r.stdout + r.stderr, "stdout": r.stdout, "stderr": r.stderr,
            "trec": base / "runs" / "beir" / "scifact" / "gpl.trec"}


def test_gpl_end_to_end_with_tiny_t5_and_cross_encoder(world, reference):
    from harness.dense import load_encoder
    from harness.runs import read_run

    trec = reference["trec"]
    run = read_run(trec)
    assert len(run) == 20 and all(len(d) == 100 for d in run.values())
    manifest = json.loads(trec.with_name("gpl.manifest.json").read_text())
    work = work_dir_of(trec.with_name("gpl.manifest.json"))
    assert str(work) in reference["output"]  # the work folder is printed
    # stdout holds the result only; the trainer's loss lines and checkpoints are logged on stderr by their folder names
    assert reference["stdout"].startswith("beir/scifact  gpl  NDCG@10 ") and len(reference["stdout"].splitlines()) == 1
    assert "step 2/24: loss " in reference["stderr"] and "{'loss'" not in reference["output"]
    assert f"checkpoint saved: {work / 'checkpoints' / 'step-5'}" in reference["stderr"]
    assert "checkpoint-" not in reference["output"]
    sources = json.loads((work / "sources.json").read_text())
    assert {"dataset", "corpus_fingerprint", "qgen_dir", "mining_dir", "student", "teacher", "miners", "settings"} <= set(sources)
    qgen = Path(sources["qgen_dir"])
    assert (qgen / "qgen-queries.jsonl").is_file() and (qgen / "qgen-qrels" / "train.tsv").is_file()
    assert manifest["extra"]["queries_per_passage"] == 3
    assert manifest["models"]["generator"] == world["t5"] and "cross-encoder" in manifest["models"]["teacher"]
    log = read_log(work)
    assert [x["step"] for x in log] == list(range(1, E2E_STEPS + 1))
    assert all(set(x) == {"step", "loss", "margin_mean", "lr", "round"} and x["round"] == 0 for x in log)
    for name in ("hard-negatives.jsonl", "manifest.json", "negative-scores.jsonl", "gpl-training-data.tsv"):
        assert (work / "rounds" / "0" / name).is_file()
    r0 = json.loads((work / "rounds" / "0" / "manifest.json").read_text())
    assert {"step", "checkpoint_fingerprint", "seconds", "n_queries", "n_negatives", "miner", "teacher_scores",
            "overlap_with_previous", "mode"} <= set(r0)
    assert len((work / "rounds" / "0" / "gpl-training-data.tsv").read_text().splitlines()) == E2E_STEPS * 8
    assert (work / "checkpoints" / f"step-{E2E_STEPS}" / "gpl_state.json").is_file()
    timing = json.loads((work / "timing.json").read_text())
    assert timing["train_seconds"] > 0 and timing["remine_rounds"] == []
    model = load_encoder(str(work / "model"), device="cpu")
    assert model.encode(["a query"]).shape == (1, 32)
    # the same command again is a no-op (identical run already written)
    again = cli(run_args("gpl", world, reference["sets"], reference["base"] / "runs"), reference["base"] / "cache")
    assert again.returncode == 0 and "up to date" in again.stderr


def test_killed_gpl_run_resumes_and_reproduces_the_loss_sequence(world, reference, tmp_path):
    ref_cache = reference["base"] / "cache"
    ref_work = work_dir_of(reference["trec"].with_name("gpl.manifest.json"))
    cache = tmp_path / "cache"
    shutil.copytree(ref_cache, cache, ignore=lambda d, names: ["train"] if Path(d).name == "gpl" else [])
    args = run_args("gpl", world, reference["sets"], tmp_path / "runs")
    killed = cli(args, cache, {"HARNESS_GPL_KILL_AT": "step:17"})
    assert killed.returncode == -9  # SIGKILL
    work = cache / ref_work.relative_to(ref_cache)  # same key, same place
    assert len(read_log(work)) == 17 and not (work / "model").exists()
    assert sorted(p.name for p in (work / "checkpoints").iterdir()) == ["step-10", "step-15"]
    resumed = cli(args, cache)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming" in resumed.stderr and "from step 15" in resumed.stderr
    log, ref_log = read_log(work), read_log(ref_work)
    assert [x["step"] for x in log] == list(range(1, E2E_STEPS + 1))
    assert np.allclose([x["loss"] for x in log], [x["loss"] for x in ref_log], rtol=1e-5, atol=1e-7)
    assert [x["lr"] for x in log] == [x["lr"] for x in ref_log]
    a = (tmp_path / "runs" / "beir" / "scifact" / "gpl.trec").read_text().splitlines()
    b = reference["trec"].read_text().splitlines()
    assert [l.split()[:4] for l in a] == [l.split()[:4] for l in b]  # same ranking
