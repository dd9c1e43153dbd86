"""Teachers that pseudo-label (query, passage) pairs: a cross-encoder (raw logits) or a bi-encoder scorer.

GPL's margin for a training tuple is ``T(q, pos) - T(q, neg)``. Like GPL's ``PseudoLabeler``, every text is first
cut to ``max_seq_length`` teacher tokens on its own (tokenize, truncate, decode), so the budget applies to query
and passage separately rather than to the concatenated pair.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ..errors import HarnessError
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

        self.name = name
        try:
            self.model = CrossEncoder(resolve_model(name), device=pick_device(device))
        except Exception as e:
            raise HarnessError(f"cannot load cross-encoder teacher '{name}': {type(e).__name__}: {str(e).splitlines()[0][:200]}") from None
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


def load_teacher(kind: str, name_or_path: str, **kw) -> Teacher:
    """``kind``: "cross-encoder" (kw: device, max_seq_length) or "bi-encoder" (kw: device, max_seq_length,
    score_function)."""
    if kind == "cross-encoder":
        kw.pop("score_function", None)
        return CrossEncoderTeacher(name_or_path, **kw)
    if kind == "bi-encoder":
        return BiEncoderTeacher(name_or_path, **kw)
    raise HarnessError(f"unknown teacher kind '{kind}' (cross-encoder or bi-encoder)")
