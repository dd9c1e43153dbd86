"""Teachers that pseudo-label (query, passage) pairs: a cross-encoder (raw logits), a bi-encoder scorer, or a
hybrid of a frozen bi-encoder and Lucene BM25 (the offline preset's teacher).

GPL's margin for a training tuple is ``T(q, pos) - T(q, neg)``. Like GPL's ``PseudoLabeler``, every text is first
cut to ``max_seq_length`` teacher tokens on its own (tokenize, truncate, decode), so the budget applies to query
and passage separately rather than to the concatenated pair.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ..errors import HarnessError, error_summary
from ..hub import gpl_model_hint, local_files_only
from .models import pick_device, resolve_model


class Teacher(Protocol):
    name: str

    def score(self, queries: list[str], passages: list[str], batch_size: int = 64) -> np.ndarray: ...


def _unique(texts: list[str]) -> tuple[list[str], np.ndarray]:
    index: dict[str, int] = {}
    inverse = np.fromiter((index.setdefault(t, len(index)) for t in texts), dtype=np.int64, count=len(texts))
    return list(index), inverse


class CrossEncoderTeacher:
    """sentence-transformers ``CrossEncoder``; scores are raw logits (identity activation, no sigmoid)."""

    def __init__(self, name: str, device: str = "", max_seq_length: int | None = 350):
        import torch
        from sentence_transformers import CrossEncoder

        from ..progress import quiet_transformers

        quiet_transformers()
        self.name = name
        try:
            self.model = CrossEncoder(resolve_model(name), device=pick_device(device),
                                      local_files_only=local_files_only(resolve_model(name)))
        except Exception as e:
            raise HarnessError(f"cannot load cross-encoder teacher '{name}'{gpl_model_hint('teacher', resolve_model(name))}: "
                               f"{error_summary(e)}") from None
        self.max_seq_length = max_seq_length
        self._identity = torch.nn.Identity()

    def truncate(self, texts: list[str]) -> list[str]:
        """GPL's retokenisation: each text cut to ``max_seq_length`` tokens of the teacher's tokenizer."""
        if not self.max_seq_length:
            return texts
        uniq, inverse = _unique([t.strip() for t in texts])
        tok = self.model.tokenizer
        out: list[str] = []
        for start in range(0, len(uniq), 1024):
            ids = tok(uniq[start:start + 1024], truncation="longest_first", max_length=self.max_seq_length)["input_ids"]
            out.extend(tok.batch_decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=True))
        return [out[i] for i in inverse]

    def score(self, queries: list[str], passages: list[str], batch_size: int = 64) -> np.ndarray:
        if len(queries) != len(passages):
            raise ValueError("queries and passages must have the same length")
        if not queries:
            return np.zeros(0, dtype=np.float32)
        q, p = self.truncate(queries), self.truncate(passages)
        order = np.argsort([-(len(a) + len(b)) for a, b in zip(q, p)], kind="stable")  # length-sorted batches
        scores = self.model.predict([(q[i], p[i]) for i in order], batch_size=batch_size, show_progress_bar=False,
                                    activation_fn=self._identity, convert_to_numpy=True)
        out = np.empty(len(q), dtype=np.float32)
        out[order] = np.asarray(scores, dtype=np.float32).reshape(-1)
        return out


class BiEncoderTeacher:
    """A bi-encoder as scorer (for users without a cross-encoder): dot product or cosine of the embeddings."""

    def __init__(self, name: str, device: str = "", max_seq_length: int | None = 350, score_function: str = "dot"):
        from ..dense import load_encoder

        self.name = name
        self.model = load_encoder(resolve_model(name), device=pick_device(device), max_seq_length=max_seq_length)
        self.normalize = score_function == "cos"
        self._memo: dict[str, np.ndarray] = {}

    MEMO_LIMIT = 500_000

    def score(self, queries: list[str], passages: list[str], batch_size: int = 64) -> np.ndarray:
        if len(queries) != len(passages):
            raise ValueError("queries and passages must have the same length")
        if not queries:
            return np.zeros(0, dtype=np.float32)
        uq, qi = _unique(queries)
        up, pi = _unique(passages)
        qe = self._embed(uq, batch_size)
        pe = self._embed(up, batch_size)
        return np.einsum("ij,ij->i", qe[qi], pe[pi]).astype(np.float32)

    def _embed(self, texts: list[str], batch_size: int) -> np.ndarray:
        """Embeddings of distinct texts; passages recur across calls (labels, sample), so they are memoised."""
        from ..dense import encode_texts

        todo = [t for t in texts if t not in self._memo]
        if todo:
            if len(self._memo) + len(todo) > self.MEMO_LIMIT:
                self._memo.clear()
            for t, e in zip(todo, encode_texts(self.model, todo, batch_size=batch_size, normalize=self.normalize)):
                self._memo[t] = e
        return np.stack([self._memo[t] for t in texts])


class HybridTeacher:
    """``T(q, d) = sim(q, d) + bm25_weight * BM25(q, d)``: a frozen bi-encoder's similarity plus Lucene BM25.

    BM25 is bm25s's Lucene variant (k1=1.2, b=0.75, English stemming and stop words, as the ``bm25`` system) over
    ``corpus_passages``, the texts the pipeline hands to the teacher; a passage outside that corpus is an error. The
    lexical term carries knowledge the dense student lacks, so the teacher differs from a student that starts from
    the same bi-encoder, and it ranks better than either part alone on SciFact (``bench/offline_teacher_check.py``).
    """

    def __init__(self, name: str, corpus_passages: list[str], device: str = "", max_seq_length: int | None = 350,
                 score_function: str = "cos", bm25_weight: float = 0.05):
        from ..bm25 import BM25Index

        if bm25_weight <= 0:
            raise HarnessError(f"hybrid teacher: bm25_weight must be positive, got {bm25_weight}")
        self.name = f"{name}+bm25x{bm25_weight:g}"
        self.dense = BiEncoderTeacher(name, device=device, max_seq_length=max_seq_length, score_function=score_function)
        self.bm25_weight = float(bm25_weight)
        self._row = {t: i for i, t in enumerate(corpus_passages)}
        self.bm25 = BM25Index(corpus_passages)

    def bm25_all(self, queries: list[str]) -> np.ndarray:
        """Lucene BM25 of each query against every corpus passage: (len(queries), len(corpus)) float32."""
        ids = self.bm25.tokenizer.queries(queries, self.bm25.vocab)
        return np.stack([self.bm25.scores(t) for t in ids]) if ids else np.zeros((0, len(self.bm25)), np.float32)

    def bm25_scores(self, queries: list[str], passages: list[str]) -> np.ndarray:
        """Lucene BM25 of each (query, passage) pair; passages must be texts of the corpus."""
        rows = np.empty(len(passages), dtype=np.int64)
        for j, p in enumerate(passages):
            r = self._row.get(p)
            if r is None:
                raise HarnessError(f"hybrid teacher: passage not in its corpus: {p[:60]!r}")
            rows[j] = r
        uq, qi = _unique(queries)
        ids = self.bm25.tokenizer.queries(uq, self.bm25.vocab)
        out = np.zeros(len(queries), dtype=np.float32)
        order = np.argsort(qi, kind="stable")
        bounds = np.searchsorted(qi[order], np.arange(len(uq) + 1))
        for u, toks in enumerate(ids):
            idx = order[bounds[u]:bounds[u + 1]]
            if len(toks) and len(idx):
                out[idx] = self.bm25.scores(toks)[rows[idx]]
        return out

    def score(self, queries: list[str], passages: list[str], batch_size: int = 64) -> np.ndarray:
        if len(queries) != len(passages):
            raise ValueError("queries and passages must have the same length")
        if not queries:
            return np.zeros(0, dtype=np.float32)
        lexical = self.bm25_scores(queries, passages)
        return (self.dense.score(queries, passages, batch_size) + self.bm25_weight * lexical).astype(np.float32)


TEACHER_KINDS = ("cross-encoder", "bi-encoder", "hybrid")


def load_teacher(kind: str, name_or_path: str, corpus=None, **kw) -> Teacher:
    """``kind``: "cross-encoder" (kw: device, max_seq_length), "bi-encoder" (kw: device, max_seq_length,
    score_function) or "hybrid" (kw as bi-encoder, plus bm25_weight and the dataset's ``corpus`` or its
    ``corpus_passages``). Keywords a kind does not use are ignored, so callers can pass every teacher setting."""
    if kind == "cross-encoder":
        for k in ("score_function", "corpus_passages", "bm25_weight"):
            kw.pop(k, None)
        return CrossEncoderTeacher(name_or_path, **kw)
    if kind == "bi-encoder":
        kw.pop("corpus_passages", None)
        kw.pop("bm25_weight", None)
        return BiEncoderTeacher(name_or_path, **kw)
    if kind == "hybrid":
        if corpus is not None and kw.get("corpus_passages") is None:
            from .qgen import doc_text

            kw["corpus_passages"] = [doc_text(corpus, i) for i in range(len(corpus))]  # the texts labels are asked for
        if kw.get("corpus_passages") is None:
            raise HarnessError("the hybrid teacher needs the corpus (corpus_passages) for its BM25 statistics")
        return HybridTeacher(name_or_path, **kw)
    raise HarnessError(f"unknown teacher kind '{kind}' ({', '.join(TEACHER_KINDS)})")
