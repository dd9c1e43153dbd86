"""How much do the offline query generators give their passages away? SciFact, against its real train queries.

For each offline generator (``offline-span``, ``offline-keyphrase``) this generates queries for the whole corpus
(``--qpp`` per passage, through the pipeline's own query-generation stage and seeds, so a run with the same seed
measures the same) and prints ``harness.gpl.qgen.query_stats``: words per
query, the share found verbatim in their passage, and the share whose passage Lucene BM25 ranks first; the same
statistics of the dataset's real *train* queries (never the test queries) are the reference.

    python bench/offline_generators.py --data-dir ../shared/data [--qpp 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.datasets import load_dataset, read_beir_qrels, read_beir_queries  # noqa: E402
from harness.gpl.qgen import OFFLINE_GENERATORS, format_query_stats, load_qgen, query_stats, run_qgen  # noqa: E402
from harness.gpl.stages import Stage  # noqa: E402
from harness.registry import resolve_dataset  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default="../shared/data")
    ap.add_argument("--dataset", default="scifact")
    ap.add_argument("--qpp", type=int, default=3, help="queries per passage")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()

    ds = load_dataset(resolve_dataset("beir", a.dataset), a.dataset, a.data_dir, allow_download=False)
    corpus = ds.corpus
    out: dict = {"dataset": a.dataset, "queries_per_passage": a.qpp, "seed": a.seed}
    folder = Path(a.data_dir) / a.dataset
    train_qrels = folder / "qrels" / "train.tsv"
    if train_qrels.is_file():
        qrels = read_beir_qrels(train_qrels)[0]
        queries = {q: t for q, t in read_beir_queries(folder / "queries.jsonl")[0].items() if q in qrels}
        out["real train queries"] = query_stats(queries, qrels, corpus, seed=a.seed)
        print(f"{'real train queries':>20}: {format_query_stats(out['real train queries'])}", flush=True)
    for name in OFFLINE_GENERATORS:
        t0 = time.time()
        with tempfile.TemporaryDirectory() as tmp:  # the pipeline's own query-generation stage, seeds and all
            stage = Stage(Path(tmp), "qgen", {"generator": name})
            run_qgen(stage, corpus, np.arange(len(corpus)), a.qpp, SimpleNamespace(generator=name), a.seed)
            queries, qrels = load_qgen(stage.dir)
        stats = query_stats(queries, qrels, corpus, seed=a.seed)
        stats["seconds"] = round(time.time() - t0, 1)
        stats["examples"] = [queries[f"genQ{i}"] for i in (1, 2, 3, 100, 1000) if f"genQ{i}" in queries]
        out[name] = stats
        print(f"{name:>20}: {format_query_stats(stats)} [{stats['seconds']} s]; e.g. {stats['examples'][:3]}",
              flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
