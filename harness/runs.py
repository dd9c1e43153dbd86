"""TREC run files: where they live (``run_path``, discovery), write (atomically, in trec_eval's order), read and
validate, plus their manifests.

A run file line is ``qid Q0 docid rank score tag``. The ranking convention is trec_eval's, and it is owned here
(:func:`trec_order`): trec_eval reads every score as a C ``float``, so two scores equal in single precision are a
tie, and ties are broken by document id descending (``strcmp``). The writer ranks by that same order and writes each
score as its single-precision value, in the shortest decimal that reads back as that value (the engines' own
precision: bm25s and the dense search score in float32), so a run file holds no distinction trec_eval cannot see
and every tool that re-sorts (trec_eval, pytrec_eval, ``harness evaluate``) sees exactly the ranking we wrote.
"""

from __future__ import annotations

import heapq
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from .errors import DataError
from .fileio import atomic_open, parse_decimal, read_json, utf8_lines, write_json
from .registry import DatasetInfo, get_suite, resolve_dataset

Run = dict[str, dict[str, float]]  # qid -> docid -> score


def run_path(runs_dir: str | Path, suite: str, dataset_key: str, name: str) -> Path:
    """``runs/<suite>/<dataset>/<name>.trec``; CQADupStack parts nest as ``cqadupstack/<forum>``."""
    return Path(runs_dir) / suite / dataset_key / f"{name}.trec"


def run_files_for(info: DatasetInfo, runs_dir: str | Path, system: str) -> tuple[list[tuple[str, Path]], list[str]]:
    """(present part files as (key, path), missing part keys) of ``runs/<suite>/<key>/<system>.trec``."""
    present, missing = [], []
    for key in info.part_names:
        p = run_path(runs_dir, info.suite, key, system)
        if p.is_file():
            present.append((key, p))
        else:
            missing.append(key)
    return present, missing


def datasets_with_runs(suite: str, systems: Sequence[str], runs_dir: str | Path) -> list[DatasetInfo]:
    """Registered datasets (in registry order) for which any part of any of ``systems`` has a run file, plus (BEIR)
    custom datasets: folders under ``runs/beir/`` that hold a run file of one of ``systems``."""
    s = get_suite(suite)
    found = [d for d in s.datasets if any(run_files_for(d, runs_dir, name)[0] for name in systems)]
    root = Path(runs_dir) / suite
    if suite == "beir" and root.is_dir():
        known = {d.name for d in s.datasets}
        for sub in sorted(p for p in root.iterdir() if p.is_dir() and p.name not in known):
            if any(run_path(runs_dir, suite, sub.name, name).is_file() for name in systems):
                found.append(resolve_dataset(suite, sub.name))
    return found


def manifest_path(trec_path: str | Path) -> Path:
    p = Path(trec_path)
    return p.with_name(p.name[: -len(".trec")] + ".manifest.json" if p.name.endswith(".trec") else p.name + ".manifest.json")


def single(scores: Iterable[float]) -> np.ndarray:
    """Scores as trec_eval reads them: each rounded to the nearest single-precision (C ``float``) value."""
    return np.fromiter(scores, dtype=np.float32)


def _ranked(ids: list[str], scores: np.ndarray, top_k: int | None = None) -> list[tuple[float, str]]:
    """(single-precision score, doc id) in trec_eval's order, the first ``top_k`` (all: None)."""
    pairs = zip(scores.tolist(), ids)
    return sorted(pairs, reverse=True) if top_k is None else heapq.nlargest(top_k, pairs)


def trec_order(docs: Mapping[str, float]) -> list[str]:
    """trec_eval's ranking: score in single precision descending, ties by document id descending."""
    return [d for _, d in _ranked(list(docs), single(docs.values()))]


def format_score(score: float) -> str:
    """The shortest decimal that reads back (as a double, then a C ``float``, as trec_eval does) as ``score``'s
    single-precision value: ``5.0941715`` for 5.094171524047852 (and ``0.0`` for -0.0, which trec_eval ties with it)."""
    s = np.float32(score) + np.float32(0)
    if s == 0 or 1e-4 <= abs(s) < 1e16:
        return np.format_float_positional(s, unique=True, trim="0")
    return np.format_float_scientific(s, unique=True, trim="0")


def rank_query(scores: Mapping[str, float], top_k: int) -> list[tuple[str, float]]:
    """Top ``top_k`` in trec_eval's order (:func:`trec_order`), each score as its single-precision value."""
    ids, values = list(scores), single(scores.values())
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        doc = ids[int(bad[0])]
        raise ValueError(f"score {scores[doc]} for document '{doc}' is not finite in single precision")
    return [(d, s) for s, d in _ranked(ids, values, top_k)]


def write_run(path: str | Path, run: Mapping[str, Mapping[str, float]], tag: str, top_k: int = 1000,
              query_order: Iterable[str] | None = None) -> Path:
    """Write a run file atomically: it appears complete or not at all."""
    path = Path(path)
    order = list(query_order) if query_order is not None else sorted(run)
    with atomic_open(path) as fh:
        for qid in order:
            for rank, (doc, score) in enumerate(rank_query(run.get(qid, {}), top_k), start=1):
                fh.write(f"{qid} Q0 {doc} {rank} {format_score(score)} {tag}\n")
    return path


def read_run(path: str | Path, ordered: bool = True) -> Run:
    """Read a TREC run (``qid Q0 docid rank score tag``); a malformed line, a non-finite score or a document listed
    twice for a query is an error naming its line. ``ordered`` (the harness's own files): within a query ranks must
    increase and the lines follow :func:`trec_order`, the order trec_eval re-sorts them into. Without it any line
    order is accepted and the rank column is not read (trec_eval re-sorts)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"run file not found: {path}")
    run: Run = {}
    last: dict[str, tuple[int, float, str]] = {}
    for no, line in utf8_lines(path):
        cols = line.split()
        if not cols:
            continue
        if len(cols) != 6:
            raise DataError(f"{path}:{no}: expected 6 columns 'qid Q0 docid rank score tag', got {len(cols)}")
        qid, _, doc, rank_s, score_s, _ = cols
        try:
            rank, score = int(rank_s) if ordered else 0, parse_decimal(score_s)
            if ordered and not rank_s.isascii():
                raise ValueError(rank_s)
        except ValueError:
            what = f"rank '{rank_s}' or score '{score_s}'" if ordered else f"score '{score_s}'"
            raise DataError(f"{path}:{no}: {what} is not a number") from None
        docs = run.setdefault(qid, {})
        if doc in docs:
            raise DataError(f"{path}:{no}: document '{doc}' appears twice for query '{qid}'")
        if not math.isfinite(score):
            raise DataError(f"{path}:{no}: score is not finite")
        if ordered:
            key = (rank, float(np.float32(score)), doc)
            if qid in last and (rank <= last[qid][0] or key[1:] >= last[qid][1:]):
                raise DataError(f"{path}:{no}: within query '{qid}' ranks must increase and scores decrease "
                                f"(ties: document ids descending, trec_eval's order)")
            last[qid] = key
        docs[doc] = score
    return run


# ---------------------------------------------------------------------------------------------- manifests
_PACKAGES = ("harness", "torch", "transformers", "sentence-transformers", "faiss-cpu", "faiss-gpu", "bm25s",
             "PyStemmer", "elasticsearch", "numpy", "scipy", "numba")


def package_versions() -> dict[str, str]:
    from importlib import metadata  # here, not at import: reading a run needs none of this

    out = {"python": sys.version.split()[0]}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


@dataclass
class Manifest:
    system: str
    name: str
    suite: str
    dataset: str
    settings: dict
    settings_hash: str
    dataset_fingerprint: str
    seed: int
    wall_time_s: float
    top_k: int
    n_queries: int
    models: dict
    extra: dict

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        import platform
        import socket

        d["packages"] = package_versions()
        d["host"] = {"hostname": socket.gethostname(), "platform": platform.platform(), "machine": platform.machine()}
        return d


def write_manifest(trec_path: str | Path, manifest: Manifest) -> Path:
    p = manifest_path(trec_path)
    write_json(p, manifest.to_dict())
    return p


def read_manifest(trec_path: str | Path) -> dict | None:
    p = manifest_path(trec_path)
    return read_json(p) if p.is_file() else None
