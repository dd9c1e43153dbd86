"""The committed offline-preset SciFact results (leaderboards/results/offline-scifact, and the earlier preset's in
offline-scifact-span-unrescaled) re-evaluated independently.

The run files are read line by line here (no harness code), scored with pytrec_eval against ../shared/data's
SciFact qrels, and the Wilcoxon p-values recomputed with scipy: every committed number must follow from the
committed run files. The settings recorded in the manifests must be the offline preset's.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO

RESULTS = REPO / "leaderboards" / "results" / "offline-scifact"
RUNS = RESULTS / "runs" / "beir" / "scifact"
ABLATION = REPO / "leaderboards" / "results" / "offline-scifact-span-unrescaled"


def read_trec(path: Path) -> dict[str, dict[str, float]]:
    run: dict[str, dict[str, float]] = {}
    for line in path.read_text().splitlines():
        qid, _, doc, _, score, _ = line.split()
        run.setdefault(qid, {})[doc] = float(score)
    return run


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    for line in path.read_text().splitlines()[1:]:
        q, d, s = line.split("\t")
        qrels.setdefault(q, {})[d] = int(s)
    return qrels


@pytest.fixture(scope="module", params=[RESULTS, ABLATION], ids=["current", "ablation"])
def per_query(request, shared_data):
    import pytrec_eval

    qrels = read_qrels(shared_data / "scifact" / "qrels" / "test.tsv")
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10"})
    out = {"folder": request.param}
    for system in ("base", "gpl", "rgpl"):
        scores = evaluator.evaluate(read_trec(request.param / "runs" / "beir" / "scifact" / f"{system}.trec"))
        out[system] = np.array([scores.get(q, {}).get("ndcg_cut_10", 0.0) for q in qrels])
    return out


@pytest.mark.parametrize("a,b", [("base", "gpl"), ("gpl", "rgpl")])
def test_committed_comparison_follows_from_the_run_files(per_query, a, b):
    from scipy.stats import wilcoxon

    row = json.loads((per_query["folder"] / f"compare-{a}-vs-{b}.json").read_text())["datasets"][0]
    assert row["n_queries"] == 300 == len(per_query[a])
    assert row["mean_a"] == pytest.approx(per_query[a].mean(), abs=1e-12)
    assert row["mean_b"] == pytest.approx(per_query[b].mean(), abs=1e-12)
    np.testing.assert_allclose(row["per_query"]["a"], per_query[a], atol=1e-12)
    np.testing.assert_allclose(row["per_query"]["b"], per_query[b], atol=1e-12)
    diff = per_query[b] - per_query[a]
    assert row["p_value"] == pytest.approx(wilcoxon(diff, alternative="greater").pvalue, rel=1e-9)
    assert (row["wins"], row["ties"], row["losses"]) == (int((diff > 0).sum()), int((diff == 0).sum()), int((diff < 0).sum()))


def test_committed_runs_used_the_offline_preset():
    from harness.gpl.settings import OFFLINE_GENERATOR_ALIASES, RGPLSettings
    from harness.systems import build_settings

    preset = dict(vars(build_settings(RGPLSettings, {}, preset="offline")))
    for system in ("gpl", "rgpl"):
        recorded = json.loads((RUNS / f"{system}.manifest.json").read_text())["settings"]
        recorded["generator"] = OFFLINE_GENERATOR_ALIASES.get(recorded["generator"], recorded["generator"])
        # what the GPU script overrides on purpose: the model path (an fp16 copy cast back to fp32) and the device
        differing = {k for k in recorded if k in preset and recorded[k] != preset[k]} - {"student", "teacher", "device"}
        assert not differing, f"{system}: settings differ from --preset offline: {sorted(differing)}"
    teacher = json.loads((RESULTS / "teacher_check.json").read_text())
    assert teacher["preset_weight"] == preset["teacher_bm25_weight"]
    assert teacher["max_seq_length"] == preset["teacher_max_seq_length"]
    w = str(preset["teacher_bm25_weight"])
    assert teacher["weights"][w]["test"] > teacher["student_test"] + 0.05  # the teacher knows more than the student


@pytest.mark.parametrize("folder", [RESULTS, ABLATION], ids=["current", "ablation"])
def test_results_readme_quotes_the_committed_comparisons(folder):
    """The README's table says what the compare JSONs say: each system's NDCG@10 and each one-sided p-value."""
    readme = (folder / "README.md").read_text()
    for a, b in (("base", "gpl"), ("gpl", "rgpl")):
        row = json.loads((folder / f"compare-{a}-vs-{b}.json").read_text())["datasets"][0]
        for mean in (row["mean_a"], row["mean_b"]):
            assert f"| {100 * mean:.2f} |" in readme
        assert f"{row['p_value']:.2g}".replace("e-0", "e-") in readme or f"{row['p_value']:.2g}" in readme
