"""GPL/R-GPL under torch.distributed on CPU (gloo, 2 processes): sharded re-mining equals one process's, and a
2-rank R-GPL run trains, re-mines, writes its run file and resumes after kill -9."""

from __future__ import annotations

import filecmp
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gpl_support import REPO, base_sets, build, cli, load, read_log, run_args, work_dir_of
from harness.gpl.workdir import Negatives, QueryNegatives, WorkDir

pytestmark = pytest.mark.slow  # starts 2-process groups and trains tiny models


def _round0(work: Path, ds) -> None:
    ids = ds.corpus.ids
    negatives = Negatives({q: QueryNegatives(sorted(d), {"bm25": [x for x in ids[:6] if x not in d]})
                           for q, d in ds.qrels.items()})
    WorkDir(work).round(0).write_negatives(negatives)


def test_sharded_remining_equals_single_process(world, tmp_path, one_thread):
    from ddp_remine_script import remining_setup
    from harness.dense import load_encoder
    from harness.gpl.labels import Space
    from harness.gpl.pipeline import _make_teacher
    from harness.gpl.remining import Reminer

    ds = load(world)
    world_json = tmp_path / "world.json"
    world_json.write_text(json.dumps(world))
    single, multi = tmp_path / "single", tmp_path / "multi"
    for w in (single, multi):
        _round0(w, ds)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                        str(REPO / "tests" / "ddp_remine_script.py"), str(world_json), str(multi), str(tmp_path / "out")],
                       capture_output=True, text=True, env=env, cwd=str(REPO), timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]

    reminer, _ = remining_setup(world, single, base_sets, build, load, Space, _make_teacher, Reminer)
    reminer.mine_round(4, load_encoder(world["student"], device="cpu", max_seq_length=64), snapshot_step=4)
    for name in ("hard-negatives.jsonl", "gpl-training-data.tsv", "negative-scores.jsonl"):
        assert filecmp.cmp(single / "rounds" / "4" / name, multi / "rounds" / "4" / name, shallow=False), name
    ranks = [json.loads((tmp_path / "out" / f"rank-{i}.json").read_text()) for i in (0, 1)]
    single_negs = WorkDir(single).round(4).negatives()
    assert ranks[0] == ranks[1] == {q: {"pos": v.pos, "neg": v.neg} for q, v in single_negs.items()}
    assert json.loads((multi / "rounds" / "4" / "manifest.json").read_text())["ranks"] == 2
    assert any(len(v["neg"]["student"]) == 50 for v in ranks[0].values())


def test_two_ranks_train_remine_write_the_run_and_resume_after_kill(world, tmp_path):
    sets = base_sets(world, remine_every=4, steps=8, checkpoint_every=4, keep_checkpoints=5)
    args = run_args("rgpl", world, sets, tmp_path / "runs")
    cache = tmp_path / "cache"
    first = cli(args + ["--nproc", "2"], cache, {"HARNESS_GPL_KILL_AT": "step:6"}, timeout=900)
    assert first.returncode != 0 and not (tmp_path / "runs" / "beir" / "scifact" / "rgpl.trec").exists()
    # the same command under torchrun resumes it
    env = dict(os.environ, HARNESS_CACHE=str(cache), OMP_NUM_THREADS="1")
    second = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                             "-m", "harness.cli", *args], capture_output=True, text=True, env=env, cwd=str(REPO),
                            timeout=900)
    assert second.returncode == 0, second.stderr[-3000:]
    assert second.stderr.count("from step 4") == 2  # both ranks resumed from the checkpoint of step 4
    run_file = tmp_path / "runs" / "beir" / "scifact" / "rgpl.trec"
    assert run_file.is_file() and len({l.split()[0] for l in run_file.read_text().splitlines()}) == 20
    work = work_dir_of(tmp_path / "runs" / "beir" / "scifact" / "rgpl.manifest.json")
    log = read_log(work)
    assert [x["step"] for x in log] == list(range(1, 9)) and [x["round"] for x in log] == [0] * 4 + [4] * 4
    m = json.loads((work / "rounds" / "4" / "manifest.json").read_text())
    assert m["ranks"] == 2 and m["snapshot_step"] == 4 and m["n_tuples"] == 4 * 8
    ckpt = work / "checkpoints" / "step-8"
    assert (ckpt / "rng_state_0.pth").is_file() and (ckpt / "rng_state_1.pth").is_file()


def test_batch_size_must_split_over_the_ranks(monkeypatch):
    from harness.errors import HarnessError
    from harness.gpl import distributed

    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(HarnessError, match="batch_size.*3 ranks"):
        distributed.check_batch(32)
    monkeypatch.setenv("WORLD_SIZE", "4")
    distributed.check_batch(32)
    assert distributed.strip_nproc(["run", "--nproc", "2", "--system", "rgpl", "--nproc=3"]) == ["run", "--system", "rgpl"]
