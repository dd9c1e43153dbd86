"""Cost of one R-GPL re-mine: measures encoding throughput and projects re-mining time for a corpus size.

    python bench/gpl_remine_cost.py --model local:all-MiniLM-L6-v2 --data /path/to/beir/scifact \
        --passages 2000 --max-seq-length 350 --corpus-size 1000000

Prints passages/s and queries/s of ``harness.dense.encode_texts`` on the given model and device, then the
projected seconds per re-mine and in total for the paper's settings (GPL's cap: at most 83,334 passages and 250k
queries) and without the cap (every passage, 3 queries each), for k = 10k, 30k and 50k over 140k steps.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path


def encode_rates(model, passages: list[str], queries: list[str], batch_size: int) -> tuple[float, float]:
    """(passages/s, queries/s) of ``harness.dense.encode_texts`` after a short warm-up: what one re-mine encodes."""
    from harness.dense import encode_texts

    encode_texts(model, passages[:32], batch_size=batch_size)  # warm-up
    t0 = time.perf_counter()
    encode_texts(model, passages, batch_size=batch_size)
    p_rate = len(passages) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    encode_texts(model, queries, batch_size=batch_size)
    return p_rate, len(queries) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="local:all-MiniLM-L6-v2")
    ap.add_argument("--data", required=True, help="a BEIR folder (corpus.jsonl) whose passages are encoded")
    ap.add_argument("--passages", type=int, default=2000)
    ap.add_argument("--queries", type=int, default=4000)
    ap.add_argument("--max-seq-length", type=int, default=350)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--device", default="")
    ap.add_argument("--corpus-size", type=int, default=1_000_000)
    ap.add_argument("--steps", type=int, default=140_000)
    args = ap.parse_args()

    from harness.dense import load_encoder
    from harness.gpl.models import pick_device, resolve_model
    from harness.gpl.qgen import SpanGenerator

    rows = [json.loads(l) for _, l in zip(range(args.passages), open(Path(args.data) / "corpus.jsonl"))]
    passages = [f"{r.get('title', '')} {r['text']}".strip() for r in rows]
    gen = SpanGenerator(max_words=10)  # query-length texts (generated queries are ~10 words)
    queries = [q for qs in gen.generate(passages, 2, seed=0) for q in qs][:args.queries]
    device = pick_device(args.device)
    model = load_encoder(resolve_model(args.model), device=device, max_seq_length=args.max_seq_length)
    p_rate, q_rate = encode_rates(model, passages, queries, args.batch_size)
    print(f"model {args.model} on {device}, max_seq_length {args.max_seq_length}")
    print(f"passages/s {p_rate:,.0f}   queries/s {q_rate:,.0f}")
    for label, n_p, n_q in (("GPL cap", min(args.corpus_size, math.ceil(250_000 / 3)), 250_000),
                            ("no cap", args.corpus_size, 3 * args.corpus_size)):
        per = n_p / p_rate + n_q / q_rate
        print(f"{label}: {n_p:,} passages + {n_q:,} queries -> {per:,.0f} s per re-mine; " + ", ".join(
            f"k={k // 1000}k: {(args.steps - 1) // k} re-mines, {per * ((args.steps - 1) // k) / 60:,.1f} min"
            for k in (10_000, 30_000, 50_000)))


if __name__ == "__main__":
    main()
