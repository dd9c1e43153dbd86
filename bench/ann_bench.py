"""Exact (chunked) search vs the approximate mining indexes (faiss IVF-Flat, HNSW) on synthetic clustered embeddings.

Prints, for each method: build seconds, queries/s, recall@50 against exact (measured on the same queries), and the
peak anonymous RSS (the process's own memory) during build + search, next to the memory the formulas in
docs/scale.md predict. The embeddings are written to a float32 memmap first (as the embedding cache stores them),
so exact search reads them from disk chunk by chunk.

    python bench/ann_bench.py --docs 200000 --dim 384 --queries 2000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def anon_rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class PeakRss:
    def __enter__(self):
        self.peak, self.stop = anon_rss_mib(), False
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()
        return self

    def _poll(self):
        while not self.stop:
            self.peak = max(self.peak, anon_rss_mib())
            time.sleep(0.05)

    def __exit__(self, *exc):
        self.stop = True
        self.thread.join()
        self.peak = max(self.peak, anon_rss_mib())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=200_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--k", type=int, default=50)
    ap.add_argument("--chunk", type=int, default=100_000, help="exact search: documents per chunk")
    ap.add_argument("--methods", default="exact,ivf,hnsw")
    args = ap.parse_args()

    import faiss

    from harness.ann import ann_search, parse_index
    from harness.dense import search

    rng = np.random.default_rng(0)
    tmp = Path(tempfile.mkdtemp(prefix="ann-bench-"))
    path = tmp / "embeddings.f32"
    mm = np.memmap(path, dtype=np.float32, mode="w+", shape=(args.docs, args.dim))
    centres = rng.normal(size=(1024, args.dim)).astype(np.float32)
    for s in range(0, args.docs, 100_000):
        e = min(args.docs, s + 100_000)
        block = centres[rng.integers(0, 1024, e - s)] + 0.5 * rng.normal(size=(e - s, args.dim)).astype(np.float32)
        mm[s:e] = block / np.linalg.norm(block, axis=1, keepdims=True)
    mm.flush()
    del mm
    docs = np.memmap(path, dtype=np.float32, mode="r", shape=(args.docs, args.dim))
    q = np.ascontiguousarray(docs[rng.integers(0, args.docs, args.queries)] +
                             0.3 * rng.normal(size=(args.queries, args.dim)).astype(np.float32))
    emb_mib = args.docs * args.dim * 4 / 2**20
    print(f"{args.docs} docs x {args.dim} dims ({emb_mib:.0f} MiB of embeddings on disk), {args.queries} queries, "
          f"k={args.k}, faiss {faiss.__version__}, {faiss.omp_get_max_threads()} threads")
    base = anon_rss_mib()
    print(f"baseline anon RSS {base:.0f} MiB")
    exact_idx = None
    for method in args.methods.split(","):
        with PeakRss() as peak:
            t0 = time.time()
            if method == "exact":
                _, idx = search(q, docs, args.k, chunk_size=args.chunk, backend="faiss")
                report = {"build_s": 0.0}
                search_s = time.time() - t0
                exact_idx = idx
            else:
                spec = parse_index(method)
                spec.check_queries = args.queries
                _, idx = ann_search(q, docs, args.k, spec, chunk_size=args.chunk)
                report = spec.report
                search_s = report.get("search_s", float("nan"))
        recall = report.get("recall", 1.0 if method == "exact" else float("nan"))
        print(f"{method:6s} build {report['build_s']:7.1f} s   search {args.queries / search_s:9.0f} q/s   "
              f"recall@{args.k} {recall:.4f}   peak anon RSS +{peak.peak - base:.0f} MiB   "
              f"{'' if method == 'exact' else 'params ' + str({k: report[k] for k in ('nlist', 'nprobe', 'm', 'ef_search') if k in report})}")
    path.unlink()
    tmp.rmdir()


if __name__ == "__main__":
    main()
