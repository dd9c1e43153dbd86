"""The models the figures load and score with: the teacher, the base and adapted encoders, the training corpus.

Model-dependent functions take an encoder (a SentenceTransformer, used through ``harness.dense``) and a teacher
(anything with ``score(queries, passages, batch_size) -> np.ndarray``, the ``harness.gpl.teacher.Teacher``
protocol). :class:`ModelContext` loads each, once, only when a figure asks.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, Sequence

import numpy as np

from ..errors import HarnessError
from ..gpl.models import resolve_model
from ..gpl.workdir import WorkDir
from .data import pca_2d

if TYPE_CHECKING:
    from .build import FigureRequest


class Scorer(Protocol):
    """The teacher protocol: raw relevance scores for aligned (query, passage) pairs."""

    def score(self, queries: list[str], passages: list[str], batch_size: int = 64) -> np.ndarray: ...


def passage_text(corpus, i: int) -> str:
    """Title and body, each stripped, joined by a space: the text GPL's teacher and miners see."""
    return " ".join(x.strip() for x in (corpus.titles[i], corpus.texts[i]) if x and x.strip())


@dataclass
class TopKScores:
    """Teacher scores of each query's top-k retrieved passages."""

    label: str
    scores: np.ndarray  # float64 [n_queries, k]; NaN where a query got fewer than k results
    qids: list[str]

    def flat(self) -> np.ndarray:
        return self.scores[np.isfinite(self.scores)]

    def mean_by_rank(self) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return np.nanmean(self.scores, axis=0)


def teacher_scores_topk(encoder, teacher: Scorer, corpus, queries: dict[str, str], k: int = 100, label: str = "",
                        score_function: str = "dot", exclude: dict[str, set[str]] | None = None,
                        batch_size: int = 64, cache_dir: Path | None = None,
                        corpus_fingerprint: str | None = None) -> TopKScores:
    """Retrieve the top ``k`` passages per query with ``encoder`` and score each (query, passage) with ``teacher``.

    ``exclude`` drops given passage ids per query (the positives, to score mined negatives).
    """
    from ..dense import dense_retrieve

    if not queries:
        raise HarnessError("no queries to retrieve for")
    k = min(k, len(corpus))
    run = dense_retrieve(encoder, corpus, queries, top_k=k, score_function=score_function, batch_size=batch_size,
                         cache_dir=cache_dir, corpus_fingerprint=corpus_fingerprint, exclude=exclude)
    qids = sorted(queries)
    q_texts, p_texts, cells = [], [], []
    for row, qid in enumerate(qids):
        ranked = sorted(run.get(qid, {}).items(), key=lambda kv: (-kv[1], kv[0]))[:k]
        for rank, (pid, _) in enumerate(ranked):
            q_texts.append(queries[qid])
            p_texts.append(passage_text(corpus, corpus.index[pid]))
            cells.append((row, rank))
    scores = np.full((len(qids), k), np.nan)
    if cells:
        s = np.asarray(teacher.score(q_texts, p_texts, batch_size=batch_size), dtype=np.float64).reshape(-1)
        if s.shape[0] != len(cells):
            raise HarnessError(f"teacher returned {s.shape[0]} scores for {len(cells)} pairs")
        rows, cols = zip(*cells)
        scores[list(rows), list(cols)] = s
    return TopKScores(label=label, scores=scores, qids=qids)


@dataclass
class Projection:
    """2D PCA coordinates of a query, its positive(s) and its negatives before and after a remine."""

    query: np.ndarray  # [1, 2]
    positive: np.ndarray  # [n_pos, 2]
    before: np.ndarray  # [n_before, 2]
    after: np.ndarray  # [n_after, 2]
    before_shared: np.ndarray  # bool [n_before]: also among the negatives after
    after_shared: np.ndarray  # bool [n_after]
    explained: np.ndarray  # [2] fraction of the variance explained by each component
    title: str = ""
    before_label: str = "negatives before"
    after_label: str = "negatives after"
    before_scores: np.ndarray | None = None  # optional teacher scores, aligned with ``before``
    after_scores: np.ndarray | None = None


def projection_2d(encoder, query: str, positive: str | Sequence[str], negatives_before: Sequence[str],
                  negatives_after: Sequence[str], normalize: bool = False, batch_size: int = 64) -> Projection:
    """Embed the texts with ``encoder`` and project them jointly to 2D with PCA.

    Negatives present in both lists are embedded once and flagged as shared. ``normalize`` embeds with unit
    length (use it for a cosine-similarity model).
    """
    from ..dense import encode_texts

    positives = [positive] if isinstance(positive, str) else list(positive)
    if not positives or not (negatives_before or negatives_after):
        raise HarnessError("a projection needs a positive and at least one negative")
    texts: dict[str, int] = {}
    for t in [query, *positives, *negatives_before, *negatives_after]:
        texts.setdefault(t, len(texts))
    emb = encode_texts(encoder, list(texts), batch_size=batch_size, normalize=normalize)
    coords_unique, explained = pca_2d(emb)

    def rows(items: Sequence[str]) -> np.ndarray:
        return coords_unique[[texts[t] for t in items]].reshape(len(items), 2)

    after_set, before_set = set(negatives_after), set(negatives_before)
    return Projection(query=rows([query]), positive=rows(positives), before=rows(negatives_before),
                      after=rows(negatives_after),
                      before_shared=np.array([t in after_set for t in negatives_before], dtype=bool),
                      after_shared=np.array([t in before_set for t in negatives_after], dtype=bool),
                      explained=explained)


class _MemoTeacher:
    """Wraps a teacher so that a (query, passage) pair scored once is not scored again."""

    def __init__(self, teacher):
        self.teacher = teacher
        self.name = getattr(teacher, "name", type(teacher).__name__)
        self._memo: dict[tuple[str, str], float] = {}

    def score(self, queries: list[str], passages: list[str], batch_size: int = 64) -> np.ndarray:
        todo = list(dict.fromkeys(pair for pair in zip(queries, passages) if pair not in self._memo))
        if todo:
            s = np.asarray(self.teacher.score([q for q, _ in todo], [p for _, p in todo], batch_size=batch_size),
                           dtype=np.float64).reshape(-1)
            if s.shape[0] != len(todo):
                raise HarnessError(f"teacher returned {s.shape[0]} scores for {len(todo)} pairs")
            self._memo.update(zip(todo, s.tolist()))
        return np.array([self._memo[pair] for pair in zip(queries, passages)], dtype=np.float64)


def _resolve_model_name(work: WorkDir, name: str) -> str:
    """A model named in ``sources.json``: ``local:<name>`` (resolved like the training does), a path relative to
    the work folder or the cwd, or a hub name."""
    if name.startswith("local:"):
        return resolve_model(name)
    local = work.resolve(name)
    return str(local) if local is not None and local.exists() else name


def load_model(path_or_name: str, what: str, device: str | None, max_seq_length: int | None = None):
    from ..dense import load_encoder

    try:
        return load_encoder(str(path_or_name), device=device, max_seq_length=max_seq_length)
    except HarnessError:
        raise
    except Exception as e:  # model loading fails in many library-specific ways
        raise HarnessError(f"cannot load the {what} '{path_or_name}' ({type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''})") from None


def find_dataset_info(key: str, suite: str | None = None):
    """The registry entry holding dataset key ``key`` (e.g. ``scifact``, ``cqadupstack/android``)."""
    from ..registry import SUITE_NAMES, get_suite, resolve_dataset

    for sname in ([suite] if suite else SUITE_NAMES):
        for d in get_suite(sname).datasets:
            if key in d.part_names:
                return d
    return resolve_dataset(suite or "beir", key)


class ModelContext:
    """Loads, once and only when a figure asks, the dataset, teacher and encoders the model figures share."""

    def __init__(self, req: FigureRequest):
        self.req = req
        self._encoders: dict[str, object] = {}

    @cached_property
    def ref(self) -> WorkDir:
        return self.req.rgpl or self.req.gpl

    @cached_property
    def sources(self) -> dict:
        src = self.ref.sources()
        if self.req.gpl and self.req.rgpl:
            other = self.req.gpl.sources()
            for key in ("dataset", "corpus_fingerprint", "student"):
                if src.get(key) != other.get(key):
                    raise HarnessError(f"the GPL and R-GPL work folders differ in sources.json '{key}' "
                                       f"({other.get(key)!r} vs {src.get(key)!r}); compare trainings of one setup")
        return src

    @cached_property
    def score_function(self) -> str:
        settings = self.sources.get("settings") or {}
        sf = settings.get("score_function") or self.sources.get("score_function") or "dot"
        if sf not in ("dot", "cos"):
            raise HarnessError(f"{self.ref.sources_path}: unknown score_function '{sf}'")
        return sf

    @cached_property
    def dataset(self):
        from ..datasets import load_dataset

        key = self.req.dataset or self.sources.get("dataset")
        if not key:
            raise HarnessError(f"{self.ref.sources_path} names no dataset; pass --dataset")
        info = find_dataset_info(key, self.req.suite)
        ds = load_dataset(info, key, self.req.data_dir, allow_download=False)
        want = self.sources.get("corpus_fingerprint")
        if want and want not in (ds.corpus_fingerprint, ds.fingerprint):
            raise HarnessError(f"the corpus of dataset '{key}' at {ds.path} is not the one the training used "
                               f"(corpus fingerprint {ds.corpus_fingerprint[:12]} != {str(want)[:12]}); pass --data-dir")
        return ds

    @cached_property
    def teacher(self) -> _MemoTeacher:
        t = self.sources.get("teacher") or {}
        kind = self.req.teacher_kind or (t.get("kind") if isinstance(t, dict) else None) or "cross-encoder"
        name = self.req.teacher or (t.get("name") if isinstance(t, dict) else t)
        if not name:
            raise HarnessError(f"{self.ref.sources_path} names no teacher; pass --teacher")
        try:
            return _MemoTeacher(self._load_teacher(kind, str(name)))
        except HarnessError:
            raise
        except Exception as e:
            raise HarnessError(f"cannot load the {kind} teacher '{name}' ({type(e).__name__}: {str(e)[:160]})") from None

    def _load_teacher(self, kind: str, name: str):
        """The teacher as the training loaded it (its max_seq_length and, for a bi-encoder, score function)."""
        from ..gpl.teacher import load_teacher

        settings = self.sources.get("settings") or {}
        kw: dict = {"device": self.req.device} if self.req.device else {}
        if settings.get("teacher_max_seq_length"):
            kw["max_seq_length"] = int(settings["teacher_max_seq_length"])
        if kind in ("bi-encoder", "hybrid") and settings.get("teacher_score_function"):
            kw["score_function"] = settings["teacher_score_function"]
        if kind == "hybrid":
            kw["bm25_weight"] = float(settings.get("teacher_bm25_weight") or 0.0)
            kw["corpus"] = self.dataset.corpus
        return load_teacher(kind, name, **kw)

    def encoder(self, which: str):
        """``base`` (the student before training), ``gpl`` or ``rgpl`` (the adapted models)."""
        if which not in self._encoders:
            if which == "base":
                student = self.sources.get("student")
                if not student:
                    raise HarnessError(f"{self.ref.sources_path} names no student model")
                path = _resolve_model_name(self.ref, str(student))
                msl = (self.sources.get("settings") or {}).get("max_seq_length")
                self._encoders[which] = load_model(path, "base model", self.req.device, int(msl) if msl else None)
            else:
                work = {"gpl": self.req.gpl, "rgpl": self.req.rgpl}[which]
                if work is None:
                    raise HarnessError(f"no --{which} work folder given")
                model_dir = work.model_dir
                if not model_dir.is_dir():
                    raise HarnessError(f"no adapted model at {model_dir} (training not finished?)")
                self._encoders[which] = load_model(str(model_dir), f"{which.upper()} model", self.req.device)
        return self._encoders[which]

    def adapted(self) -> list[tuple[str, str]]:
        """``(key, label)`` of the adapted models present."""
        return [(k, lab) for k, lab, w in (("gpl", "GPL", self.req.gpl), ("rgpl", "R-GPL", self.req.rgpl))
                if w is not None]

    @cached_property
    def training_corpus(self):
        """``(Corpus, fingerprint)`` the training mined from (its generated-data corpus), else the dataset's."""
        generated = self.ref.generated()
        if generated is not None and generated.corpus_path.is_file():
            return generated.corpus()
        return self.dataset.corpus, self.dataset.corpus_fingerprint

    def corpus(self, kind: str = "training"):
        """``(Corpus, fingerprint)``: "training" (where the generated queries' passages and negatives live) or
        "dataset" (the whole test collection)."""
        return self.training_corpus if kind == "training" else (self.dataset.corpus, self.dataset.corpus_fingerprint)

    def topk(self, which: str, label: str, queries: dict[str, str], k: int,
             exclude: dict[str, set[str]] | None = None, corpus_kind: str = "training") -> TopKScores:
        from ..datasets import cache_root

        corpus, fp = self.corpus(corpus_kind)
        return teacher_scores_topk(self.encoder(which), self.teacher, corpus, queries, k=k, label=label,
                                   score_function=self.score_function, exclude=exclude,
                                   batch_size=self.req.batch_size, cache_dir=cache_root(), corpus_fingerprint=fp)
