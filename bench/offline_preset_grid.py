"""Choose the offline preset on a dataset's *train* queries: base, GPL and R-GPL configurations, scored on train only.

Each configuration is the offline preset plus ``--set``-style overrides; it runs the harness's own GPL / R-GPL
pipeline (cached stages are shared between configurations, so only what a setting changes is recomputed) and scores
the adapted model by NDCG@10 on the dataset's train queries (``qrels/train.tsv``) over the whole corpus. The test
queries are never read. Results are appended to a JSON-lines file, one line per configuration; a configuration
already in the file is skipped, so the script resumes.

    python bench/offline_preset_grid.py --data-dir ../shared/data --out grid.jsonl \\
        --config base:base: --config gpl-rescale:gpl:label_rescale=-2,2 \\
        --config 'rgpl-k100:rgpl:label_rescale=-2,2;remine_every=100'

A configuration is ``NAME:SYSTEM:KEY=VALUE;KEY=VALUE...`` (SYSTEM: base, gpl or rgpl; ``;`` separates settings
because list values contain commas). ``--cache`` is the harness cache folder (default: HARNESS_CACHE).

    python bench/offline_preset_grid.py --out grid.jsonl --table [--vs base]

prints the file as a Markdown table instead (each row's overrides, train NDCG@10, and where both rows kept
per-query scores the one-sided Wilcoxon p-value of "row > the --vs row").
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.datasets import load_dataset, read_beir_qrels, read_beir_queries  # noqa: E402
from harness.evaluate import NDCG10, evaluate_run  # noqa: E402
from harness.registry import resolve_dataset  # noqa: E402


def parse_config(text: str) -> tuple[str, str, dict[str, str]]:
    name, system, rest = (text.split(":", 2) + ["", ""])[:3]
    if system not in ("base", "gpl", "rgpl"):
        raise SystemExit(f"--config {text}: SYSTEM must be base, gpl or rgpl")
    sets = dict(kv.split("=", 1) for kv in rest.split(";") if kv.strip())
    return name, system, sets


def train_queries(folder: Path) -> tuple[dict[str, str], dict]:
    qrels = read_beir_qrels(folder / "qrels" / "train.tsv")[0]
    queries = {q: t for q, t in read_beir_queries(folder / "queries.jsonl")[0].items() if q in qrels}
    return queries, qrels


# left out of the table's differences: the models' paths, and the generation cap, whose older values (corpus_sample=0,
# max_generated_queries=250000) and today's give SciFact the same 5,183 passages x 3 queries
SAME_ON_THE_GRID = ("model", "student", "teacher", "corpus_sample", "max_generated_queries")


def print_table(out: Path, vs: str) -> None:
    from scipy.stats import wilcoxon

    from harness.gpl.settings import RGPLSettings
    from harness.systems import build_settings, get_system_class

    rows = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    ref = next((r for r in rows if r["name"] == vs), None)
    print(f"| configuration | system | differs from today's --preset offline | train NDCG@10 | vs {vs}: p (one-sided) | s |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        cls = get_system_class("base").Settings if r["system"] == "base" else RGPLSettings
        now = vars(build_settings(cls, {}, preset="offline"))
        if r["system"] == "gpl":
            now["remine_every"] = 0
        got = {**r["settings"], **({"remine_every": 0} if r["system"] == "gpl" else {})}
        diff = {k: v for k, v in got.items() if k in now and v != now[k] and k not in SAME_ON_THE_GRID}
        diff.update({k: 0 for k in ("similarity_scale_fit",) if k in now and k not in got and now[k]})  # older rows
        sets = "; ".join(f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in diff.items()) or "(none)"
        p = ""
        if ref is not None and r is not ref and "per_query" in r and "per_query" in ref:
            qids = sorted(ref["per_query"])
            d = [r["per_query"][q] - ref["per_query"][q] for q in qids]
            p = f"{wilcoxon(d, alternative='greater').pvalue:.2g}" if any(d) else "1"
        print(f"| {r['name']} | {r['system']} | {sets} | {100 * r['train_ndcg10']:.2f} | {p} | {r['seconds']:.0f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default="../shared/data")
    ap.add_argument("--dataset", default="scifact")
    ap.add_argument("--config", action="append", default=[], help="NAME:SYSTEM:KEY=VALUE;KEY=VALUE (repeatable)")
    ap.add_argument("--out", required=True, help="JSON-lines results (appended; configurations in it are skipped)")
    ap.add_argument("--cache", default=None)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--table", action="store_true", help="print --out as a Markdown table and exit")
    ap.add_argument("--vs", default="base", help="--table: the row the others are tested against")
    a = ap.parse_args()
    if a.table:
        print_table(Path(a.out), a.vs)
        return

    from harness.dense import dense_retrieve, load_encoder
    from harness.gpl.models import pick_device, resolve_model
    from harness.gpl.pipeline import run_pipeline
    from harness.gpl.settings import GPLSettings, RGPLSettings
    from harness.gpl.workdir import WorkDir
    from harness.systems import build_settings, get_system_class

    cache = Path(a.cache or os.environ.get("HARNESS_CACHE") or Path.home() / ".cache" / "harness")
    ds = load_dataset(resolve_dataset("beir", a.dataset), a.dataset, a.data_dir, allow_download=False)
    queries, qrels = train_queries(Path(a.data_dir) / a.dataset)
    out = Path(a.out)
    done = {json.loads(line)["name"] for line in out.read_text().splitlines() if line.strip()} if out.is_file() else set()
    for text in a.config:
        name, system, sets = parse_config(text)
        if name in done:
            print(f"{name}: in {out}, skipped", flush=True)
            continue
        t0 = time.time()
        row: dict = {"name": name, "system": system, "sets": sets, "seed": a.seed}
        if system == "base":
            s = build_settings(get_system_class("base").Settings, sets, preset="offline")
            model_path, sf, msl, batch, precision = s.model, s.score_function, s.max_seq_length, s.batch_size, "auto"
        else:
            s = build_settings(RGPLSettings if system == "rgpl" else GPLSettings, sets, preset="offline")
            res = run_pipeline(ds, s, cache, a.seed)
            work = WorkDir(res.work_dir)
            rows = work.log_rows()
            row.update(work_dir=str(res.work_dir), query_stats=res.query_stats, timing=work.timing(),
                       loss_first=rows[0]["loss"] if rows else None,
                       loss_last_mean=sum(r["loss"] for r in rows[-20:]) / max(1, len(rows[-20:])),
                       label_margins=[r.manifest()["label_margins"] for r in work.rounds()])
            model_path, sf, msl, batch, precision = (str(res.model_dir), s.score_function, s.max_seq_length,
                                                     s.encode_batch_size, s.encode_precision)
        row["settings"] = vars(s)
        t1 = time.time()
        model = load_encoder(model_path, device=pick_device(getattr(s, "device", "")), max_seq_length=msl)
        # corpus embeddings in the harness cache: a later `harness run` of the same model on the test queries reuses them
        run = dense_retrieve(model, ds.corpus, queries, top_k=100, score_function=sf, batch_size=batch,
                             precision=precision, cache_dir=cache, corpus_fingerprint=ds.corpus_fingerprint)
        per_query = evaluate_run(run, qrels, [NDCG10])
        row["train_ndcg10"] = float(per_query.scores[NDCG10].mean())
        row["per_query"] = dict(zip(per_query.qids, per_query.scores[NDCG10].tolist()))  # for paired tests between rows
        row["eval_seconds"] = round(time.time() - t1, 1)
        row["seconds"] = round(time.time() - t0, 1)
        with open(out, "a") as fh:
            fh.write(json.dumps(row, default=str) + "\n")
        print(f"{name}: train NDCG@10 {100 * row['train_ndcg10']:.2f} ({row['seconds']} s)", flush=True)


if __name__ == "__main__":
    main()
