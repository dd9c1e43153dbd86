"""``harness run``: for each dataset part, load it, run a system, write the run file and its manifest.

A system whose class sets ``trains_on_union`` (GPL, R-GPL) adapts once to a multi-part dataset (CQADupStack): the
runner loads every part, hands the systems their union (``datasets.union_dataset``) as ``ctx.train_dataset`` and
still writes one run file per part, each retrieved from that part's own corpus (docs/gpl.md).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from .datasets import Dataset, cache_root, load_dataset, union_dataset
from .errors import HarnessError
from .locks import hold
from .registry import DatasetInfo, get_suite, resolve_dataset
from .runs import Manifest, read_manifest, run_path, write_manifest, write_run
from .systems import RunContext, build_settings, get_system_class, settings_dict, settings_hash

log = logging.getLogger("harness")


@dataclass
class RunRequest:
    system: str
    suite: str
    datasets: list[str] | None = None  # None: the whole suite
    data_dir: str | None = None
    out: str = "runs"
    sets: dict[str, str] | None = None
    preset: str | None = None
    name: str | None = None  # run name (defaults to the system name), e.g. rgpl-k10k
    seed: int = 42
    top_k: int = 1000
    force: bool = False
    allow_download: bool = True
    lenient_qrels: bool = False


def selected_datasets(suite: str, names: list[str] | None) -> list[DatasetInfo]:
    s = get_suite(suite)
    if not names:
        return list(s.datasets)
    return [resolve_dataset(suite, n) for n in names]


def drop_self_hits(run: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """For datasets whose queries are corpus documents (ArguAna, Quora): a query must not retrieve itself."""
    return {q: {d: s for d, s in docs.items() if d != q} for q, docs in run.items()}


def trained_on(union: Dataset | None) -> dict | None:
    """What a run trained on when that is not its own part: recorded in the manifest and part of being up to date."""
    if union is None:
        return None
    return {"dataset": union.key, "parts": list(union.parts), "fingerprint": union.fingerprint,
            "n_documents": len(union.corpus)}


def run_one(req: RunRequest, info: DatasetInfo, key: str, system_cls: type, settings, dataset: Dataset | None = None,
            union: Dataset | None = None) -> Path:
    """Run one dataset part; skip it when an identical run (same settings and data) is already written.

    ``union``: the whole multi-part dataset the system trains on (same training for every part)."""
    name = req.name or req.system
    out_path = run_path(req.out, req.suite, key, name)
    s_hash = settings_hash(req.system, settings)
    if dataset is None:
        dataset = load_dataset(info, key, req.data_dir, allow_download=req.allow_download,
                               lenient_qrels=req.lenient_qrels)
    training = trained_on(union)
    # one writer per run file: a second process waits here (or stops, naming the holder), then finds it up to date
    with hold(out_path, f"run file {out_path}"):
        return _run_locked(req, info, key, system_cls, settings, dataset, union, training, out_path, name, s_hash)


def _run_locked(req: RunRequest, info: DatasetInfo, key: str, system_cls: type, settings, dataset: Dataset,
                union: Dataset | None, training: dict | None, out_path: Path, name: str, s_hash: str) -> Path:
    old = read_manifest(out_path)
    if (not req.force and out_path.is_file() and old and old.get("settings_hash") == s_hash
            and old.get("dataset_fingerprint") == dataset.fingerprint and old.get("seed") == req.seed
            and old.get("top_k") == req.top_k and (old.get("extra") or {}).get("trained_on") == training):
        log.info("%s: up to date (%s)", key, out_path)
        return out_path
    ctx = RunContext(cache_dir=cache_root(), seed=req.seed, top_k=req.top_k, train_dataset=union)
    start = time.time()
    output = system_cls().retrieve(dataset, settings, ctx)
    if output.run is None:  # a non-writing rank of a distributed training (``--nproc``)
        return out_path
    run = drop_self_hits(output.run) if info.exclude_self_hits else output.run
    unknown = [q for q in run if q not in dataset.queries]
    if unknown:
        raise HarnessError(f"system '{req.system}' returned results for unknown query ids, e.g. '{unknown[0]}'")
    write_run(out_path, run, tag=name, top_k=req.top_k, query_order=dataset.queries)
    elapsed = time.time() - start
    log.info("%s/%s: %s wrote %d queries in %.1f s -> %s", req.suite, key, name, len(dataset.queries), elapsed, out_path)
    write_manifest(out_path, Manifest(
        system=req.system, name=name, suite=req.suite, dataset=key, settings=settings_dict(settings),
        settings_hash=s_hash, dataset_fingerprint=dataset.fingerprint, seed=req.seed,
        wall_time_s=round(elapsed, 3), top_k=req.top_k, n_queries=len(dataset.queries),
        models=output.models, extra={**output.extra, **({"trained_on": training} if training else {})},
    ))
    return out_path


def run_union(req: RunRequest, info: DatasetInfo, system_cls: type, settings) -> list[Path]:
    """One training on the union of ``info``'s parts, then one run file per part (the first part trains)."""
    parts = {key: load_dataset(info, key, req.data_dir, allow_download=req.allow_download,
                               lenient_qrels=req.lenient_qrels) for key in info.part_names}
    union = union_dataset(info, parts)
    log.info("%s: %s trains once on the union of its %d parts (%d documents)", info.name, req.system, len(parts),
             len(union.corpus))
    return [run_one(req, info, key, system_cls, settings, dataset=ds, union=union) for key, ds in parts.items()]


def run(req: RunRequest) -> list[Path]:
    system_cls = get_system_class(req.system)
    settings = build_settings(system_cls.Settings, req.sets or {}, req.preset, system=req.system)
    written = []
    for info in selected_datasets(req.suite, req.datasets):
        if info.parts and getattr(system_cls, "trains_on_union", False):
            written.extend(run_union(req, info, system_cls, settings))
            continue
        for key in info.part_names:
            written.append(run_one(req, info, key, system_cls, settings))
    return written
