"""Dense retrieval core: load a bi-encoder, encode a corpus into a disk cache, exact top-k inner-product search.

One core serves the ``base`` system, GPL's negative mining, R-GPL's re-mining and evaluation:

* :func:`load_encoder` loads a sentence-transformers model by local path or hub name.
* :func:`model_fingerprint` hashes the weights (every parameter and buffer) plus the module layout, so a cache
  entry written by one checkpoint is never served to another.
* :func:`encode_texts` / :func:`encode_corpus` encode in chunks (taken longest first, a few batches per ``encode``
  call, the original order restored; :func:`encode_batches` lists the batches), the model's own pooling, in the
  given ``precision`` ("auto": fp16 autocast on CUDA and fp32 on CPU; "fp32": no autocast, as sentence-transformers'
  own ``encode``; "fp16": autocast on any device). :func:`encode_corpus` streams the chunks into a float32 memmap
  on disk keyed by model fingerprint + corpus fingerprint + normalisation + max_seq_length, notes its progress
  every ``CHECKPOINT_SECONDS`` and at every chunk's end, and resumes an interrupted (even killed) encoding where
  that note says.
* :func:`search` is exact maximum inner product search over corpus chunks (torch matmul + topk, on CUDA when
  present; faiss brute force as the alternative), merged across chunks; ties are broken deterministically by the
  lower document index.
* :func:`dense_retrieve` glues them together and returns a TREC-style run dict.

Memory is bounded by the embeddings themselves plus one corpus chunk's working set: the corpus is never
encoded in one call and the score matrix never covers the whole corpus.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence

import numpy as np

from . import hub
from .errors import HarnessError, error_summary
from .fileio import atomic_open, read_json, stable_hash, write_json
from .locks import hold
from .progress import counter, quiet_transformers

if TYPE_CHECKING:  # imported lazily at run time: torch and sentence-transformers are slow to import
    from sentence_transformers import SentenceTransformer

    from .datasets import Corpus

log = logging.getLogger("harness")

ENCODE_CHUNK = 32768  # texts per chunk: the unit of length sorting and streaming (see _encode_into)
SCORE_BLOCK_ELEMENTS = 1 << 26  # GPU search: scores held at once (queries x documents), 256 MiB in fp32
CACHE_FORMAT = 1  # bump when the cache layout or the encoding procedure changes

__all__ = [
    "load_encoder", "model_fingerprint", "model_revision", "encode_texts", "encode_corpus", "search",
    "dense_retrieve", "corpus_content_fingerprint", "embedding_cache_dir",
]


# ------------------------------------------------------------------------------------------------ models
def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_encoder(name_or_path: str, device: str | None = None, max_seq_length: int | None = None) -> "SentenceTransformer":
    """Load a sentence-transformers bi-encoder from a local folder or a hub name (hub honours HF_HUB_OFFLINE)."""
    local = Path(name_or_path).expanduser()
    if not local.exists() and name_or_path.startswith(("/", ".", "~")):  # a path, not a hub name: fail fast
        raise HarnessError(f"cannot load encoder '{name_or_path}': no such folder")
    from sentence_transformers import SentenceTransformer

    quiet_transformers()
    device = device or _default_device()
    target = str(local) if local.exists() else name_or_path
    if local.exists() and not (local / "modules.json").is_file() and not (local / "config.json").is_file():
        raise HarnessError(f"model folder {local} has neither modules.json nor config.json")
    offline = None if local.exists() else hub.offline_reason()  # decided at once: no minute of hub retries
    try:
        model = SentenceTransformer(target, device=device, local_files_only=offline is not None)
    except Exception as e:  # hub, file and config errors come in many types
        if offline:
            raise HarnessError(f"cannot load encoder '{name_or_path}': not a local folder, not in the Hugging Face "
                               f"cache, and {offline}; {hub.LOCAL_MODEL_HINT}") from None
        hint = "" if local.exists() else " (not a local folder; hub names need network unless cached)"
        raise HarnessError(f"cannot load encoder '{name_or_path}'{hint}: {error_summary(e)}") from None
    if max_seq_length is not None:
        if max_seq_length <= 0:
            raise HarnessError(f"max_seq_length must be positive, got {max_seq_length}")
        model.max_seq_length = max_seq_length
    model._harness_source = name_or_path  # recorded in manifests (see model_revision)
    return model


def _module_layout(model) -> dict:
    """What besides the weights decides the embeddings: module types, pooling config, max_seq_length."""
    layout = []
    for mod in model:
        entry = {"type": type(mod).__name__}
        cfg = getattr(mod, "get_config_dict", None)
        if callable(cfg):
            with contextlib.suppress(Exception):
                entry["config"] = cfg()
        layout.append(entry)
    return {"modules": layout, "max_seq_length": model.max_seq_length}


@contextlib.contextmanager
def seq_length(model, max_seq_length: int | None):
    """``model.max_seq_length`` set to ``max_seq_length`` inside the block (unchanged when None), restored after."""
    before = model.max_seq_length
    if max_seq_length:
        model.max_seq_length = max_seq_length
    try:
        yield model
    finally:
        model.max_seq_length = before


def model_fingerprint(model) -> str:
    """Hash of every parameter and buffer (bytes, dtype, shape) and the module layout; changes when weights change.

    Hashing all weights costs about a second per 500 MB on CPU, far less than encoding any corpus, and unlike a
    sample of tensors it also notices a fine-tuning step that touched a single layer.
    """
    import torch

    h = hashlib.blake2b(digest_size=16)
    h.update(json.dumps(_module_layout(model), sort_keys=True, default=str).encode())
    with torch.no_grad():
        for name, t in list(model.state_dict().items()):
            h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
            data = t.detach()
            if data.dtype != torch.float32:
                data = data.float()  # fp16/bf16 models hash like their fp32 values
            h.update(data.contiguous().cpu().numpy().tobytes())
    return h.hexdigest()


def model_revision(model, fingerprint: str | None = None) -> str:
    """``<name or path>@<revision>``: the hub snapshot commit when the path has one, else the weight fingerprint."""
    source = getattr(model, "_harness_source", None) or getattr(model.model_card_data, "model_id", None) or "unknown"
    m = re.search(r"snapshots/([0-9a-f]{40})", str(source))
    if m is None:
        card = getattr(model.model_card_data, "base_model_revision", None)
        rev = card if card else "sha:" + (fingerprint or model_fingerprint(model))[:16]
    else:
        rev = m.group(1)
    return f"{source}@{rev}"


# ---------------------------------------------------------------------------------------------- encoding
PRECISIONS = ("auto", "fp32", "fp16")


def effective_precision(precision: str, device_type: str) -> str:
    """What an encode in ``precision`` runs as on ``device_type``: "fp16" (autocast) or "fp32"."""
    if precision not in PRECISIONS:
        raise HarnessError(f"encode precision must be one of {', '.join(PRECISIONS)}, got '{precision}'")
    if precision == "auto":
        return "fp16" if device_type == "cuda" else "fp32"
    return precision


@contextlib.contextmanager
def _inference_mode(model, precision: str = "auto") -> Iterator[None]:
    """Eval mode and the autocast of ``precision``; the previous train/eval mode is restored afterwards."""
    import torch

    was_training = model.training
    device = model.device
    fp16 = effective_precision(precision, device.type) == "fp16"
    model.eval()
    ctx = torch.autocast(device_type=device.type, dtype=torch.float16) if fp16 else contextlib.nullcontext()
    try:
        with torch.inference_mode(), ctx:
            yield
    finally:
        model.train(was_training)


GROUP_BATCHES = 8  # a chunk is encoded this many batches at a time: the unit of progress and of resumption
CHECKPOINT_SECONDS = 30.0  # a cached corpus encoding notes its progress this often (and at every chunk's end)


def _longest_first(texts: Sequence[str]) -> np.ndarray:
    """A chunk's rows in the order they are encoded: longest text first (stable, so ties keep the input order)."""
    return np.argsort([-len(t) for t in texts], kind="stable")


def _groups(n: int, batch_size: int) -> range:
    """Start positions (in a chunk's longest-first order) of the groups encoded in one ``encode`` call each."""
    return range(0, n, GROUP_BATCHES * batch_size)


def encode_batches(model, texts: Sequence[str], batch_size: int, chunk: int = ENCODE_CHUNK) -> list[np.ndarray]:
    """Row indices of every batch :func:`encode_texts` forms, in order: chunks of ``chunk`` rows, each taken
    longest first in groups of ``GROUP_BATCHES`` batches, each group batched as sentence-transformers' ``encode``
    batches it (sorted by its own length measure). A sharded encode (``harness.gpl.distributed``) encodes exactly
    these batches, so its embeddings equal a single process's."""
    length = getattr(model, "_input_length", None) or getattr(model, "_text_length")
    out = []
    for s in range(0, len(texts), chunk):
        e = min(len(texts), s + chunk)
        order = s + _longest_first(texts[s:e])
        for g in _groups(e - s, batch_size):
            rows = order[g:g + GROUP_BATCHES * batch_size]
            rows = rows[np.argsort([-length(texts[i]) for i in rows])]  # as encode() sorts them
            out += [rows[i:i + batch_size] for i in range(0, len(rows), batch_size)]
    return out


def _encode_rows(model, texts: Sequence[str], batch_size: int, normalize: bool) -> np.ndarray:
    """One ``encode`` call (sentence-transformers length-sorts its batches and restores the order)."""
    emb = np.asarray(model.encode(list(texts), batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False),
                     dtype=np.float32)
    if normalize:
        norms = np.linalg.norm(emb, axis=1, keepdims=True)
        emb /= np.maximum(norms, 1e-12)
    return emb


def _encode_into(model, get_texts, n: int, out_factory, batch_size: int, normalize: bool, desc: str,
                 start: tuple[int, int] = (0, 0), chunk: int = ENCODE_CHUNK, on_progress=None, unit: str = "texts",
                 precision: str = "auto"):
    """Encode ``n`` rows chunk by chunk into the array ``out_factory(dim)`` returns.

    Each chunk is taken longest first (:func:`_longest_first`) and encoded ``GROUP_BATCHES`` batches at a time, so the
    progress counter moves within a chunk and the batches do not depend on whether it is shown. ``start`` =
    ``(chunk_start, done)``: resume at the chunk starting at row ``chunk_start``, whose first ``done`` rows in
    longest-first order are already encoded. ``on_progress(out, chunk_start, done)`` is called at every chunk's end
    (``done`` 0 at the next chunk) and, within a chunk, at most every ``CHECKPOINT_SECONDS``.
    """
    import time

    out = None
    first, skip = start
    last = time.monotonic()
    with _inference_mode(model, precision), counter(desc, total=n, unit=unit, completed=first + skip) as advance:
        for s in range(first, n, chunk):
            e = min(n, s + chunk)
            texts = get_texts(s, e)
            order = _longest_first(texts)
            for g in _groups(e - s, batch_size):
                if s == first and g < skip:
                    continue
                rows = order[g:g + GROUP_BATCHES * batch_size]
                emb = _encode_rows(model, [texts[i] for i in rows], batch_size, normalize)
                if out is None:
                    out = out_factory(emb.shape[1])
                out[s + rows] = emb
                advance(len(rows))
                done = g + len(rows)
                if on_progress is not None and done < e - s and time.monotonic() - last >= CHECKPOINT_SECONDS:
                    on_progress(out, s, done)
                    last = time.monotonic()
            if on_progress is not None and out is not None:
                on_progress(out, e, 0)
                last = time.monotonic()
    return out


def encode_texts(model, texts: list[str], batch_size: int = 64, normalize: bool = False,
                 precision: str = "auto") -> np.ndarray:
    """float32 ``[len(texts), dim]`` in the input order; length-sorted batches; ``precision`` as in the module doc."""
    if batch_size <= 0:
        raise HarnessError(f"batch_size must be positive, got {batch_size}")
    if not texts:
        dim = model.get_embedding_dimension() or 0
        return np.zeros((0, dim), dtype=np.float32)
    out = _encode_into(model, lambda s, e: texts[s:e], len(texts), lambda d: np.empty((len(texts), d), np.float32),
                       batch_size, normalize, desc="Encoding texts", precision=precision)
    return out


def corpus_content_fingerprint(corpus: "Corpus") -> str:
    """Hash of the document ids and passages (used when no file fingerprint is given)."""
    h = hashlib.sha256()
    for i in range(len(corpus)):
        h.update(corpus.ids[i].encode())
        h.update(b"\0")
        h.update(corpus.passage(i).encode())
        h.update(b"\1")
    return h.hexdigest()


def embedding_cache_dir(cache_dir: Path, model_fp: str, corpus_fp: str, normalize: bool, max_seq_length, n: int,
                        precision: str = "auto") -> Path:
    """The cache folder of one encoding; ``precision`` other than "auto" is part of the key ("auto" keeps the key
    it had before precision was a choice)."""
    key = stable_hash({"model": model_fp, "corpus": corpus_fp, "normalize": bool(normalize),
                       "max_seq_length": max_seq_length, "n": n, "format": CACHE_FORMAT,
                       **({} if precision == "auto" else {"precision": precision})}, 24)
    return Path(cache_dir) / "dense-embeddings" / key


def encode_corpus(model, corpus: "Corpus", batch_size: int = 64, normalize: bool = False,
                  cache_dir: Path | None = None, corpus_fingerprint: str | None = None,
                  chunk: int = ENCODE_CHUNK, model_fp: str | None = None, stats: dict | None = None,
                  precision: str = "auto") -> np.ndarray:
    """Embeddings of ``corpus.passage(i)`` for every document (see :func:`_encode_corpus`).

    A cache entry is written by one process at a time (:mod:`harness.locks`); another wants it waits, then hits.
    """
    if cache_dir is None or len(corpus) == 0:
        return _encode_corpus(model, corpus, batch_size, normalize, cache_dir, corpus_fingerprint, chunk, model_fp, stats, precision)
    corpus_fingerprint = corpus_fingerprint or corpus_content_fingerprint(corpus)
    model_fp = model_fp or model_fingerprint(model)
    folder = embedding_cache_dir(Path(cache_dir), model_fp, corpus_fingerprint, normalize, model.max_seq_length, len(corpus),
                                 precision)
    with hold(folder, f"embedding cache {folder}", inside=True):
        return _encode_corpus(model, corpus, batch_size, normalize, cache_dir, corpus_fingerprint, chunk, model_fp, stats, precision)


def _encode_corpus(model, corpus: "Corpus", batch_size: int = 64, normalize: bool = False,
                   cache_dir: Path | None = None, corpus_fingerprint: str | None = None,
                   chunk: int = ENCODE_CHUNK, model_fp: str | None = None, stats: dict | None = None,
                   precision: str = "auto") -> np.ndarray:
    """Embeddings of ``corpus.passage(i)`` for every document, float32 ``[n, dim]`` in corpus order.

    With ``cache_dir`` the embeddings live in ``<cache_dir>/dense-embeddings/<key>/embeddings.f32`` (a memmap,
    returned read-only) and are reused when the same weights meet the same corpus again; an interrupted encoding
    resumes from its progress note (``progress.json``: every ``CHECKPOINT_SECONDS`` and at every chunk's end).
    Without ``cache_dir`` they are encoded into memory. ``model_fp`` saves recomputing :func:`model_fingerprint`;
    ``stats`` (if given) receives ``cache`` ("hit", "miss", "resumed", "off") and ``cache_path``.
    """
    stats = {} if stats is None else stats
    if batch_size <= 0:
        raise HarnessError(f"batch_size must be positive, got {batch_size}")
    n = len(corpus)
    if n == 0:
        return np.zeros((0, model.get_embedding_dimension() or 0), dtype=np.float32)
    texts = lambda s, e: [corpus.passage(i) for i in range(s, e)]  # noqa: E731
    if cache_dir is None:
        stats["cache"] = "off"
        return _encode_into(model, texts, n, lambda d: np.empty((n, d), np.float32), batch_size, normalize,
                            desc="Encoding corpus", chunk=chunk, unit="passages", precision=precision)

    corpus_fp = corpus_fingerprint or corpus_content_fingerprint(corpus)
    model_fp = model_fp or model_fingerprint(model)
    folder = embedding_cache_dir(Path(cache_dir), model_fp, corpus_fp, normalize, model.max_seq_length, n, precision)
    data_path, meta_path, progress_path = folder / "embeddings.f32", folder / "meta.json", folder / "progress.json"
    if meta_path.is_file():
        meta = read_json(meta_path)
        if meta.get("complete") and meta.get("n") == n and data_path.is_file():
            if data_path.stat().st_size == n * meta["dim"] * 4:
                log.info("dense embeddings: cache hit %s", folder)
                stats.update(cache="hit", cache_path=str(data_path))
                return np.memmap(data_path, dtype=np.float32, mode="r", shape=(n, meta["dim"]))
            log.warning("dense embeddings: %s has %d bytes, %d expected (truncated); encoding again",
                        data_path, data_path.stat().st_size, n * meta["dim"] * 4)
            meta_path.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    start, dim = (0, 0), None
    if progress_path.is_file() and data_path.is_file():
        prog = read_json(progress_path)
        dim = prog.get("dim")
        if dim and data_path.stat().st_size == n * dim * 4:
            # rows before rows_done are encoded, and so are the first chunk_rows_done rows (longest first) of the
            # chunk starting there, when it is cut as now
            within = int(prog.get("chunk_rows_done", 0)) if prog.get("chunk") == chunk else 0
            start = (int(prog.get("rows_done", 0)), within)
            log.info("dense embeddings: resuming %s at row %d of %d", folder, sum(start), n)
        else:
            log.warning("dense embeddings: %s does not match its progress note (truncated); encoding again", data_path)
    info = {"n": n, "model_fingerprint": model_fp, "corpus_fingerprint": corpus_fp, "normalize": bool(normalize),
            "max_seq_length": model.max_seq_length, "format": CACHE_FORMAT,
            "model": getattr(model, "_harness_source", None), "precision": precision}

    def factory(d: int) -> np.memmap:
        if sum(start) > 0:
            if d != dim:  # cannot happen for one fingerprint; never mix rows of different shapes
                raise HarnessError(f"{progress_path}: embedding dimension {dim} on disk, {d} now; delete {folder}")
            return np.memmap(data_path, dtype=np.float32, mode="r+", shape=(n, d))
        return np.memmap(data_path, dtype=np.float32, mode="w+", shape=(n, d))

    def checkpoint(mm: np.memmap, chunk_start: int, chunk_rows_done: int) -> None:
        mm.flush()  # the rows first, then the note that claims them
        write_json(progress_path, {"rows_done": chunk_start, "chunk_rows_done": chunk_rows_done, "chunk": chunk,
                                   "dim": mm.shape[1]})

    stats.update(cache="resumed" if sum(start) else "miss", cache_path=str(data_path))
    if sum(start) < n:
        out = _encode_into(model, texts, n, factory, batch_size, normalize, desc="Encoding corpus",
                           start=start, chunk=chunk, on_progress=checkpoint, unit="passages",
                           precision=precision)
        dim = out.shape[1]
        del out
    write_json(meta_path, {**info, "dim": dim, "complete": True})
    with contextlib.suppress(FileNotFoundError):
        progress_path.unlink()
    return np.memmap(data_path, dtype=np.float32, mode="r", shape=(n, dim))


# ------------------------------------------------------------------------------------------------ search
def _order_rows(scores: np.ndarray, idx: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row: sort by score descending, then index ascending; keep the first ``k``."""
    order = np.lexsort((idx, -scores), axis=-1)[:, :k]
    return np.take_along_axis(scores, order, 1), np.take_along_axis(idx, order, 1)


def _order_ties(scores: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows already sorted by score descending (faiss's and torch's output): only rows holding equal scores are
    re-sorted, so that ties run by index ascending; the rest are returned as they are."""
    tied = np.flatnonzero((scores[:, 1:] == scores[:, :-1]).any(axis=1)) if scores.shape[1] > 1 else []
    if len(tied):
        s, i = _order_rows(scores[tied], idx[tied], scores.shape[1])
        scores[tied], idx[tied] = s, i
    return scores, idx


def _exact_row_topk(row_scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` of one score vector, ties at the boundary resolved towards lower indices."""
    m = row_scores.shape[0]
    kth = np.partition(row_scores, m - k)[m - k]
    above = np.flatnonzero(row_scores > kth)
    equal = np.flatnonzero(row_scores == kth)[: k - above.size]
    sel = np.concatenate([above, equal])
    return row_scores[sel], sel


def _chunk_topk_cpu(q: np.ndarray, docs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k of ``q @ docs.T`` with faiss; rows whose k-th and (k+1)-th scores tie are redone exactly."""
    import faiss

    m = docs.shape[0]
    if m <= k:  # every document is in the top k
        s = q @ docs.T
        return _order_rows(s, np.broadcast_to(np.arange(m), s.shape).copy(), k)
    scores, idx = faiss.knn(q, docs, k + 1, metric=faiss.METRIC_INNER_PRODUCT)
    tied = np.flatnonzero(scores[:, k - 1] == scores[:, k])
    scores, idx = scores[:, :k].copy(), idx[:, :k].copy()
    for r in tied:  # rare with real embeddings; the chosen ids among boundary ties must be the lowest ones
        s_r, i_r = _exact_row_topk(docs @ q[r], k)
        o = np.lexsort((i_r, -s_r))
        scores[r], idx[r] = s_r[o], i_r[o]
    return _order_ties(scores, idx)  # faiss returns rows best first: only rows with equal scores need sorting


def _chunk_topk_torch(q_t, docs: np.ndarray, k: int, device) -> tuple[np.ndarray, np.ndarray]:
    import warnings

    import torch

    with warnings.catch_warnings():  # a read-only memmap (the cache); the tensor is only read (matmul)
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable", category=UserWarning)
        d_t = torch.from_numpy(np.ascontiguousarray(docs)).to(device)
    m = d_t.shape[0]
    kk = min(k + 1, m)
    rows = max(1, SCORE_BLOCK_ELEMENTS // max(m, 1))
    out_s, out_i = [], []
    for s in range(0, q_t.shape[0], rows):
        sc = q_t[s:s + rows] @ d_t.T
        top_s, top_i = torch.topk(sc, kk, dim=1)
        top_s, top_i = top_s.cpu().numpy(), top_i.cpu().numpy()
        if kk > k:
            tied = np.flatnonzero(top_s[:, k - 1] == top_s[:, k])
            ts, ti = top_s[:, :k].copy(), top_i[:, :k].copy()
            for r in tied:
                ts[r], ti[r] = _exact_row_topk(sc[r].cpu().numpy(), k)
            top_s, top_i = ts, ti
        out_s.append(top_s)
        out_i.append(top_i)
    s_all, i_all = np.concatenate(out_s), np.concatenate(out_i).astype(np.int64)
    return _order_rows(s_all, i_all, k)


def search(query_emb: np.ndarray, doc_emb: np.ndarray, top_k: int, chunk_size: int = 1_000_000,
           device: str | None = None, backend: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exact inner-product top-k: ``(scores [q, k], indices [q, k])``, best first, ties by lower index.

    The corpus is scanned ``chunk_size`` rows at a time (each chunk's top-k merged into the running top-k), so
    only one chunk's working set is in memory besides ``doc_emb`` itself (which may be a memmap). ``k`` is capped
    at the corpus size. ``backend``: "torch" (matmul + topk on ``device``, CUDA when present) or "faiss" (CPU);
    None picks torch, or faiss where torch is not installed. Measured on CPU (docs/performance.md): torch's matmul
    ran 2.7x faster than ``faiss.knn`` at 1M x 384 and 8x at 100k, whose bundled OpenBLAS fell back to a generic
    kernel on that CPU.
    """
    if backend not in (None, "faiss", "torch"):
        raise HarnessError(f"search backend must be 'faiss' or 'torch', got '{backend}'")
    if top_k <= 0:
        raise HarnessError(f"top_k must be positive, got {top_k}")
    if chunk_size <= 0:
        raise HarnessError(f"chunk_size must be positive, got {chunk_size}")
    q = np.ascontiguousarray(query_emb, dtype=np.float32)
    if q.ndim != 2 or doc_emb.ndim != 2 or q.shape[1] != doc_emb.shape[1]:
        raise HarnessError(f"embedding shapes do not match: queries {q.shape}, documents {doc_emb.shape}")
    n = doc_emb.shape[0]
    k = min(top_k, n)
    best_s = np.full((q.shape[0], 0), -np.inf, dtype=np.float32)
    best_i = np.zeros((q.shape[0], 0), dtype=np.int64)
    if q.shape[0] == 0 or n == 0:
        return best_s, best_i
    if backend is None:
        try:
            import torch  # noqa: F401
        except ImportError:  # pragma: no cover - torch is a dependency
            use_torch = False
        else:
            use_torch = True
    else:
        use_torch = backend == "torch"
    if use_torch:
        import torch

        dev = torch.device(device or _default_device())
        q_t = torch.from_numpy(q).to(dev)
    for start in range(0, n, chunk_size):
        docs = doc_emb[start:start + chunk_size]
        if docs.dtype != np.float32 or not docs.flags["C_CONTIGUOUS"]:
            docs = np.ascontiguousarray(docs, dtype=np.float32)
        if use_torch:
            s, i = _chunk_topk_torch(q_t, docs, k, dev)
        else:
            s, i = _chunk_topk_cpu(q, docs, k)
        i = i.astype(np.int64) + start
        if best_s.shape[1] == 0:
            best_s, best_i = s, i
        else:
            best_s, best_i = _order_rows(np.concatenate([best_s, s], 1), np.concatenate([best_i, i], 1), k)
    return best_s, best_i


# --------------------------------------------------------------------------------------------- retrieval
def dense_retrieve(model, corpus: "Corpus", queries: dict[str, str], top_k: int, score_function: str = "dot",
                   batch_size: int = 64, cache_dir: Path | None = None, corpus_fingerprint: str | None = None,
                   exclude: dict[str, set[str]] | None = None, chunk_size: int = 1_000_000,
                   timings: dict | None = None, ann=None,
                   precision: str = "auto") -> dict[str, dict[str, float]]:
    """qid -> {docid: score} with ``top_k`` documents per query (fewer only if the corpus is smaller).

    ``score_function``: "dot" (raw embeddings) or "cos" (normalised embeddings). ``exclude`` drops the given
    document ids for each query (e.g. its positives when mining negatives) and still returns ``top_k`` others.
    ``timings`` (if given) receives seconds per step (``*_s``), the cache outcome, the embedding dimension and the
    model fingerprint (when the cache is used).
    """
    import time

    timings = {} if timings is None else timings
    if score_function not in ("dot", "cos"):
        raise HarnessError(f"score_function must be 'dot' or 'cos', got '{score_function}'")
    normalize = score_function == "cos"
    qids = list(queries)
    if not qids:
        return {}
    t0 = time.time()
    model_fp = model_fingerprint(model) if cache_dir is not None else None
    t1 = time.time()
    doc_emb = encode_corpus(model, corpus, batch_size=batch_size, normalize=normalize, cache_dir=cache_dir,
                            corpus_fingerprint=corpus_fingerprint, model_fp=model_fp, stats=timings,
                            precision=precision)
    t2 = time.time()
    q_emb = encode_texts(model, [queries[q] for q in qids], batch_size=batch_size, normalize=normalize,
                         precision=precision)
    t3 = time.time()
    index = corpus.index if exclude else None
    extra = 0
    if exclude:
        extra = max((sum(1 for d in exclude.get(q, ()) if d in index) for q in qids), default=0)
    if ann is None:  # exact (the default); else a harness.ann.AnnSpec, checked against exact before use
        scores, idx = search(q_emb, doc_emb, top_k + extra, chunk_size=chunk_size)
    else:
        from .ann import ann_search

        scores, idx = ann_search(q_emb, doc_emb, top_k + extra, ann, chunk_size=chunk_size)
        timings["index"] = dict(ann.report)
    timings.update(fingerprint_s=t1 - t0, encode_corpus_s=t2 - t1, encode_queries_s=t3 - t2,
                   search_s=time.time() - t3, embedding_dim=int(doc_emb.shape[1]), n_docs=len(corpus),
                   n_queries=len(qids))
    if model_fp:
        timings["model_fingerprint"] = model_fp
    ids = corpus.ids
    run: dict[str, dict[str, float]] = {}
    for r, qid in enumerate(qids):
        drop = exclude.get(qid, set()) if exclude else set()
        hits: dict[str, float] = {}
        for s, i in zip(scores[r].tolist(), idx[r].tolist()):
            if i < 0:  # an approximate index found fewer than k
                continue
            d = ids[i]
            if d in drop:
                continue
            hits[d] = float(s)
            if len(hits) == top_k:
                break
        run[qid] = hits
    return run
