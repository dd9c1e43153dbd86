"""Synthetic query generation: a seq2seq generator (GPL's docT5query-style nucleus sampling) or an offline one.

Outputs (GPL's / BEIR's generated-data layout, so the folder works as GPL's ``path_to_generated_data``):
``corpus.jsonl`` (the passages generated for), ``qgen-queries.jsonl`` and ``qgen-qrels/train.tsv``. Query ids
are ``genQ<n>`` in passage order; duplicate queries of one passage are dropped (as BEIR's QueryGenerator does).
Work is done in chunks of passages saved as they finish, each seeded from (seed, chunk), so an interrupted
generation resumes where it stopped and gives the same queries as an uninterrupted one.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Protocol

import numpy as np

from ..datasets import Corpus
from ..errors import HarnessError, error_summary
from ..fileio import atomic_open, read_jsonl, stable_hash, write_jsonl
from ..hub import gpl_model_hint, local_files_only
from ..progress import progress_iter
from .models import pick_device, resolve_model
from .stages import Stage
from .workdir import GeneratedData

log = logging.getLogger("harness")

CHUNK_PASSAGES = 2048


def seed_for(*parts) -> int:
    """A 32-bit seed derived from any JSON-able parts."""
    return int(stable_hash(list(parts), 8), 16)


def doc_text(corpus: Corpus, i: int) -> str:
    """Title and body, each stripped, joined by a space (GPL's ``concat_title_and_body``)."""
    return " ".join(x.strip() for x in (corpus.titles[i], corpus.texts[i]) if x and x.strip())


def sample_passages(n_corpus: int, n_sample: int, seed: int) -> np.ndarray:
    """Indices (ascending) of the passages generated for: all of them, or a seeded random subset (GPL's resize)."""
    if n_sample >= n_corpus:
        return np.arange(n_corpus)
    rng = np.random.default_rng(seed_for("corpus-sample", seed))
    return np.sort(rng.choice(n_corpus, size=n_sample, replace=False))


class QueryGenerator(Protocol):
    name: str

    def generate(self, passages: list[str], n: int, seed: int) -> list[list[str]]: ...


class Seq2SeqGenerator:
    """Nucleus sampling from a seq2seq model (BEIR's QGenModel: top-p 0.95, top-k 25, max length 64)."""

    def __init__(self, name: str, device: str = "", top_p: float = 0.95, top_k: int = 25, max_length: int = 64,
                 max_input_length: int = 512, batch_size: int = 32):
        import torch
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        from ..progress import quiet_transformers

        quiet_transformers()
        self.name = name
        self.device = pick_device(device)
        path = resolve_model(name)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=local_files_only(path))
            self.model = AutoModelForSeq2SeqLM.from_pretrained(path, local_files_only=local_files_only(path)).to(self.device).eval()
        except Exception as e:
            raise HarnessError(f"cannot load query generator '{name}'{gpl_model_hint('generator', path)}: "
                               f"{error_summary(e)}") from None
        self.top_p, self.top_k, self.max_length = top_p, top_k, max_length
        self.max_input_length, self.batch_size = max_input_length, batch_size
        self._torch = torch

    def generate(self, passages: list[str], n: int, seed: int) -> list[list[str]]:
        torch = self._torch
        torch.manual_seed(seed)
        out: list[list[str]] = []
        for start in range(0, len(passages), self.batch_size):
            batch = passages[start:start + self.batch_size]
            enc = self.tokenizer(batch, padding=True, truncation=True, max_length=self.max_input_length,
                                 return_tensors="pt").to(self.device)
            with torch.no_grad():
                ids = self.model.generate(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                                          do_sample=True, max_length=self.max_length, top_k=self.top_k,
                                          top_p=self.top_p, num_return_sequences=n)
            texts = self.tokenizer.batch_decode(ids, skip_special_tokens=True)
            out.extend(texts[i * n:(i + 1) * n] for i in range(len(batch)))
        return out


_SENTENCE = re.compile(r"(?<=[.!?;])\s+")


class SpanGenerator:
    """Offline pseudo-queries without model weights: sentences or word windows drawn from the passage.

    Inverse-cloze style (a span of a passage stands in for a query about it). This is *not* the paper's
    generator; it exists so the pipeline can be tried and tested without downloading a T5 model.
    """

    name = "offline"

    def __init__(self, max_words: int = 24, min_words: int = 4):
        self.max_words, self.min_words = max_words, min_words

    def _candidates(self, text: str, rng: np.random.Generator, n: int) -> list[str]:
        words = text.split()
        if len(words) <= self.min_words:
            return [" ".join(words)] if words else []
        spans = []
        for sent in _SENTENCE.split(text):
            w = sent.split()
            if len(w) >= self.min_words:
                if len(w) > self.max_words:
                    s = int(rng.integers(0, len(w) - self.max_words + 1))
                    w = w[s:s + self.max_words]
                spans.append(" ".join(w))
        tries = 0
        while len(set(spans)) < n and tries < 4 * n:  # too few sentences: random word windows
            tries += 1
            length = int(rng.integers(self.min_words, min(self.max_words, len(words)) + 1))
            s = int(rng.integers(0, len(words) - length + 1))
            spans.append(" ".join(words[s:s + length]))
        return list(dict.fromkeys(spans))

    def generate(self, passages: list[str], n: int, seed: int) -> list[list[str]]:
        rng = np.random.default_rng(seed)
        out = []
        for text in passages:
            cands = self._candidates(text, rng, n)
            pick = rng.permutation(len(cands))[:n] if cands else []
            out.append([cands[i] for i in sorted(pick)])
        return out


def load_generator(name: str, settings) -> QueryGenerator:
    if name == "offline":
        return SpanGenerator()
    return Seq2SeqGenerator(name, settings.device, settings.qgen_top_p, settings.qgen_top_k, settings.qgen_max_length,
                            settings.qgen_max_input_length, settings.qgen_batch_size)


def dedup(queries: list[str]) -> list[str]:
    """Strip, drop empty ones and duplicates, keep the first occurrence's order."""
    return list(dict.fromkeys(q.strip() for q in queries if q and q.strip()))


def run_qgen(stage: Stage, corpus: Corpus, indices: np.ndarray, qpp: int, settings, seed: int) -> None:
    """Generate ``qpp`` queries for each passage in ``indices`` into ``stage.dir`` (resumable by chunk)."""
    out = stage.start()
    parts = out / "parts"
    parts.mkdir(exist_ok=True)
    chunks = [indices[i:i + CHUNK_PASSAGES] for i in range(0, len(indices), CHUNK_PASSAGES)]
    todo = [c for c in range(len(chunks)) if not (parts / f"{c:06d}.jsonl").is_file()]
    generator = load_generator(settings.generator, settings) if todo else None
    for c in progress_iter(todo, desc="Generating queries", total=len(todo)):
        idx = chunks[c]
        raw = generator.generate([doc_text(corpus, int(i)) for i in idx], qpp, seed_for("qgen", seed, c))
        write_jsonl(parts / f"{c:06d}.jsonl", ({"pid": corpus.ids[int(i)], "queries": qs} for i, qs in zip(idx, raw)))
    queries: dict[str, str] = {}
    qrels: dict[str, list[str]] = {}
    raw_count = 0
    for c in range(len(chunks)):
        for _, row in read_jsonl(parts / f"{c:06d}.jsonl"):
            raw_count += len(row["queries"])
            for q in dedup(row["queries"]):
                qid = f"genQ{len(queries) + 1}"
                queries[qid] = q
                qrels[qid] = [row["pid"]]
    if not queries:
        raise HarnessError(f"query generation with '{settings.generator}' produced no queries")
    data = GeneratedData(out)
    with atomic_open(data.corpus_path) as fh:
        for i in indices:
            i = int(i)
            fh.write(json.dumps({"_id": corpus.ids[i], "title": corpus.titles[i], "text": corpus.texts[i]},
                                ensure_ascii=False) + "\n")
    data.write_queries(queries)
    data.write_qrels(qrels)
    stage.finish(n_passages=len(indices), queries_per_passage=qpp, n_generated=raw_count, n_queries=len(queries),
                 generator=settings.generator)


def load_qgen(stage_dir: Path) -> tuple[dict[str, str], dict[str, list[str]]]:
    data = GeneratedData(stage_dir)
    return data.queries(), data.qrels()
