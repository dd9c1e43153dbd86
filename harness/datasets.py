"""Data layer: find, read and validate BEIR-layout and LoTTE-layout test sets.

Layouts read:

* BEIR: ``<dir>/corpus.jsonl`` (``_id``, ``title``, ``text``), ``<dir>/queries.jsonl`` (``_id``, ``text``),
  ``<dir>/qrels/<split>.tsv`` (header ``query-id corpus-id score``).
* LoTTE (official tarball): ``<dir>/lotte/<domain>/<split>/collection.tsv`` (``pid<TAB>passage``),
  ``questions.<search|forum>.tsv`` (``qid<TAB>question``), ``qas.<search|forum>.jsonl``
  (``{"qid": .., "answer_pids": [..]}``).

Resolution: the data folder (``--data-dir``, else ``HARNESS_DATA_DIR``, else ``$HARNESS_CACHE/data``, by default
``~/.cache/harness/data``), then ``$HARNESS_CACHE/data`` where downloads are kept, then a download through
``ir_datasets`` exported into ``$HARNESS_CACHE/data`` in the native layout.

Unlike beir's evaluation, nothing here drops a document whose id equals a query id: LoTTE's qids and pids are
both small integers, and such a document may be the gold answer. Datasets whose queries are themselves corpus
documents (ArguAna, Quora) say so in the registry (``exclude_self_hits``) and the run writer handles it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Container, Iterator

from .errors import DataError, HarnessError, error_summary
from .fileio import atomic_open, json_object, parse_decimal, utf8_lines
from .registry import SUITE_NAMES, DatasetInfo, get_suite

log = logging.getLogger("harness")


@dataclass
class Corpus:
    """Documents as parallel lists (compact for multi-million-passage corpora)."""

    ids: list[str]
    titles: list[str]
    texts: list[str]

    def __len__(self) -> int:
        return len(self.ids)

    @cached_property
    def index(self) -> dict[str, int]:
        return {d: i for i, d in enumerate(self.ids)}

    def passage(self, i: int) -> str:
        """Title and text joined by a space, as BEIR's dense and BM25 baselines see a document."""
        title, text = self.titles[i], self.texts[i]
        return f"{title} {text}".strip() if title else text

    def passages(self) -> list[str]:
        return [self.passage(i) for i in range(len(self))]


@dataclass
class Dataset:
    """One evaluable test set (a CQADupStack subforum is one Dataset)."""

    info: DatasetInfo
    key: str  # e.g. "scifact", "cqadupstack/android", "lifestyle.search"
    path: Path
    corpus: Corpus
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    fingerprint: str
    files: dict[str, str] = field(default_factory=dict)  # role -> path of every file read
    parts: tuple[str, ...] = ()  # a union of parts (see ``union_dataset``): the part keys, in order

    @property
    def suite(self) -> str:
        return self.info.suite

    @property
    def corpus_fingerprint(self) -> str:
        """Hash of the corpus file alone (what embeddings and generated queries depend on)."""
        return self.files.get("corpus_sha256", self.fingerprint)


# --------------------------------------------------------------------------------------------- reading
class _HashingLines:
    """Iterate ``(line_no, text)`` over a file while hashing its bytes."""

    def __init__(self, path: Path):
        self.path = path
        self.sha = hashlib.sha256()

    def __iter__(self) -> Iterator[tuple[int, str]]:
        return utf8_lines(self.path, self.sha.update)


def _require(path: Path, what: str) -> Path:
    if not path.is_file():
        raise DataError(f"missing {what}: {path}")
    return path


def _str_field(path: Path, no: int, obj: dict, key: str, required: bool = True) -> str:
    if key not in obj or obj[key] is None:
        if required:
            raise DataError(f"{path}:{no}: missing field '{key}'")
        return ""
    val = obj[key]
    if isinstance(val, (int, float)) and not isinstance(val, bool):
        return str(val)
    if not isinstance(val, str):
        raise DataError(f"{path}:{no}: field '{key}' must be a string, got {type(val).__name__}")
    return val


def _add_doc(path: Path, no: int, doc_id: str, seen: dict[str, int], corpus: Corpus, title: str, text: str) -> None:
    if not doc_id.strip():
        raise DataError(f"{path}:{no}: empty document id")
    if doc_id in seen:
        raise DataError(f"{path}:{no}: duplicate document id '{doc_id}' (first on line {seen[doc_id]})")
    seen[doc_id] = no
    corpus.ids.append(doc_id)
    corpus.titles.append(title)
    corpus.texts.append(text)


def _add_query(path: Path, no: int, qid: str, text: str, seen: dict[str, int], queries: dict[str, str]) -> None:
    if not qid.strip():
        raise DataError(f"{path}:{no}: empty query id")
    if qid in seen:
        raise DataError(f"{path}:{no}: duplicate query id '{qid}' (first on line {seen[qid]})")
    seen[qid] = no
    queries[qid] = text


def read_beir_corpus(path: Path) -> tuple[Corpus, str]:
    lines = _HashingLines(_require(path, "corpus file"))
    corpus, seen = Corpus([], [], []), {}
    for no, line in lines:
        if not line.strip():
            continue
        obj = json_object(path, no, line)
        _add_doc(path, no, _str_field(path, no, obj, "_id"), seen, corpus,
                 _str_field(path, no, obj, "title", required=False), _str_field(path, no, obj, "text", required=False))
    if not corpus.ids:
        raise DataError(f"{path}: corpus is empty")
    return corpus, lines.sha.hexdigest()


def read_beir_queries(path: Path) -> tuple[dict[str, str], dict[str, int], str]:
    """All queries with their line numbers (empty texts are checked later, only for queries that are used)."""
    lines = _HashingLines(_require(path, "queries file"))
    queries: dict[str, str] = {}
    seen: dict[str, int] = {}
    for no, line in lines:
        if not line.strip():
            continue
        obj = json_object(path, no, line)
        _add_query(path, no, _str_field(path, no, obj, "_id"), _str_field(path, no, obj, "text"), seen, queries)
    return queries, seen, lines.sha.hexdigest()


def read_beir_qrels(path: Path) -> tuple[dict[str, dict[str, int]], dict[tuple[str, str], int], str]:
    lines = _HashingLines(_require(path, "qrels file"))
    qrels: dict[str, dict[str, int]] = {}
    where: dict[tuple[str, str], int] = {}
    for no, line in lines:
        if not line.strip():
            continue
        cols = line.split("\t")
        if no == 1 and cols[0].strip().lower() in ("query-id", "query_id", "qid"):
            continue  # header
        if len(cols) != 3:
            raise DataError(f"{path}:{no}: expected 3 tab-separated columns (query-id, corpus-id, score), got {len(cols)}")
        qid, did, score = (c.strip() for c in cols)
        if not qid or not did:
            raise DataError(f"{path}:{no}: empty {'query' if not qid else 'document'} id")
        try:
            value = parse_decimal(score)
            grade = int(value)  # the integer part, as trec_eval reads a grade; ValueError/OverflowError: nan, inf
        except (ValueError, OverflowError):
            raise DataError(f"{path}:{no}: relevance score '{score}' is not a number") from None
        if (qid, did) in where:
            raise DataError(f"{path}:{no}: duplicate judgement for query '{qid}', document '{did}' (first on line {where[qid, did]})")
        where[qid, did] = no
        qrels.setdefault(qid, {})[did] = grade
    return qrels, where, lines.sha.hexdigest()


def checked_qrels(qrels_path: Path, qrels: dict[str, dict[str, int]], where: dict[tuple[str, str], int],
                  queries: dict[str, str], q_lines: dict[str, int], q_path: Path, doc_index: Container[str] | None,
                  lenient: bool, keep_emptied: bool = False) -> dict[str, dict[str, int]]:
    """The judgements to evaluate. Each must name a query of ``q_path`` and (when ``doc_index`` is given) a document
    of the corpus: an unknown id is an error naming its qrels line, or with ``lenient`` (``--lenient-qrels``) the
    judgement is dropped and one warning line says what was dropped, with counts. A judged query left without
    judgements no longer counts, unless ``keep_emptied`` (LoTTE: a question whose answers are all unknown still
    counts, as an unanswerable one). Every judged query must have text. ``where``: the line of each (qid, doc id),
    ``(qid, "")`` for a judged query without answers."""
    unknown_q: list[tuple[str, str]] = []
    unknown_d: list[tuple[str, str]] = []
    for (qid, did), no in where.items():
        if qid not in queries:
            problem, bucket = f"{qrels_path}:{no}: query id '{qid}' is not in {q_path.name}", unknown_q
        elif doc_index is not None and did and did not in doc_index:
            problem, bucket = f"{qrels_path}:{no}: document id '{did}' is not in the corpus", unknown_d
        else:
            continue
        if not lenient:
            raise DataError(problem + " (pass --lenient-qrels to drop such judgements)")
        bucket.append((qid, did))
    for qid in dict.fromkeys(q for q, _ in where):
        if qid in queries and not queries[qid].strip():
            raise DataError(f"{q_path}:{q_lines.get(qid, '?')}: query '{qid}' has empty text")
    if not unknown_q and not unknown_d:
        return qrels
    dropped = set(unknown_q) | set(unknown_d)
    kept = {q: {d: g for d, g in docs.items() if (q, d) not in dropped} for q, docs in qrels.items() if q in queries}
    emptied = [q for q, docs in kept.items() if not docs and qrels[q]]
    if not keep_emptied:
        kept = {q: docs for q, docs in kept.items() if docs}
    parts = [f"{len(found)} naming {len({x[i] for x in found})} {what} (e.g. '{found[0][i]}')"
             for found, i, what in ((unknown_q, 0, f"query ids not in {q_path.name}"),
                                    (unknown_d, 1, "document ids not in the corpus")) if found]
    left = (f"; {len(emptied)} judged queries left without judgements "
            + ("still count (scored 0)" if keep_emptied else "no longer count")) if emptied else ""
    log.warning("%s: --lenient-qrels dropped %d of %d judgements: %s%s", qrels_path, len(dropped), len(where),
                ", ".join(parts), left)
    return kept


def load_beir_folder(path: Path, info: DatasetInfo, key: str | None = None, lenient_qrels: bool = False) -> Dataset:
    """Read one BEIR-layout folder; keep the queries judged in ``info.split``."""
    path = Path(path)
    corpus_path, queries_path = path / "corpus.jsonl", path / "queries.jsonl"
    qrels_path = path / "qrels" / f"{info.split}.tsv"
    corpus, c_sha = read_beir_corpus(corpus_path)
    queries, q_lines, q_sha = read_beir_queries(queries_path)
    qrels, where, r_sha = read_beir_qrels(qrels_path)
    qrels = checked_qrels(qrels_path, qrels, where, queries, q_lines, queries_path, corpus.index, lenient_qrels)
    used = {q: queries[q] for q in queries if q in qrels}
    if not used:
        raise DataError(f"{qrels_path}: no judged queries")
    return Dataset(
        info=info, key=key or info.name, path=path, corpus=corpus, queries=used, qrels=qrels,
        fingerprint=hashlib.sha256(f"{c_sha}:{q_sha}:{r_sha}:{info.split}".encode()).hexdigest(),
        files={"corpus": str(corpus_path), "queries": str(queries_path), "qrels": str(qrels_path), "corpus_sha256": c_sha},
    )


def read_lotte_collection(path: Path) -> tuple[Corpus, str]:
    lines = _HashingLines(_require(path, "LoTTE collection"))
    corpus, seen = Corpus([], [], []), {}
    for no, line in lines:
        if not line:
            continue
        cols = line.split("\t", 1)
        if len(cols) != 2:
            raise DataError(f"{path}:{no}: expected 'pid<TAB>passage'")
        _add_doc(path, no, cols[0].strip(), seen, corpus, "", cols[1])
    if not corpus.ids:
        raise DataError(f"{path}: collection is empty")
    return corpus, lines.sha.hexdigest()


def read_lotte_questions(path: Path) -> tuple[dict[str, str], dict[str, int], str]:
    lines = _HashingLines(_require(path, "LoTTE questions file"))
    queries: dict[str, str] = {}
    seen: dict[str, int] = {}
    for no, line in lines:
        if not line:
            continue
        cols = line.split("\t", 1)
        if len(cols) != 2:
            raise DataError(f"{path}:{no}: expected 'qid<TAB>question'")
        if not cols[1].strip():
            raise DataError(f"{path}:{no}: query '{cols[0].strip()}' has empty text")
        _add_query(path, no, cols[0].strip(), cols[1], seen, queries)
    return queries, seen, lines.sha.hexdigest()


def read_lotte_qas(path: Path) -> tuple[dict[str, dict[str, int]], dict[tuple[str, str], int], str]:
    lines = _HashingLines(_require(path, "LoTTE answers file"))
    qrels: dict[str, dict[str, int]] = {}
    where: dict[tuple[str, str], int] = {}
    for no, line in lines:
        if not line.strip():
            continue
        obj = json_object(path, no, line)
        qid = _str_field(path, no, obj, "qid")
        if not qid.strip():
            raise DataError(f"{path}:{no}: empty query id")
        pids = obj.get("answer_pids")
        if not isinstance(pids, list) or not all(
                isinstance(p, int) and not isinstance(p, bool) or isinstance(p, str) and p.strip() for p in pids):
            raise DataError(f"{path}:{no}: field 'answer_pids' must be a list of passage ids (integers or strings)")
        if qid in qrels:
            raise DataError(f"{path}:{no}: duplicate qid '{qid}'")
        qrels[qid] = {}
        for p in pids:
            qrels[qid][str(p)] = 1
            where[qid, str(p)] = no
        if not pids:
            where[qid, ""] = no  # a question with no answer still counts (it can never succeed)
    return qrels, where, lines.sha.hexdigest()


def load_lotte_folder(path: Path, info: DatasetInfo, lenient_qrels: bool = False) -> Dataset:
    """Read ``<lotte>/<domain>/<split>/`` for one query set (search or forum)."""
    path = Path(path)
    qs = info.lotte_query_set
    coll_path, q_path, qas_path = path / "collection.tsv", path / f"questions.{qs}.tsv", path / f"qas.{qs}.jsonl"
    corpus, c_sha = read_lotte_collection(coll_path)
    queries, q_lines, q_sha = read_lotte_questions(q_path)
    qrels, where, r_sha = read_lotte_qas(qas_path)
    qrels = checked_qrels(qas_path, qrels, where, queries, q_lines, q_path, corpus.index, lenient_qrels,
                          keep_emptied=True)
    return Dataset(
        info=info, key=info.name, path=path, corpus=corpus,
        queries={q: queries[q] for q in queries if q in qrels}, qrels=qrels,
        fingerprint=hashlib.sha256(f"{c_sha}:{q_sha}:{r_sha}:{qs}".encode()).hexdigest(),
        files={"corpus": str(coll_path), "queries": str(q_path), "qrels": str(qas_path), "corpus_sha256": c_sha},
    )


# ------------------------------------------------------------------------------------------ resolution
def cache_root() -> Path:
    return Path(os.environ.get("HARNESS_CACHE", Path.home() / ".cache" / "harness"))


def default_data_dir() -> Path:
    """The data folder when neither ``--data-dir`` nor ``HARNESS_DATA_DIR`` is given; downloads are kept here."""
    return cache_root() / "data"


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> tuple[Path, str]:
    """The data folder every command uses, and where it came from: ``--data-dir``, else ``HARNESS_DATA_DIR``,
    else :func:`default_data_dir` (``$HARNESS_CACHE/data``, by default ``~/.cache/harness/data``)."""
    if data_dir:
        return Path(data_dir), "--data-dir"
    if os.environ.get("HARNESS_DATA_DIR"):
        return Path(os.environ["HARNESS_DATA_DIR"]), "HARNESS_DATA_DIR"
    return default_data_dir(), "default"


def data_dirs(data_dir: str | os.PathLike | None) -> list[Path]:
    """Folders searched, in order: the data folder (:func:`resolve_data_dir`), then the downloads' folder."""
    first, _ = resolve_data_dir(data_dir)
    dirs = [first]
    if default_data_dir() != first:
        dirs.append(default_data_dir())
    return dirs


class BeirLayout:
    """BEIR's folder: ``<dir>/<key>/corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``."""

    def folder(self, info: DatasetInfo, key: str) -> Path:
        return Path(key)

    def present(self, folder: Path, info: DatasetInfo) -> bool:
        return (folder / "corpus.jsonl").is_file()

    def describe(self, info: DatasetInfo) -> str:
        return f"corpus.jsonl, queries.jsonl, qrels/{info.split}.tsv"

    def load(self, folder: Path, info: DatasetInfo, key: str, lenient_qrels: bool) -> Dataset:
        return load_beir_folder(folder, info, key=key, lenient_qrels=lenient_qrels)

    def qrels(self, folder: Path, info: DatasetInfo) -> tuple[Path, dict[str, dict[str, int]], str]:
        """The judgements (and their file's SHA-256), every judged query checked against the queries file."""
        path, q_path = folder / "qrels" / f"{info.split}.tsv", folder / "queries.jsonl"
        qrels, where, sha = read_beir_qrels(path)
        queries, q_lines, _ = read_beir_queries(q_path)
        return path, checked_qrels(path, qrels, where, queries, q_lines, q_path, None, lenient=False), sha

    def export(self, ds, folder: Path, info: DatasetInfo) -> None:
        _export_beir(ds, folder, info.split)


class LotteLayout:
    """LoTTE's tarball: ``<dir>/lotte/<domain>/<split>/collection.tsv``, ``questions.<set>.tsv``, ``qas.<set>.jsonl``."""

    def folder(self, info: DatasetInfo, key: str) -> Path:
        return Path("lotte") / (info.domain or key.split(".")[0]) / info.split

    def present(self, folder: Path, info: DatasetInfo) -> bool:
        # search and forum share collection.tsv: each query set needs its own questions file
        return (folder / "collection.tsv").is_file() and (folder / f"questions.{info.lotte_query_set}.tsv").is_file()

    def describe(self, info: DatasetInfo) -> str:
        return "collection.tsv, questions.{search,forum}.tsv, qas.{search,forum}.jsonl"

    def load(self, folder: Path, info: DatasetInfo, key: str, lenient_qrels: bool) -> Dataset:
        return load_lotte_folder(folder, info, lenient_qrels=lenient_qrels)

    def qrels(self, folder: Path, info: DatasetInfo) -> tuple[Path, dict[str, dict[str, int]], str]:
        """Every question, answered or not (and the file's SHA-256), each checked against the questions file."""
        path, q_path = folder / f"qas.{info.lotte_query_set}.jsonl", folder / f"questions.{info.lotte_query_set}.tsv"
        qrels, where, sha = read_lotte_qas(path)
        queries, q_lines, _ = read_lotte_questions(q_path)
        return path, checked_qrels(path, qrels, where, queries, q_lines, q_path, None, lenient=False), sha

    def export(self, ds, folder: Path, info: DatasetInfo) -> None:
        _export_lotte(ds, folder, info.lotte_query_set)


LAYOUTS = {"beir": BeirLayout(), "lotte": LotteLayout()}


def layout_of(info: DatasetInfo) -> BeirLayout | LotteLayout:
    """The file layout of a dataset's suite (the registry's ``layout``; custom folders are BEIR's)."""
    return LAYOUTS[get_suite(info.suite).layout if info.suite in SUITE_NAMES else "beir"]


def relative_folder(info: DatasetInfo, key: str) -> Path:
    """Where a dataset lives under a data folder."""
    return layout_of(info).folder(info, key)


def locate(info: DatasetInfo, key: str, data_dir: str | os.PathLike | None = None) -> Path | None:
    layout = layout_of(info)
    for d in data_dirs(data_dir):
        folder = d / layout.folder(info, key)
        if layout.present(folder, info):
            return folder
    return None


def _missing_message(info: DatasetInfo, key: str, data_dir, reason: str) -> str:
    rel = relative_folder(info, key)
    layout = layout_of(info).describe(info)
    where = " or ".join(str(d / rel) for d in data_dirs(data_dir))
    folder, source = resolve_data_dir(data_dir)
    origin = {"--data-dir": "from --data-dir", "HARNESS_DATA_DIR": "from HARNESS_DATA_DIR",
              "default": "the default; choose another with --data-dir or HARNESS_DATA_DIR"}[source]
    hint = ""
    if info.group == "Custom":
        from .registry import did_you_mean

        hint = did_you_mean(key)
    return f"dataset '{key}' not found{hint}; {reason}; put its folder ({layout}) at {where} (data folder {folder}: {origin})"


def _download_failure(ds_id: str, e: BaseException) -> str:
    """One line for a failed download; a network failure says so instead of quoting the HTTP library."""
    text = f"{type(e).__name__} {e}"
    if any(s in text for s in ("NameResolution", "Failed to resolve", "Max retries exceeded", "Connection refused",
                               "Network is unreachable", "timed out")):
        return f"download of '{ds_id}' through ir_datasets failed ({type(e).__name__}: its server could not be reached)"
    return f"download of '{ds_id}' through ir_datasets failed ({error_summary(e, 160)})"


def download_refusal(info: DatasetInfo) -> str | None:
    """Why ``info`` cannot be downloaded here (offline, or a custom dataset), or None."""
    harness_offline = os.environ.get("HARNESS_OFFLINE", "")
    if harness_offline not in ("", "0") or os.environ.get("HF_HUB_OFFLINE") == "1" and harness_offline != "0":
        return "offline (HARNESS_OFFLINE or HF_HUB_OFFLINE is set), so no download was tried"
    if not info.ir_datasets:
        return "it is a custom dataset, so there is nothing to download"
    return None


def download(info: DatasetInfo, key: str, target_root: Path) -> Path:
    """Fetch through ir_datasets and export into the native layout under ``target_root``.

    ir_datasets keeps its own cache (``~/.ir_datasets``, or IR_DATASETS_HOME), shared by every dataset: it is locked
    for the whole download (one harness download at a time writes there), and a failed download removes what it
    added there (a half-built ``docs.pklz4`` store would later pass for a built one) as well as in ``target_root``.
    """
    refusal = download_refusal(info)
    if refusal:
        raise HarnessError(refusal)
    part = key.split("/", 1)[1] if "/" in key else ""
    ds_id = info.ir_datasets.format(part=part)
    folder = target_root / relative_folder(info, key)
    before = set(folder.rglob("*")) if folder.is_dir() else set()
    import ir_datasets  # imported lazily: it is slow to import
    from ir_datasets.util import home_path

    from .locks import hold

    home = home_path()
    with hold(home, f"the ir_datasets cache {home}", inside=True):
        home_before = set(home.rglob("*"))
        try:
            with _library_info_off():
                layout_of(info).export(ir_datasets.load(ds_id), folder, info)
        except BaseException as e:  # network errors come in many types; Ctrl-C fails a download too
            _remove_new(home, home_before, home)
            _remove_new(folder, before, target_root)
            if isinstance(e, Exception):
                raise HarnessError(_download_failure(ds_id, e)) from e
            raise
    return folder


@contextlib.contextmanager
def _library_info_off():
    """ir_datasets logs every step and retry at INFO level; a failed download is reported by the one-line error
    instead (its progress bars and warnings stay; ``--debug`` / HARNESS_DEBUG=1 keeps the INFO lines)."""
    if os.environ.get("HARNESS_DEBUG", "").strip() not in ("", "0"):
        yield
        return
    previous = logging.root.manager.disable
    logging.disable(logging.INFO)
    try:
        yield
    finally:
        logging.disable(previous)


def _remove_new(folder: Path, before: set[Path], root: Path) -> None:
    """Undo a failed export: a half-written folder (corpus but no qrels) would later pass for a dataset."""
    if folder.is_dir():
        for p in sorted(folder.rglob("*"), reverse=True):  # files before the folders holding them
            if p not in before:
                with contextlib.suppress(OSError):
                    p.rmdir() if p.is_dir() else p.unlink()
    while folder != root and folder.is_dir() and not any(folder.iterdir()):
        with contextlib.suppress(OSError):
            folder.rmdir()
        folder = folder.parent


def _export_beir(ds, folder: Path, split: str) -> None:
    with atomic_open(folder / "corpus.jsonl") as fh:
        for d in ds.docs_iter():
            fh.write(json.dumps({"_id": d.doc_id, "title": getattr(d, "title", "") or "", "text": d.text}) + "\n")
    with atomic_open(folder / "queries.jsonl") as fh:
        for q in ds.queries_iter():
            fh.write(json.dumps({"_id": q.query_id, "text": q.text}) + "\n")
    with atomic_open(folder / "qrels" / f"{split}.tsv") as fh:
        fh.write("query-id\tcorpus-id\tscore\n")
        for r in ds.qrels_iter():
            fh.write(f"{r.query_id}\t{r.doc_id}\t{r.relevance}\n")


def _export_lotte(ds, folder: Path, qs: str) -> None:
    if not (folder / "collection.tsv").is_file():
        with atomic_open(folder / "collection.tsv") as fh:
            for d in ds.docs_iter():
                fh.write(f"{d.doc_id}\t{d.text.replace(chr(9), ' ').replace(chr(10), ' ')}\n")
    answers: dict[str, list[str]] = {}  # every question gets a qas line, also one without answers (as in the tarball)
    with atomic_open(folder / f"questions.{qs}.tsv") as fh:
        for q in ds.queries_iter():
            answers[q.query_id] = []
            fh.write(f"{q.query_id}\t{q.text.replace(chr(9), ' ').replace(chr(10), ' ')}\n")
    for r in ds.qrels_iter():
        if r.relevance > 0:
            answers.setdefault(r.query_id, []).append(r.doc_id)
    with atomic_open(folder / f"qas.{qs}.jsonl") as fh:
        for qid, pids in answers.items():
            fh.write(json.dumps({"qid": int(qid) if qid.isdigit() else qid,
                                 "answer_pids": [int(p) if p.isdigit() else p for p in pids]}) + "\n")


def load_dataset(info: DatasetInfo, key: str | None = None, data_dir: str | os.PathLike | None = None,
                 allow_download: bool = True, lenient_qrels: bool = False) -> Dataset:
    """Find (or download) and read one dataset part; errors name the folders searched."""
    key = key or info.name
    folder = locate(info, key, data_dir)
    if folder is None:
        from .locks import hold

        try:
            refusal = "downloads are disabled" if not allow_download else download_refusal(info)
            if refusal:  # before any lock: a misspelt name leaves no lock file behind
                raise HarnessError(refusal)
            # one downloader per dataset; the lock lives outside the data folder, which must hold datasets only
            lock = cache_root() / "locks" / ("download-" + str(relative_folder(info, key)).replace(os.sep, "+"))
            with hold(lock, f"download of '{key}'"):
                folder = locate(info, key, data_dir) or download(info, key, cache_root() / "data")
        except HarnessError as e:
            raise HarnessError(_missing_message(info, key, data_dir, str(e))) from None
    return layout_of(info).load(folder, info, key, lenient_qrels)


def union_id(part_key: str, item_id: str) -> str:
    """Id of a part's document or query in a union: ``<part>/<id>`` (``android/1234``); the part name holds no
    ``/``, so ``uid.split("/", 1)`` gives the part and the original id back."""
    return f"{part_key.rsplit('/', 1)[-1]}/{item_id}"


def union_dataset(info: DatasetInfo, parts: dict[str, Dataset]) -> Dataset:
    """Every part of a multi-part dataset (CQADupStack's forums) as one dataset, ids made unique per part.

    GPL adapts one model to CQADupStack on the forums together and evaluates it on each forum (docs/gpl.md); this
    is the corpus that one training reads. Forums reuse document ids (both may hold a post ``1234``), so every id
    becomes ``<forum>/<id>``. Texts are shared with the parts, not copied.
    """
    if not parts:
        raise HarnessError(f"{info.name}: no parts to unite")
    corpus = Corpus([], [], [])
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    for key, ds in parts.items():
        corpus.ids.extend(union_id(key, d) for d in ds.corpus.ids)
        corpus.titles.extend(ds.corpus.titles)
        corpus.texts.extend(ds.corpus.texts)
        queries.update((union_id(key, q), t) for q, t in ds.queries.items())
        qrels.update((union_id(key, q), {union_id(key, d): g for d, g in docs.items()}) for q, docs in ds.qrels.items())
    corpus_sha = hashlib.sha256("".join(f"{k}:{ds.corpus_fingerprint}\n" for k, ds in parts.items()).encode()).hexdigest()
    fingerprint = hashlib.sha256("".join(f"{k}:{ds.fingerprint}\n" for k, ds in parts.items()).encode()).hexdigest()
    paths = [ds.path for ds in parts.values()]
    return Dataset(
        info=info, key=info.name, path=Path(os.path.commonpath(paths)) if len(paths) > 1 else paths[0].parent,
        corpus=corpus, queries=queries, qrels=qrels, fingerprint=fingerprint,
        files={"corpus_sha256": corpus_sha, **{f"corpus:{k}": ds.files.get("corpus", str(ds.path)) for k, ds in parts.items()}},
        parts=tuple(parts),
    )


def is_present(info: DatasetInfo, data_dir: str | os.PathLike | None = None) -> bool:
    return all(locate(info, k, data_dir) is not None for k in info.part_names)
