"""The GPL / R-GPL work folder: the one place that knows its file names and formats.

One training's work folder (``<cache>/gpl/train/<key>/``)::

    sources.json            what was trained: dataset, student, teacher, miners, settings, stage folders
    train-log.jsonl         one line per optimizer step: step, loss, margin_mean, lr, round
    checkpoints/step-<n>/   resumable trainer checkpoints (+ gpl_state.json)
    rounds/<step>/          one round of negatives (0 = the initial miners; R-GPL: k, 2k, ...), see :class:`Round`
    model/                  the adapted model;  training.json, timing.json: summaries

The generated data (the ``qgen`` stage folder, named by ``sources.json``'s ``qgen_dir``) has GPL's layout:
``corpus.jsonl``, ``qgen-queries.jsonl`` and ``qgen-qrels/train.tsv`` (:class:`GeneratedData`).

Training, re-mining, labelling, the pipeline, analysis and the figures read and write these files only through
the types here. Readers raise :class:`~harness.errors.DataError` naming the file and line.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ..errors import DataError, HarnessError
from ..fileio import atomic_open, read_json, read_jsonl, write_json, write_jsonl

CHECKPOINT_RE = re.compile(r"^step-(\d+)$")


def jaccard(a: Iterable[str], b: Iterable[str]) -> float:
    """|A ∩ B| / |A ∪ B| of two id collections (1.0 when both are empty)."""
    sa, sb = set(a), set(b)
    return len(sa & sb) / len(sa | sb) if sa or sb else 1.0


def _typed(path: Path, no: int, obj: dict, key: str, kind: type | tuple[type, ...]) -> Any:
    if key not in obj:
        raise DataError(f"{path}:{no}: missing field '{key}'")
    val = obj[key]
    if isinstance(val, bool) or not isinstance(val, kind):
        raise DataError(f"{path}:{no}: field '{key}' has type {type(val).__name__}")
    return val


def _read_json_object(path: Path) -> dict:
    if not path.is_file():
        raise DataError(f"missing file: {path}")
    try:
        obj = read_json(path)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: malformed JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a JSON object")
    return obj


# ------------------------------------------------------------------------------------------- negatives
@dataclass(slots=True)
class QueryNegatives:
    """One generated query's positives and its negatives by source (a miner's name, or "student")."""

    pos: list[str]
    neg: dict[str, list[str]]

    def union(self) -> list[str]:
        """All negatives, de-duplicated, in source order."""
        return list(dict.fromkeys(p for pids in self.neg.values() for p in pids))


class Negatives(dict):
    """qid -> :class:`QueryNegatives`: the hard negatives of one round (GPL's ``hard-negatives.jsonl``)."""

    def negatives(self, qid: str) -> list[str]:
        entry = self.get(qid)
        return entry.union() if entry is not None else []

    def sources(self) -> list[str]:
        return sorted({s for entry in self.values() for s in entry.neg})

    def n_negatives(self) -> int:
        return sum(len(entry.union()) for entry in self.values())

    def n_queries_with_negatives(self) -> int:
        return sum(1 for entry in self.values() if any(entry.neg.values()))

    def mean_jaccard(self, other: Negatives) -> float | None:
        """Mean over the queries of both of the Jaccard overlap of their negative sets."""
        vals = [jaccard(entry.union(), other[q].union()) for q, entry in self.items() if q in other]
        return float(np.mean(vals)) if vals else None

    def write(self, path: Path) -> None:
        write_jsonl(path, ({"qid": q, "pos": e.pos, "neg": e.neg} for q, e in self.items()))

    @classmethod
    def read(cls, path: Path) -> Negatives:
        """Read ``hard-negatives.jsonl``; document ids are shared objects (25M ids of 250k queries stay small)."""
        canon: dict[str, str] = {}
        out = cls()
        for no, obj in read_jsonl(path):
            qid = str(_typed(path, no, obj, "qid", (str, int)))
            pos = _typed(path, no, obj, "pos", list)
            neg = _typed(path, no, obj, "neg", dict)
            if not all(isinstance(v, list) for v in neg.values()):
                raise DataError(f"{path}:{no}: field 'neg' must map each source to a list of ids")
            out[qid] = QueryNegatives([canon.setdefault(str(d), str(d)) for d in pos],
                                      {str(s): [canon.setdefault(str(d), str(d)) for d in lst] for s, lst in neg.items()})
        return out


# ----------------------------------------------------------------------------------------------- round
@dataclass
class NegativeScores:
    """Teacher scores of one round's negatives for the fixed query sample, grouped by who mined them."""

    step: int
    by_source: dict[str, np.ndarray]  # source (miner name or "student") -> scores
    qids: list[str]  # the sampled queries, in first-seen order
    per_query: int  # largest number of negatives one query has from one source


class Round:
    """``rounds/<step>/``: the negatives of the steps from ``step`` on, their labelled training tuples, the teacher
    scores of a fixed sample of queries' negatives, and ``manifest.json`` (written last: the round is complete)."""

    NEGATIVES = "hard-negatives.jsonl"
    MANIFEST = "manifest.json"
    SCORES = "negative-scores.jsonl"
    TUPLES = "tuples.npz"
    TRAINING_TSV = "gpl-training-data.tsv"  # GPL's format: qid, positive pid, negative pid, margin
    FILES = (NEGATIVES, MANIFEST, SCORES, TUPLES, TRAINING_TSV)

    def __init__(self, dir: Path, step: int):
        self.dir, self.step = Path(dir), int(step)

    def path(self, name: str) -> Path:
        return self.dir / name

    @property
    def label_parts(self) -> Path:
        return self.dir / "label-parts"

    @property
    def complete(self) -> bool:
        return self.path(self.MANIFEST).is_file()

    # negatives
    def write_negatives(self, negatives: Negatives) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        negatives.write(self.path(self.NEGATIVES))

    def negatives(self) -> Negatives:
        return Negatives.read(self.path(self.NEGATIVES))

    # manifest
    def write_manifest(self, manifest: dict) -> None:
        write_json(self.path(self.MANIFEST), manifest)

    def manifest(self) -> dict | None:
        """The manifest, or None while the round is incomplete."""
        return _read_json_object(self.path(self.MANIFEST)) if self.complete else None

    # teacher scores of the sampled queries' negatives
    def write_scores(self, rows: list[dict]) -> None:
        write_jsonl(self.path(self.SCORES), rows)

    def has_scores(self) -> bool:
        return self.path(self.SCORES).is_file()

    def scores(self) -> NegativeScores:
        path = self.path(self.SCORES)
        by: dict[str, list[float]] = {}
        qids: dict[str, None] = {}
        counts: dict[tuple[str, str], int] = {}
        for no, obj in read_jsonl(path):
            qid = str(_typed(path, no, obj, "qid", (str, int)))
            src = str(_typed(path, no, obj, "source", str))
            by.setdefault(src, []).append(float(_typed(path, no, obj, "teacher_score", (int, float))))
            qids.setdefault(qid)
            counts[(qid, src)] = counts.get((qid, src), 0) + 1
        if not by:
            raise DataError(f"{path}: no scores")
        return NegativeScores(step=self.step, by_source={k: np.array(v, dtype=np.float64) for k, v in by.items()},
                              qids=list(qids), per_query=max(counts.values()))

    # labelled training tuples
    def write_tuples(self, tuples: np.ndarray, pos_score: np.ndarray, neg_score: np.ndarray, start: int, end: int,
                     batch_size: int, qids: list[str], doc_ids: list[str]) -> None:
        """``tuples.npz`` (read by training) and GPL's ``gpl-training-data.tsv``."""
        margin = (pos_score - neg_score).astype(np.float32)
        with atomic_open(self.path(self.TUPLES), "wb") as fh:
            np.savez(fh, tuples=tuples, pos_score=pos_score, neg_score=neg_score, margin=margin,
                     steps=np.array([start, end, batch_size], dtype=np.int64))
        with atomic_open(self.path(self.TRAINING_TSV)) as fh:
            for (q, p, n), m in zip(tuples.tolist(), margin.tolist()):
                fh.write(f"{qids[q]}\t{doc_ids[p]}\t{doc_ids[n]}\t{m}\n")

    def tuples(self) -> dict:
        with np.load(self.path(self.TUPLES)) as z:
            return {k: z[k] for k in z.files}


# ------------------------------------------------------------------------------------- generated data
class GeneratedData:
    """The ``qgen`` stage folder in GPL's generated-data layout."""

    def __init__(self, dir: Path):
        self.dir = Path(dir)

    @property
    def corpus_path(self) -> Path:
        return self.dir / "corpus.jsonl"

    @property
    def queries_path(self) -> Path:
        return self.dir / "qgen-queries.jsonl"

    @property
    def qrels_path(self) -> Path:
        return self.dir / "qgen-qrels" / "train.tsv"

    @property
    def stats_path(self) -> Path:
        return self.dir / "query-stats.json"

    def write_stats(self, stats: dict) -> None:
        """:func:`harness.gpl.qgen.query_stats` of the generated queries."""
        write_json(self.stats_path, stats)

    def stats(self) -> dict | None:
        return read_json(self.stats_path) if self.stats_path.is_file() else None

    def write_queries(self, queries: dict[str, str]) -> None:
        write_jsonl(self.queries_path, ({"_id": q, "text": t} for q, t in queries.items()))

    def queries(self) -> dict[str, str]:
        path = self.queries_path
        return {str(_typed(path, no, obj, "_id", (str, int))): str(_typed(path, no, obj, "text", str))
                for no, obj in read_jsonl(path)}

    def write_qrels(self, qrels: dict[str, list[str]]) -> None:
        """BEIR qrels: header ``query-id corpus-id score``, tab-separated."""
        with atomic_open(self.qrels_path) as fh:
            fh.write("query-id\tcorpus-id\tscore\n")
            for q, docs in qrels.items():
                for d in docs:
                    fh.write(f"{q}\t{d}\t1\n")

    def qrels(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        with open(self.qrels_path, encoding="utf-8") as fh:
            for no, line in enumerate(fh, start=1):
                cols = line.rstrip("\n").split("\t")
                if no == 1 and cols[0] == "query-id":
                    continue
                if len(cols) != 3:
                    raise DataError(f"{self.qrels_path}:{no}: expected 3 tab-separated columns")
                out.setdefault(cols[0], []).append(cols[1])
        return out

    def corpus(self):
        """``(Corpus, sha256)`` of the passages queries were generated for."""
        from ..datasets import read_beir_corpus

        return read_beir_corpus(self.corpus_path)


# ---------------------------------------------------------------------------------------- work folder
@dataclass
class TrainLog:
    """One entry per optimizer step, sorted by step (a resumed training's re-logged steps keep the last entry)."""

    steps: np.ndarray  # int64 [n]
    loss: np.ndarray  # float64 [n]
    margin: np.ndarray  # float64 [n]; NaN where the log has no margin
    lr: np.ndarray  # float64 [n]
    round: np.ndarray  # int64 [n]: step at which the negatives in use were mined (0 = initial)

    def __len__(self) -> int:
        return len(self.steps)


def _number(v: Any) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else float("nan")


class WorkDir:
    """One training's work folder (see the module docstring for the layout)."""

    SOURCES = "sources.json"
    CHECKPOINT_STATE = "gpl_state.json"  # beside the trainer's own files in each checkpoint
    LOG = "train-log.jsonl"
    TIMING = "timing.json"
    TRAINING = "training.json"

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"WorkDir({str(self.root)!r})"

    @classmethod
    def existing(cls, root: str | os.PathLike) -> WorkDir:
        """An existing work folder, or a HarnessError saying why ``root`` is not one."""
        work = cls(root)
        if not work.root.is_dir():
            raise HarnessError(f"not a training work folder (no such directory): {work.root}")
        if not work.sources_path.is_file() and not work.log_path.is_file():
            raise HarnessError(f"not a training work folder (no {cls.SOURCES} or {cls.LOG}): {work.root}")
        return work

    # paths
    @property
    def sources_path(self) -> Path:
        return self.root / self.SOURCES

    @property
    def log_path(self) -> Path:
        return self.root / self.LOG

    @property
    def checkpoints_dir(self) -> Path:
        return self.root / "checkpoints"

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def rounds_dir(self) -> Path:
        return self.root / "rounds"

    @property
    def timing_path(self) -> Path:
        return self.root / self.TIMING

    @property
    def training_path(self) -> Path:
        return self.root / self.TRAINING

    # sources.json
    def write_sources(self, sources: dict) -> None:
        write_json(self.sources_path, sources)

    def sources(self) -> dict:
        return _read_json_object(self.sources_path)

    def resolve(self, value: str | None) -> Path | None:
        """A path recorded in ``sources.json``: absolute, relative to the work folder, or relative to the cwd."""
        if not value:
            return None
        p = Path(value)
        if p.is_absolute():
            return p
        return self.root / p if (self.root / p).exists() else p

    def generated(self) -> GeneratedData | None:
        """The generated data (``sources.json``'s ``qgen_dir``), or None when the folder does not record it."""
        if not self.sources_path.is_file():
            return None
        qdir = self.resolve(self.sources().get("qgen_dir"))
        return GeneratedData(qdir) if qdir is not None else None

    def generated_queries(self) -> dict[str, str]:
        """The generated queries: in the work folder itself, else in the generated data."""
        here = GeneratedData(self.root)
        candidates = [here] + [g for g in (self.generated(),) if g is not None]
        for data in candidates:
            if data.queries_path.is_file():
                return data.queries()
        raise HarnessError("no generated queries: looked for " + " and ".join(str(d.queries_path) for d in candidates))

    # asynchronous re-mining (harness.gpl.async_remine)
    def snapshot(self, step: int) -> Path:
        """The student's weights of ``step`` that a pending asynchronous round is mined from."""
        return self.root / "snapshots" / f"step-{int(step)}"

    @property
    def async_dir(self) -> Path:
        """The asynchronous re-mining worker's inputs (``job.pkl``) and log (``worker.log``)."""
        return self.root / "async-remine"

    # rounds
    def round(self, step: int) -> Round:
        return Round(self.rounds_dir / str(int(step)), step)

    def round_steps(self) -> list[int]:
        """Steps of all rounds present (0 = the initial negatives), ascending."""
        if not self.rounds_dir.is_dir():
            return []
        return sorted(int(p.name) for p in self.rounds_dir.iterdir() if p.is_dir() and p.name.isdigit())

    def rounds(self) -> list[Round]:
        return [self.round(s) for s in self.round_steps()]

    def find_round(self, which: int | str) -> Round:
        """A round by step number, ``"last"`` (or -1) or ``"first-remine"``."""
        steps = self.round_steps()
        if not steps:
            raise HarnessError(f"no rounds under {self.rounds_dir}")
        if which in ("last", -1):
            return self.round(steps[-1])
        if which == "first-remine":
            later = [s for s in steps if s > 0]
            if not later:
                raise HarnessError(f"{self.root}: no remine rounds (only round 0)")
            return self.round(later[0])
        try:
            step = int(which)
        except (TypeError, ValueError):
            raise HarnessError(f"round must be a step number, 'last' or 'first-remine', got '{which}'") from None
        if step not in steps:
            raise HarnessError(f"{self.root}: no round {step}; rounds present: {', '.join(map(str, steps))}")
        return self.round(step)

    def remine_steps(self) -> list[int]:
        """Steps at which the negatives were re-mined (rounds after 0), else the log's round changes."""
        steps = [s for s in self.round_steps() if s > 0]
        if steps or not self.log_path.is_file():
            return steps
        return sorted({int(r) for r in self.train_log().round if r > 0})

    def round_timing(self) -> list[dict]:
        """Per complete round: step, mining seconds, labelling seconds (tuples and score sample)."""
        out = []
        for rnd in self.rounds():
            info = rnd.manifest()
            if info is not None:
                out.append({"step": info["step"], "seconds": info.get("seconds", 0.0),
                            "label_seconds": info.get("label_seconds", 0.0) + info.get("sample_seconds", 0.0)})
        return out

    # train-log.jsonl
    def append_log(self, record: dict) -> None:
        with open(self.log_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
            fh.flush()

    def log_rows(self) -> list[dict]:
        """The log's lines as written (a line cut by a kill is skipped)."""
        if not self.log_path.is_file():
            return []
        rows = []
        with open(self.log_path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(row, dict):
                    rows.append(row)
        return rows

    def truncate_log(self, last_step: int) -> None:
        """Keep the log lines of steps <= ``last_step`` (a resumed run rewrites the rest)."""
        if not self.log_path.is_file():
            return
        keep = [r for r in self.log_rows() if r.get("step", 0) <= last_step]
        write_jsonl(self.log_path, keep)

    def train_log(self) -> TrainLog:
        """The log as arrays, checked line by line."""
        path = self.log_path
        rows: dict[int, tuple[float, float, float, int]] = {}
        for no, obj in read_jsonl(path):
            step = _typed(path, no, obj, "step", int)
            loss = float(_typed(path, no, obj, "loss", (int, float)))
            rnd = obj.get("round", 0)
            if isinstance(rnd, bool) or not isinstance(rnd, int):
                raise DataError(f"{path}:{no}: field 'round' has type {type(rnd).__name__}")
            rows[step] = (loss, _number(obj.get("margin_mean")), _number(obj.get("lr")), rnd)
        if not rows:
            raise DataError(f"{path}: no training steps logged")
        steps = np.array(sorted(rows), dtype=np.int64)
        cols = list(zip(*(rows[s] for s in steps)))
        return TrainLog(steps=steps, loss=np.array(cols[0], dtype=np.float64), margin=np.array(cols[1], dtype=np.float64),
                        lr=np.array(cols[2], dtype=np.float64), round=np.array(cols[3], dtype=np.int64))

    # checkpoints
    def checkpoint(self, step: int) -> Path:
        return self.checkpoints_dir / f"step-{int(step)}"

    def checkpoints(self) -> list[tuple[int, Path]]:
        """``(step, folder)`` of the ``step-<n>`` folders, ascending."""
        if not self.checkpoints_dir.is_dir():
            return []
        return sorted((int(m.group(1)), p) for p in self.checkpoints_dir.iterdir() if (m := CHECKPOINT_RE.match(p.name)))

    def latest_checkpoint(self) -> Path | None:
        """The newest complete checkpoint."""
        done = [p for _, p in self.checkpoints()
                if (p / self.CHECKPOINT_STATE).is_file() and (p / "trainer_state.json").is_file()]
        return done[-1] if done else None

    def checkpoint_model(self, step: int) -> Path | None:
        """A loadable SentenceTransformer saved with the checkpoint of ``step`` (directly or under ``model/``)."""
        base = self.checkpoint(step)
        for cand in (base / "model", base):
            if (cand / "modules.json").is_file() or (cand / "config_sentence_transformers.json").is_file():
                return cand
        return None

    # summaries
    def write_timing(self, timing: dict) -> None:
        write_json(self.timing_path, timing)

    def timing(self) -> dict:
        return read_json(self.timing_path) if self.timing_path.is_file() else {}

    def write_training(self, info: dict) -> None:
        write_json(self.training_path, info)

    @property
    def finished(self) -> bool:
        return self.training_path.is_file() and (self.model_dir / "modules.json").is_file()
