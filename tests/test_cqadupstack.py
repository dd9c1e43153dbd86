"""CQADupStack as GPL ran it: one GPL / R-GPL training on the forums together, one run file per forum, one macro row.

A two-forum CQADupStack (``android``, ``gaming``) cut from the SciFact slice stands in for the twelve forums: the
registry's ``cqadupstack`` entry is narrowed to those two parts while a test runs (``two_forums``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from fixtures import cqadupstack_forums
from gpl_support import REPO, base_sets, read_log

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]  # trains models (tiny ones, seconds each)

FORUMS = ("android", "gaming")
KEYS = tuple(f"cqadupstack/{f}" for f in FORUMS)
STEPS = 20


@contextlib.contextmanager
def two_forums():
    """The registry's CQADupStack with only the fixture's forums as parts (restored afterwards)."""
    from harness.registry import get_suite

    suite = get_suite("beir")
    saved = suite.datasets
    narrowed = tuple(dataclasses.replace(d, parts=FORUMS) if d.name == "cqadupstack" else d for d in saved)
    object.__setattr__(suite, "datasets", narrowed)
    try:
        yield next(d for d in narrowed if d.name == "cqadupstack")
    finally:
        object.__setattr__(suite, "datasets", saved)


def harness_cli(args: list[str], cache: Path, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    """``harness ...`` in a fresh process (one torch thread, its own cache), with the two-forum registry."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from test_cqadupstack import two_forums; "
            "from harness.cli import main\nwith two_forums(): main(sys.argv[2:])")
    env = dict(os.environ, HARNESS_CACHE=str(cache), OMP_NUM_THREADS="1", **(env_extra or {}))
    return subprocess.run([sys.executable, "-c", code, str(REPO / "tests"), *args], capture_output=True, text=True,
                          env=env, cwd=str(REPO), timeout=300)


def run_cqa(system: str, data: Path, runs: Path, cache: Path, sets: dict[str, str] | None = None) -> list[Path]:
    """``harness run --datasets cqadupstack`` in this process (saves a torch start-up per call)."""
    from harness.runner import RunRequest, run

    n = torch.get_num_threads()
    with two_forums(), pytest.MonkeyPatch.context() as mp:
        mp.setenv("HARNESS_CACHE", str(cache))
        try:
            return run(RunRequest(system=system, suite="beir", datasets=["cqadupstack"], data_dir=str(data),
                                  out=str(runs), sets=dict(sets or {}), top_k=100, allow_download=False))
        finally:
            torch.set_num_threads(n)


def stamps(runs: Path, name: str) -> list[int]:
    return [(runs / "beir" / key / f"{name}.trec").stat().st_mtime_ns for key in KEYS]


def cqa_args(system: str, data: Path, out: Path, sets: dict[str, str] | None = None) -> list[str]:
    args = ["run", "--system", system, "--suite", "beir", "--datasets", "cqadupstack", "--data-dir", str(data),
            "--out", str(out), "--no-download", "--top-k", "100"]
    for k, v in (sets or {}).items():
        args += ["--set", f"{k}={v}"]
    return args


def manifest(runs: Path, key: str, name: str) -> dict:
    return json.loads((runs / "beir" / key / f"{name}.manifest.json").read_text())


def train_folders(cache: Path) -> list[Path]:
    root = cache / "gpl" / "train"
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


@pytest.fixture(scope="module")
def data(world, tmp_path_factory):
    root = tmp_path_factory.mktemp("cqa-data")
    cqadupstack_forums(Path(world["data"]) / "scifact", root, FORUMS, n_queries=8, extra_docs=30)
    return root


@pytest.fixture(scope="module")
def reference(world, data, tmp_path_factory):
    """GPL and BM25 on the two forums."""
    base = tmp_path_factory.mktemp("cqa-ref")
    sets = base_sets(world, steps=STEPS, checkpoint_every=5)
    written = run_cqa("gpl", data, base / "runs", base / "cache", sets)
    assert written == [base / "runs" / "beir" / key / "gpl.trec" for key in KEYS]
    run_cqa("bm25", data, base / "runs", base / "cache")
    return {"base": base, "runs": base / "runs", "cache": base / "cache", "sets": sets}


def load_forums(data: Path):
    from harness.datasets import load_dataset

    with two_forums() as info:
        return info, {k: load_dataset(info, k, data, allow_download=False) for k in KEYS}


def test_union_keeps_colliding_forum_ids_apart(data):
    from harness.datasets import union_dataset

    info, parts = load_forums(data)
    a, g = (set(parts[k].corpus.ids) for k in KEYS)
    assert a & g  # the fixture's forums reuse document ids, as the real ones do
    union = union_dataset(info, parts)
    assert len(union.corpus) == len(set(union.corpus.ids)) == sum(len(p.corpus) for p in parts.values())
    assert union.parts == KEYS and len(union.queries) == sum(len(p.queries) for p in parts.values())
    for uid, text in zip(union.corpus.ids, union.corpus.texts):
        forum, doc = uid.split("/", 1)
        part = parts[f"cqadupstack/{forum}"].corpus
        assert part.texts[part.index[doc]] == text
    # the union's fingerprint follows every forum's corpus
    parts2 = dict(parts)
    gaming = parts["cqadupstack/gaming"]
    parts2["cqadupstack/gaming"] = dataclasses.replace(gaming, files={**gaming.files, "corpus_sha256": "other"},
                                                       fingerprint="other")
    other = union_dataset(info, parts2)
    assert other.corpus_fingerprint != union.corpus_fingerprint and other.fingerprint != union.fingerprint


def test_one_work_folder_and_one_training_for_both_forums(reference):
    runs, cache = reference["runs"], reference["cache"]
    works = train_folders(cache)
    assert len(works) == 1  # not one per forum
    work = works[0]
    for key in KEYS:
        m = manifest(runs, key, "gpl")
        assert Path(m["extra"]["work_dir"]) == work and m["dataset"] == key
        assert m["extra"]["training_dataset"] == "cqadupstack" and m["extra"]["trained_on"]["parts"] == list(KEYS)
    assert len(list((cache / "gpl" / "qgen").iterdir())) == 1 and len(list((cache / "gpl" / "labels").iterdir())) == 1
    assert [x["step"] for x in read_log(work)] == list(range(1, STEPS + 1))  # trained once, not twice
    sources = json.loads((work / "sources.json").read_text())
    assert sources["dataset"] == "cqadupstack" and sources["parts"] == list(KEYS)
    # the generated queries were written for passages of both forums, under forum-prefixed ids
    qgen_ids = [json.loads(l)["_id"] for l in (Path(sources["qgen_dir"]) / "corpus.jsonl").read_text().splitlines()]
    assert {i.split("/", 1)[0] for i in qgen_ids} == set(FORUMS)
    negs = [json.loads(l) for l in (work / "rounds" / "0" / "hard-negatives.jsonl").read_text().splitlines()]
    assert all(d.split("/", 1)[0] in FORUMS for row in negs for lst in row["neg"].values() for d in lst)
    for key in KEYS:  # BM25 stays per forum: nothing trained, no union recorded
        assert "trained_on" not in manifest(runs, key, "bm25")["extra"]


def test_each_forum_retrieves_only_its_own_documents_with_the_one_model(reference, data):
    from harness.dense import load_encoder
    from harness.runs import read_run

    _, parts = load_forums(data)
    model = load_encoder(str(train_folders(reference["cache"])[0] / "model"), device="cpu")
    for key, ds in parts.items():
        run = read_run(reference["runs"] / "beir" / key / "gpl.trec")
        assert set(run) == set(ds.queries)
        for qid, docs in run.items():  # top 100 > forum size: every document of the forum, and nothing else
            assert set(docs) == set(ds.corpus.ids)
        # the scores are the adapted model's dot products over this forum's corpus
        qid = next(iter(ds.queries))
        q = model.encode([ds.queries[qid]], convert_to_numpy=True)[0]
        d = model.encode(ds.corpus.passages(), convert_to_numpy=True)
        expected = dict(zip(ds.corpus.ids, (d @ q).tolist()))
        top = sorted(run[qid], key=run[qid].get, reverse=True)[:5]
        assert np.allclose([run[qid][x] for x in top], [expected[x] for x in top], rtol=1e-3, atol=1e-4)


def test_macro_row_is_the_mean_of_the_forums(reference, data):
    import pytrec_eval

    from harness.runs import read_run
    from harness.tables import table_from_runs

    _, parts = load_forums(data)
    with two_forums():
        table = table_from_runs("beir", ["bm25", "gpl"], reference["runs"], data, datasets=["cqadupstack"])
    row = next(r for r in table.all_rows() if r.key == "cqadupstack")
    for system in ("bm25", "gpl"):
        per_forum = []
        for key, ds in parts.items():
            run = read_run(reference["runs"] / "beir" / key / f"{system}.trec")
            ev = pytrec_eval.RelevanceEvaluator(ds.qrels, {"ndcg_cut.10"}).evaluate(run)
            per_forum.append(np.mean([ev[q]["ndcg_cut_10"] for q in ds.qrels]))
        assert row.cells[system].value == pytest.approx(100 * np.mean(per_forum), abs=1e-9)
        assert per_forum[0] != pytest.approx(per_forum[1])  # a mean of two different forum scores, not one forum


def test_rerun_is_up_to_date_and_follows_the_union(reference, data):
    runs, cache = reference["runs"], reference["cache"]
    before = stamps(runs, "gpl")
    run_cqa("gpl", data, runs, cache, reference["sets"])
    assert stamps(runs, "gpl") == before  # both forums up to date
    # a run made from another union (e.g. one forum changed since) is redone; the other forum stays
    path = runs / "beir" / KEYS[0] / "gpl.manifest.json"
    m = json.loads(path.read_text())
    m["extra"]["trained_on"]["fingerprint"] = "0" * 64
    path.write_text(json.dumps(m))
    run_cqa("gpl", data, runs, cache, reference["sets"])
    after = stamps(runs, "gpl")
    assert after[0] != before[0] and after[1] == before[1] and len(train_folders(cache)) == 1
    assert manifest(runs, KEYS[0], "gpl")["extra"]["trained_on"]["fingerprint"] != "0" * 64


def test_killed_run_resumes_the_one_training(reference, data, tmp_path, caplog):
    ref_cache, ref_work = reference["cache"], train_folders(reference["cache"])[0]
    cache, runs = tmp_path / "cache", tmp_path / "runs"
    shutil.copytree(ref_cache, cache, ignore=lambda d, names: ["train"] if Path(d).name == "gpl" else [])
    killed = harness_cli(cqa_args("gpl", data, runs, reference["sets"]), cache, {"HARNESS_GPL_KILL_AT": "step:12"})
    assert killed.returncode == -9, killed.stderr[-3000:]  # SIGKILL while training for the first forum
    assert not (runs / "beir" / KEYS[0] / "gpl.trec").exists()
    caplog.set_level("INFO", logger="harness")
    run_cqa("gpl", data, runs, cache, reference["sets"])
    assert "from step 10" in caplog.text
    works = train_folders(cache)
    assert [w.name for w in works] == [ref_work.name]  # the same single training, resumed
    assert [x["step"] for x in read_log(works[0])] == list(range(1, STEPS + 1))
    for key in KEYS:
        a = (runs / "beir" / key / "gpl.trec").read_text().splitlines()
        b = (reference["runs"] / "beir" / key / "gpl.trec").read_text().splitlines()
        assert [l.split()[:4] for l in a] == [l.split()[:4] for l in b]  # same rankings as uninterrupted


def test_rgpl_remines_over_the_union_once(world, data, tmp_path):
    sets = base_sets(world, steps=STEPS, remine_every=10, checkpoint_every=10)
    run_cqa("rgpl", data, tmp_path / "runs", tmp_path / "cache", sets)
    works = train_folders(tmp_path / "cache")
    assert len(works) == 1
    rounds = sorted(int(p.name) for p in (works[0] / "rounds").iterdir())
    assert rounds == [0, 10]
    remined = [json.loads(l) for l in (works[0] / "rounds" / "10" / "hard-negatives.jsonl").read_text().splitlines()]
    forums = {d.split("/", 1)[0] for row in remined for lst in row["neg"].values() for d in lst}
    assert forums == set(FORUMS)  # the student re-mines the union's corpus
    for key in KEYS:
        assert (tmp_path / "runs" / "beir" / key / "rgpl.trec").is_file()
        assert Path(manifest(tmp_path / "runs", key, "rgpl")["extra"]["work_dir"]) == works[0]
