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
from .models import pick_device, resolve_model, source_fingerprint
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

    name = "offline-span"

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


class KeyphraseGenerator:
    """Offline pseudo-queries that read like keyword queries: key phrases of the passage, recombined.

    YAKE (Campos et al., 2020; the ``yake`` package, statistical, no model weights) ranks the passage's key phrases
    of up to ``max_ngram`` words; each query joins ``min_phrases``..``max_phrases`` of the top ``top`` phrases,
    drawn without replacement with weights 1/rank, in the order drawn, a word repeated from an earlier phrase left
    out. The result is a short query of salient terms rather than a copied sentence (measure it with
    :func:`query_stats`). This is *not* the paper's T5 generator.
    """

    name = "offline-keyphrase"

    def __init__(self, top: int = 10, max_ngram: int = 3, min_phrases: int = 2, max_phrases: int = 3,
                 dedup: float = 0.6):
        try:
            import yake
        except ImportError:
            raise HarnessError("generator 'offline-keyphrase' needs the yake package: pip install -e \".[offline]\" "
                               "(or pip install yake)") from None
        self.extractor = yake.KeywordExtractor(lan="en", n=max_ngram, top=top, dedupLim=dedup)
        self.min_phrases, self.max_phrases = min_phrases, max_phrases

    def phrases(self, text: str) -> list[str]:
        """The passage's key phrases, best first."""
        return [kw for kw, _ in self.extractor.extract_keywords(text)] if text.strip() else []

    def _query(self, phrases: list[str], rng: np.random.Generator) -> str:
        w = 1.0 / np.arange(1, len(phrases) + 1)
        m = min(len(phrases), int(rng.integers(self.min_phrases, self.max_phrases + 1)))
        seen: set[str] = set()
        words = []
        for i in rng.choice(len(phrases), size=m, replace=False, p=w / w.sum()):
            for word in phrases[i].split():
                if word.lower() not in seen:
                    seen.add(word.lower())
                    words.append(word)
        return " ".join(words)

    def generate(self, passages: list[str], n: int, seed: int) -> list[list[str]]:
        rng = np.random.default_rng(seed)
        out = []
        for text in passages:
            phrases = self.phrases(text)
            queries: list[str] = []
            for _ in range(4 * n if phrases else 0):  # distinct queries; a passage with few phrases gets fewer
                q = self._query(phrases, rng)
                if q not in queries:
                    queries.append(q)
                if len(queries) == n:
                    break
            out.append(queries)
        return out


OFFLINE_GENERATORS = {"offline-span": SpanGenerator, "offline-keyphrase": KeyphraseGenerator}


def generator_key(settings) -> dict:
    """The part of the ``qgen`` stage's cache key that names the generator and what decides its output."""
    name = settings.generator
    if name == "offline-keyphrase":
        from importlib.metadata import version

        return {"generator": name, "yake": version("yake")}
    if name in OFFLINE_GENERATORS:
        return {"generator": name}
    return {"generator": name, "generator_source": source_fingerprint(name), "top_p": settings.qgen_top_p,
            "top_k": settings.qgen_top_k, "max_length": settings.qgen_max_length,
            "max_input_length": settings.qgen_max_input_length}


def load_generator(name: str, settings) -> QueryGenerator:
    if name in OFFLINE_GENERATORS:
        return OFFLINE_GENERATORS[name]()
    return Seq2SeqGenerator(name, settings.device, settings.qgen_top_p, settings.qgen_top_k, settings.qgen_max_length,
                            settings.qgen_max_input_length, settings.qgen_batch_size)


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def query_stats(queries: dict[str, str], qrels, corpus: Corpus, sample: int = 2000, seed: int = 0) -> dict:
    """How much a query gives its passage away: words per query, the share found verbatim (case and spacing
    ignored) in one of its positives, and the share whose positive BM25 (the ``bm25`` system's Lucene BM25 over
    ``corpus``) ranks first, on a seeded sample of at most ``sample`` queries. ``qrels``: query id -> positive ids
    (a list, or BEIR's {doc id: grade}); queries without a positive in ``corpus`` are left out."""
    from ..bm25 import BM25Index

    index = corpus.index
    pos = {q: [d for d in qrels.get(q, ()) if d in index] for q in queries}
    qids = [q for q in queries if pos[q]]
    if not qids:
        return {"n_queries": 0, "words_per_query": None, "verbatim_in_positive": None, "bm25_rank1_positive": None,
                "rank1_sample": 0}
    words = float(np.mean([len(queries[q].split()) for q in qids]))
    verbatim = float(np.mean([any(_norm(queries[q]) in _norm(doc_text(corpus, index[d])) for d in pos[q])
                              for q in qids]))
    pick = qids if len(qids) <= sample else [qids[i] for i in sorted(
        np.random.default_rng(seed_for("query-stats", seed)).choice(len(qids), size=sample, replace=False))]
    run = BM25Index.from_corpus(corpus).search({q: queries[q] for q in pick}, top_k=1, desc="Query statistics")
    rank1 = float(np.mean([bool(run.get(q)) and next(iter(run[q])) in pos[q] for q in pick]))
    return {"n_queries": len(qids), "words_per_query": round(words, 3), "verbatim_in_positive": round(verbatim, 4),
            "bm25_rank1_positive": round(rank1, 4), "rank1_sample": len(pick)}


def format_query_stats(stats: dict) -> str:
    if not stats.get("n_queries"):
        return "no queries with a positive"
    return (f"{stats['words_per_query']:.1f} words per query, {100 * stats['verbatim_in_positive']:.1f}% verbatim in "
            f"their passage, BM25 ranks the passage first for {100 * stats['bm25_rank1_positive']:.1f}% "
            f"({stats['rank1_sample']} queries)")


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
