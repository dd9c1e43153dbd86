"""Does the offline preset's teacher know more than its student? SciFact, measured, both printed.

The offline preset (``--preset offline``) adapts all-MiniLM-L6-v2 with a hybrid teacher: the frozen MiniLM's cosine
plus ``w`` times Lucene BM25 (``harness.gpl.teacher.HybridTeacher``). This script

1. picks ``w`` on SciFact's *train* queries (809 queries, ``qrels/train.tsv``), never on the test queries;
2. reports NDCG@10 on the 300 *test* queries for the student (MiniLM alone, exact search over the whole corpus),
   BM25 alone, and the teacher (hybrid score over the whole corpus), all from the same embeddings and index;
3. checks that ``HybridTeacher.score`` gives the same numbers as the matrix path used here for a sample of pairs.

    python bench/offline_teacher_check.py --data-dir ../shared/data [--json out.json]

Encoding SciFact with MiniLM takes ~3-5 minutes on 2 CPU cores (seconds on a GPU).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.datasets import load_dataset, read_beir_qrels, read_beir_queries  # noqa: E402
from harness.dense import encode_texts, load_encoder  # noqa: E402
from harness.evaluate import NDCG10, evaluate_run  # noqa: E402
from harness.gpl.qgen import doc_text  # noqa: E402
from harness.gpl.settings import OFFLINE  # noqa: E402
from harness.gpl.teacher import HybridTeacher  # noqa: E402
from harness.registry import resolve_dataset  # noqa: E402

WEIGHTS = (0.0, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1)


def top_run(scores: np.ndarray, qids: list[str], doc_ids: list[str], k: int = 100) -> dict[str, dict[str, float]]:
    idx = np.argpartition(-scores, k, axis=1)[:, :k]
    return {q: {doc_ids[j]: float(scores[i, j]) for j in idx[i]} for i, q in enumerate(qids)}


def ndcg(scores: np.ndarray, qids: list[str], doc_ids: list[str], qrels: dict) -> float:
    return float(evaluate_run(top_run(scores, qids, doc_ids), qrels, [NDCG10]).scores[NDCG10].mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default="../shared/data")
    ap.add_argument("--model", default=OFFLINE["student"], help="bi-encoder (student, and the teacher's dense part)")
    ap.add_argument("--max-seq-length", type=int, default=OFFLINE["teacher_max_seq_length"] or OFFLINE["max_seq_length"],
                    help="the teacher's max tokens (default: the preset's teacher_max_seq_length)")
    ap.add_argument("--device", default=None)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()

    from harness.gpl.models import resolve_model

    ds = load_dataset(resolve_dataset("beir", "scifact"), "scifact", a.data_dir, allow_download=False)
    corpus = ds.corpus
    passages = [doc_text(corpus, i) for i in range(len(corpus))]
    all_queries = read_beir_queries(Path(ds.path) / "queries.jsonl")[0]  # every split's queries
    splits = {split: read_beir_qrels(Path(ds.path) / "qrels" / f"{split}.tsv")[0] for split in ("train", "test")}

    t0 = time.time()
    model_path = resolve_model(a.model)
    teacher = HybridTeacher(model_path, passages, device=a.device or "", max_seq_length=a.max_seq_length,
                            score_function="cos", bm25_weight=OFFLINE["teacher_bm25_weight"])
    doc_emb = encode_texts(teacher.dense.model, passages, batch_size=64, normalize=True)
    print(f"encoded {len(passages)} passages in {time.time() - t0:.0f} s", file=sys.stderr)

    result: dict = {"model": a.model, "max_seq_length": a.max_seq_length, "weights": {}}
    mats = {}
    for split, qrels in splits.items():
        qids = [q for q in qrels if q in all_queries]
        q_emb = encode_texts(teacher.dense.model, [all_queries[q] for q in qids], batch_size=64, normalize=True)
        dense = q_emb @ doc_emb.T
        lexical = teacher.bm25_all([all_queries[q] for q in qids])
        mats[split] = (qids, dense, lexical)
        for w in WEIGHTS:
            result["weights"].setdefault(str(w), {})[split] = ndcg(dense + w * lexical, qids, corpus.ids, qrels)
        result[f"bm25_{split}"] = ndcg(lexical, qids, corpus.ids, qrels)

    best = max(WEIGHTS[1:], key=lambda w: result["weights"][str(w)]["train"])
    # the weight that ranks best on train; the preset's weight is chosen by what the *adapted student* scores on
    # train (bench/offline_preset_grid.py), which is not the same question
    result["best_teacher_weight_on_train"] = best
    result["preset_weight"] = OFFLINE["teacher_bm25_weight"]
    w = OFFLINE["teacher_bm25_weight"]
    if str(w) not in result["weights"]:
        qids, dense, lexical = mats["test"]
        result["weights"][str(w)] = {"test": ndcg(dense + w * lexical, qids, corpus.ids, splits["test"])}
    result["student_test"] = result["weights"]["0.0"]["test"]
    result["teacher_test"] = result["weights"][str(w)]["test"]

    # the class's own pair scores equal the matrix path
    qids, dense, lexical = mats["test"]
    rng = np.random.default_rng(0)
    qi, di = rng.integers(0, len(qids), 200), rng.integers(0, len(passages), 200)
    got = teacher.score([all_queries[qids[i]] for i in qi], [passages[j] for j in di])
    want = dense[qi, di] + w * lexical[qi, di]
    result["pair_score_max_abs_diff"] = float(np.abs(got - want).max())

    print(f"{'w':>6}  {'train':>6}  {'test':>6}")
    for k, v in result["weights"].items():
        print(f"{k:>6}  {100 * v.get('train', float('nan')):6.1f}  {100 * v['test']:6.1f}")
    print(f"BM25 alone: train {100 * result['bm25_train']:.1f}, test {100 * result['bm25_test']:.1f}")
    print(f"best weight on train: {best}; preset weight: {w}")
    print(f"SciFact test NDCG@10: student (MiniLM) {100 * result['student_test']:.1f}, "
          f"teacher (MiniLM + {w} x BM25) {100 * result['teacher_test']:.1f}")
    print(f"HybridTeacher.score vs matrix path: max |diff| = {result['pair_score_max_abs_diff']:.2e}")
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
