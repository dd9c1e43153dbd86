"""Stage caching: each stage's outputs live in ``<cache>/gpl/<stage>/<key>/`` where ``key`` hashes its inputs.

A stage folder is complete once ``stage.json`` exists (written last, atomically); anything else in an
incomplete folder is partial work the stage may resume from. Changing a setting changes the keys of exactly the
stages that depend on it, so only those are recomputed.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from ..errors import DataError
from ..fileio import atomic_open, read_json, stable_hash, write_json

STAGE_VERSION = 1  # bump when a stage's procedure changes (invalidates every cache entry)


@dataclass
class Stage:
    root: Path  # <cache>/gpl
    kind: str  # qgen, mine, negatives, labels, train
    inputs: dict
    key: str = field(init=False)
    dir: Path = field(init=False)

    def __post_init__(self) -> None:
        self.key = stable_hash({"stage": self.kind, "version": STAGE_VERSION, **self.inputs})
        self.dir = Path(self.root) / self.kind / self.key

    @property
    def done(self) -> bool:
        return (self.dir / "stage.json").is_file()

    def start(self) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        self._t0 = time.time()
        return self.dir

    def finish(self, **info) -> None:
        info.setdefault("seconds", round(time.time() - getattr(self, "_t0", time.time()), 3))
        write_json(self.dir / "stage.json", {"stage": self.kind, "key": self.key, "inputs": self.inputs, **info})

    def info(self) -> dict:
        return read_json(self.dir / "stage.json")


# ------------------------------------------------------------------------------------------- file formats
def write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    with atomic_open(path) as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def read_jsonl(path: Path) -> Iterator[dict]:
    with open(path, encoding="utf-8") as fh:
        for no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{path}:{no}: malformed JSON ({e.msg})") from None


def write_queries(path: Path, queries: dict[str, str]) -> None:
    """BEIR queries file: ``{"_id": qid, "text": query}`` per line."""
    write_jsonl(path, ({"_id": q, "text": t} for q, t in queries.items()))


def read_queries(path: Path) -> dict[str, str]:
    return {row["_id"]: row["text"] for row in read_jsonl(path)}


def write_qrels(path: Path, qrels: dict[str, list[str]]) -> None:
    """BEIR qrels: header ``query-id corpus-id score``, tab-separated."""
    with atomic_open(path) as fh:
        fh.write("query-id\tcorpus-id\tscore\n")
        for q, docs in qrels.items():
            for d in docs:
                fh.write(f"{q}\t{d}\t1\n")


def read_qrels(path: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    with open(path, encoding="utf-8") as fh:
        for no, line in enumerate(fh, start=1):
            cols = line.rstrip("\n").split("\t")
            if no == 1 and cols[0] == "query-id":
                continue
            if len(cols) != 3:
                raise DataError(f"{path}:{no}: expected 3 tab-separated columns")
            out.setdefault(cols[0], []).append(cols[1])
    return out


Negatives = dict[str, dict]  # qid -> {"pos": [pid, ...], "neg": {source: [pid, ...]}}


def write_negatives(path: Path, negatives: Negatives) -> None:
    """GPL's ``hard-negatives.jsonl``: ``{"qid", "pos": [...], "neg": {miner: [...]}}`` per line."""
    write_jsonl(path, ({"qid": q, "pos": v["pos"], "neg": v["neg"]} for q, v in negatives.items()))


def read_negatives(path: Path) -> Negatives:
    """Read ``hard-negatives.jsonl``; document ids are shared objects (25M ids of 250k queries stay small)."""
    canon: dict[str, str] = {}
    out: Negatives = {}
    for row in read_jsonl(path):
        out[row["qid"]] = {"pos": [canon.setdefault(d, d) for d in row["pos"]],
                           "neg": {src: [canon.setdefault(d, d) for d in lst] for src, lst in row["neg"].items()}}
    return out


def link_or_copy(src: Path, dst: Path) -> None:
    """Hard-link ``src`` to ``dst`` (copy across file systems), replacing ``dst`` atomically."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.tmp")
    if tmp.exists():
        tmp.unlink()
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)
