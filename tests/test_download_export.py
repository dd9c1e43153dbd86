"""The download-and-export path of ``harness.datasets`` (``download``, ``_export_beir``, ``_export_lotte``).

Nothing can be downloaded on CI, so the network source is the only thing substituted: ``ir_datasets.load`` is
replaced by a stand-in. The stand-in still asks the installed ir_datasets registry for the requested id (an id
ir_datasets does not know fails as it would for real) and yields rows of that dataset's own record types
(``BeirTitleDoc``, ``BeirCqaDoc``, ``GenericDoc``, ``GenericQuery``, ``TrecQrel``, ...). Everything after it is the
real code: the export into the native layout, atomic writes, the cache lookup, reading back, the error messages and,
in the last tests, the real ``python -m harness.cli run`` process (there the stand-in is installed by a
``sitecustomize`` shim on PYTHONPATH, since a monkeypatch does not reach a subprocess).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import typing
from pathlib import Path

import ir_datasets
import pytest

from harness.datasets import load_dataset
from harness.errors import HarnessError
from harness.registry import custom_dataset, get_suite

REAL_LOAD = ir_datasets.load
TESTS = Path(__file__).resolve().parent


# ------------------------------------------------------------------------------------------ the stand-in
def _blank(annotation):
    origin = typing.get_origin(annotation)
    return [] if origin is list else {} if origin is dict else 0 if annotation is int else ""


def record(cls, row: dict):
    """One row as ir_datasets' own record type; fields the row does not give are blank (e.g. BeirCqaDoc's tags)."""
    hints = typing.get_type_hints(cls)
    return cls(*(row.get(f, _blank(hints.get(f))) for f in cls._fields))


class StandIn:
    """What ``ir_datasets.load(ds_id)`` returns: ``docs_iter``, ``queries_iter``, ``qrels_iter``."""

    def __init__(self, source: "Source", ds_id: str):
        registered = REAL_LOAD(ds_id)  # KeyError for an id the installed ir_datasets does not know; no download
        self.types = {"docs": registered.docs_cls(), "queries": registered.queries_cls(), "qrels": registered.qrels_cls()}
        self.source, self.ds_id = source, ds_id

    def _rows(self, what: str):
        self.source.iterated.append((self.ds_id, what))
        for i, row in enumerate(self.source.data[self.ds_id][what]):
            if self.source.fail_at == what and i == 1:
                raise ConnectionError("connection reset by peer")  # the network dies half-way through a file
            yield record(self.types[what], row)

    def docs_iter(self):
        return self._rows("docs")

    def queries_iter(self):
        return self._rows("queries")

    def qrels_iter(self):
        return self._rows("qrels")


class Source:
    """Stand-in for the network: what each ir_datasets id yields, and a record of what was asked for."""

    def __init__(self, data: dict, log: str | None = None):
        self.data, self.log = data, log
        self.calls: list[str] = []
        self.iterated: list[tuple[str, str]] = []
        self.fail_at: str | None = None  # "load", "docs", "queries" or "qrels"

    def load(self, ds_id: str) -> StandIn:
        self.calls.append(ds_id)
        if self.log:
            with open(self.log, "a", encoding="utf-8") as fh:
                fh.write(ds_id + "\n")
        if self.fail_at == "load":
            raise ConnectionError(f"could not reach the host serving {ds_id}")
        return StandIn(self, ds_id)


def install_from_env() -> None:
    """Called by the sitecustomize shim in a CLI subprocess: $IRDS_STANDIN holds the data, $IRDS_STANDIN_LOG the calls."""
    with open(os.environ["IRDS_STANDIN"], encoding="utf-8") as fh:
        ir_datasets.load = Source(json.load(fh), log=os.environ["IRDS_STANDIN_LOG"]).load


# -------------------------------------------------------------------------------------------------- data
BEIR_DOCS = [
    {"doc_id": "d1", "title": "Tabs\tand\nnewlines", "text": "first line\nsecond\tcolumn, \"quoted\" and a \\ backslash"},
    {"doc_id": "d2", "title": "", "text": "Ünïcödé — 日本語 🧪, a line\u2028separator and a carriage\r return"},
    {"doc_id": "10.1000/x y", "title": "An id with a slash and a space", "text": "plain text"},
    {"doc_id": "q1", "title": "A document whose id is a query id", "text": "kept, never dropped"},
    {"doc_id": "d5", "title": "Unjudged", "text": "filler"},
]
BEIR_QUERIES = [
    {"query_id": "q1", "text": "what is\tthis\nquery?"},
    {"query_id": "q2", "text": "ünïcödé 日本語 question"},
    {"query_id": "q3", "text": "filler, judged not relevant"},
    {"query_id": "q4", "text": "not judged in this split"},
]
BEIR_QRELS = [
    {"query_id": "q1", "doc_id": "d1", "relevance": 2, "iteration": "0"},
    {"query_id": "q1", "doc_id": "d2", "relevance": 1, "iteration": "0"},
    {"query_id": "q1", "doc_id": "q1", "relevance": 1, "iteration": "0"},
    {"query_id": "q2", "doc_id": "10.1000/x y", "relevance": 1, "iteration": "0"},
    {"query_id": "q3", "doc_id": "d5", "relevance": 0, "iteration": "0"},
]
BEIR_QRELS_DICT = {"q1": {"d1": 2, "d2": 1, "q1": 1}, "q2": {"10.1000/x y": 1}, "q3": {"d5": 0}}

# LoTTE: qids and pids are small integers that collide; a gold pid may equal its own qid
LOTTE_DOCS = [
    {"doc_id": "0", "text": "cast iron skillet rust: dry it on the stove"},
    {"doc_id": "1", "text": "sourdough starter\tsurvives two weeks\nin the fridge"},
    {"doc_id": "2", "text": "season cast iron with flaxseed oil — très bien 🍳"},
    {"doc_id": "3", "text": "yellow leaves mean overwatering"},
    {"doc_id": "4", "text": "whetstone at fifteen degrees"},
    {"doc_id": "5", "text": "baking soda and vinegar for drains"},
]
LOTTE_SEARCH = {
    "queries": [
        {"query_id": "0", "text": "stop cast iron rust"},
        {"query_id": "1", "text": "keep sourdough\tstarter alive\nwhile travelling"},
        {"query_id": "2", "text": "sharpen a knife"},
        {"query_id": "3", "text": "a question nobody answered"},
    ],
    "qrels": [
        {"query_id": "0", "doc_id": "2", "relevance": 1, "iteration": "0"},
        {"query_id": "0", "doc_id": "0", "relevance": 1, "iteration": "0"},
        {"query_id": "1", "doc_id": "1", "relevance": 1, "iteration": "0"},  # gold pid == qid
        {"query_id": "2", "doc_id": "4", "relevance": 1, "iteration": "0"},  # pid 2 exists and is not gold
    ],
}
LOTTE_FORUM = {
    "queries": [
        {"query_id": "0", "text": "my houseplant leaves turn yellow, why?"},
        {"query_id": "1", "text": "clogged kitchen drain without chemicals"},
    ],
    "qrels": [
        {"query_id": "0", "doc_id": "3", "relevance": 1, "iteration": "0"},
        {"query_id": "1", "doc_id": "5", "relevance": 1, "iteration": "0"},
    ],
}

BEIR_IDS = ["beir/scifact/test", "beir/trec-covid", "beir/cqadupstack/android", "beir/fiqa/test", "beir/nfcorpus/test"]
DATA = {
    **{i: {"docs": BEIR_DOCS, "queries": BEIR_QUERIES, "qrels": BEIR_QRELS} for i in BEIR_IDS},
    "lotte/writing/test/search": {"docs": LOTTE_DOCS, **LOTTE_SEARCH},
    "lotte/writing/test/forum": {"docs": LOTTE_DOCS, **LOTTE_FORUM},
}


@pytest.fixture
def source(monkeypatch) -> Source:
    """ir_datasets.load replaced by the stand-in; online (conftest makes the tests offline)."""
    src = Source(DATA)
    monkeypatch.setattr(ir_datasets, "load", src.load)
    monkeypatch.delenv("HARNESS_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return src


@pytest.fixture
def data_root() -> Path:
    return Path(os.environ["HARNESS_CACHE"]) / "data"  # conftest gives every test its own HARNESS_CACHE


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


# ----------------------------------------------------------------------------------------------- BEIR
def test_registry_ids_are_ir_datasets_ids():
    """Every id the suites would request (CQADupStack once per forum) is registered in the installed ir_datasets."""
    for suite in ("beir", "lotte"):
        for info in get_suite(suite).datasets:
            for key in info.part_names:
                part = key.split("/", 1)[1] if "/" in key else ""
                ds_id = info.ir_datasets.format(part=part)
                assert "{" not in ds_id and REAL_LOAD(ds_id).has_docs(), (key, ds_id)


def test_beir_export_round_trips_and_second_load_uses_cache(source, data_root):
    info = get_suite("beir").get("scifact")
    ds = load_dataset(info)
    assert source.calls == ["beir/scifact/test"]
    folder = data_root / "scifact"
    assert ds.path == folder
    assert files_under(folder) == ["corpus.jsonl", "qrels/test.tsv", "queries.jsonl"]  # and no temporary file
    # ids, titles and texts exactly as ir_datasets gave them: tabs, newlines, quotes, unicode, \r, \u2028
    assert ds.corpus.ids == [d["doc_id"] for d in BEIR_DOCS]
    assert ds.corpus.titles == [d["title"] for d in BEIR_DOCS]
    assert ds.corpus.texts == [d["text"] for d in BEIR_DOCS]
    # judged queries only, graded qrels kept (2, 1 and 0); the document whose id is "q1" is kept
    assert ds.queries == {q["query_id"]: q["text"] for q in BEIR_QUERIES[:3]}
    assert ds.qrels == BEIR_QRELS_DICT
    # the files are BEIR's layout, readable by anything that reads BEIR
    lines = (folder / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "query-id\tcorpus-id\tscore" and "q1\td1\t2" in lines and len(lines) == 1 + len(BEIR_QRELS)
    first = json.loads((folder / "corpus.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert first == {"_id": "d1", "title": BEIR_DOCS[0]["title"], "text": BEIR_DOCS[0]["text"]}
    assert len((folder / "queries.jsonl").read_text(encoding="utf-8").splitlines()) == len(BEIR_QUERIES)

    again = load_dataset(info)
    assert source.calls == ["beir/scifact/test"]  # the cache answered; ir_datasets was not asked again
    assert again.fingerprint == ds.fingerprint and again.qrels == ds.qrels


@pytest.mark.parametrize("name,key,ds_id", [
    ("trec-covid", None, "beir/trec-covid"),                             # BeirCordDoc, BeirCovidQuery
    ("cqadupstack", "cqadupstack/android", "beir/cqadupstack/android"),  # BeirCqaDoc, BeirCqaQuery
    ("fiqa", None, "beir/fiqa/test"),                                    # GenericDoc: no title field
    ("nfcorpus", None, "beir/nfcorpus/test"),                            # BeirTitleUrlDoc, BeirUrlQuery
])
def test_beir_requests_the_right_id_and_exports_under_the_key(source, data_root, name, key, ds_id):
    info = get_suite("beir").get(name)
    ds = load_dataset(info, key)
    assert source.calls == [ds_id]
    assert ds.key == (key or name) and ds.path == data_root / (key or name)
    has_title = "title" in REAL_LOAD(ds_id).docs_cls()._fields
    assert ds.corpus.titles == [d["title"] if has_title else "" for d in BEIR_DOCS]
    assert ds.corpus.texts == [d["text"] for d in BEIR_DOCS] and ds.qrels == BEIR_QRELS_DICT


def test_cqadupstack_forums_are_separate_downloads(source, data_root, monkeypatch):
    monkeypatch.setitem(DATA, "beir/cqadupstack/gaming", DATA["beir/scifact/test"])
    info = get_suite("beir").get("cqadupstack")
    for key in ("cqadupstack/android", "cqadupstack/gaming", "cqadupstack/android"):
        load_dataset(info, key)
    assert source.calls == ["beir/cqadupstack/android", "beir/cqadupstack/gaming"]
    assert (data_root / "cqadupstack" / "android" / "corpus.jsonl").is_file()
    assert (data_root / "cqadupstack" / "gaming" / "corpus.jsonl").is_file()


# ---------------------------------------------------------------------------------------------- LoTTE
def test_lotte_search_and_forum_share_one_collection_written_once(source, data_root):
    lotte = get_suite("lotte")
    search = load_dataset(lotte.get("writing.search"))
    assert source.calls == ["lotte/writing/test/search"]
    folder = data_root / "lotte" / "writing" / "test"
    assert search.path == folder
    assert files_under(folder) == ["collection.tsv", "qas.search.jsonl", "questions.search.tsv"]
    # pids and passages; a tab or newline inside a passage becomes a space (TSV), unicode is kept
    assert search.corpus.ids == [d["doc_id"] for d in LOTTE_DOCS]
    assert search.corpus.texts == [d["text"].replace("\t", " ").replace("\n", " ") for d in LOTTE_DOCS]
    assert search.queries == {q["query_id"]: q["text"].replace("\t", " ").replace("\n", " ")
                              for q in LOTTE_SEARCH["queries"]}
    # colliding ids survive: query 1's gold is pid 1; query 2's gold is pid 4 though a pid 2 exists;
    # the unanswered question 3 stays, with no answers, as in the official tarball
    assert search.qrels == {"0": {"2": 1, "0": 1}, "1": {"1": 1}, "2": {"4": 1}, "3": {}}
    qas = [json.loads(line) for line in (folder / "qas.search.jsonl").read_text(encoding="utf-8").splitlines()]
    assert qas == [{"qid": 0, "answer_pids": [2, 0]}, {"qid": 1, "answer_pids": [1]},
                   {"qid": 2, "answer_pids": [4]}, {"qid": 3, "answer_pids": []}]  # integers, as the tarball has them
    collection = folder / "collection.tsv"
    stamp = (collection.stat().st_ino, collection.stat().st_mtime_ns, collection.read_bytes())

    forum = load_dataset(lotte.get("writing.forum"))
    assert source.calls == ["lotte/writing/test/search", "lotte/writing/test/forum"]
    assert [w for w in source.iterated if w[1] == "docs"] == [("lotte/writing/test/search", "docs")]  # written once
    assert (collection.stat().st_ino, collection.stat().st_mtime_ns, collection.read_bytes()) == stamp
    assert files_under(folder) == ["collection.tsv", "qas.forum.jsonl", "qas.search.jsonl",
                                   "questions.forum.tsv", "questions.search.tsv"]
    assert forum.corpus_fingerprint == search.corpus_fingerprint and forum.corpus.ids == search.corpus.ids
    assert forum.queries == {q["query_id"]: q["text"] for q in LOTTE_FORUM["queries"]}
    assert forum.qrels == {"0": {"3": 1}, "1": {"5": 1}}

    # both come from the cache now
    assert load_dataset(lotte.get("writing.search")).qrels == search.qrels
    assert load_dataset(lotte.get("writing.forum")).fingerprint == forum.fingerprint
    assert len(source.calls) == 2


# --------------------------------------------------------------------------------------------- failures
@pytest.mark.parametrize("fail_at", ["load", "docs", "queries", "qrels"])
def test_failed_beir_download_names_the_folder_and_leaves_nothing(source, data_root, fail_at):
    source.fail_at = fail_at
    with pytest.raises(HarnessError) as err:
        load_dataset(get_suite("beir").get("scifact"))
    msg = str(err.value)
    assert "download of 'beir/scifact/test' through ir_datasets failed (ConnectionError" in msg
    assert f"put its folder (corpus.jsonl, queries.jsonl, qrels/test.tsv) at {data_root / 'scifact'}" in msg
    assert files_under(data_root) == [] and not (data_root / "scifact").exists()
    # once the network is back the same call downloads (a half-written folder would have been taken for the dataset)
    source.fail_at = None
    assert load_dataset(get_suite("beir").get("scifact")).qrels == BEIR_QRELS_DICT
    assert source.calls == ["beir/scifact/test"] * 2


@pytest.mark.parametrize("fail_at", ["load", "docs", "queries", "qrels"])
def test_failed_lotte_download_leaves_nothing_and_keeps_the_other_query_set(source, data_root, fail_at):
    lotte = get_suite("lotte")
    folder = data_root / "lotte" / "writing" / "test"
    source.fail_at = fail_at
    with pytest.raises(HarnessError) as err:
        load_dataset(lotte.get("writing.search"))
    assert "download of 'lotte/writing/test/search' through ir_datasets failed (ConnectionError" in str(err.value)
    assert f"qas.{{search,forum}}.jsonl) at {folder}" in str(err.value)
    assert files_under(data_root) == []

    source.fail_at = None
    load_dataset(lotte.get("writing.search"))
    before = {f: (folder / f).read_bytes() for f in files_under(folder)}
    source.fail_at = fail_at if fail_at != "docs" else "load"  # the collection is there: forum never reads docs
    with pytest.raises(HarnessError, match="lotte/writing/test/forum"):
        load_dataset(lotte.get("writing.forum"))
    assert {f: (folder / f).read_bytes() for f in files_under(folder)} == before  # search's files untouched
    calls = len(source.calls)
    assert load_dataset(lotte.get("writing.search")).qrels["1"] == {"1": 1} and len(source.calls) == calls


# ---------------------------------------------------------------------------------------------- offline
@pytest.mark.parametrize("env", [
    {"HARNESS_OFFLINE": "1"},
    {"HF_HUB_OFFLINE": "1"},
    {"HARNESS_OFFLINE": "1", "HF_HUB_OFFLINE": "0"},
    {"HARNESS_OFFLINE": "yes"},
])
def test_offline_never_calls_ir_datasets(source, data_root, monkeypatch, env):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    for info, key, folder in [(get_suite("beir").get("scifact"), None, data_root / "scifact"),
                              (get_suite("beir").get("cqadupstack"), "cqadupstack/android", data_root / "cqadupstack" / "android"),
                              (get_suite("lotte").get("writing.forum"), None, data_root / "lotte" / "writing" / "test")]:
        with pytest.raises(HarnessError) as err:
            load_dataset(info, key)
        assert "offline (HARNESS_OFFLINE or HF_HUB_OFFLINE is set), so no download was tried" in str(err.value)
        assert str(folder) in str(err.value)
    assert source.calls == [] and files_under(data_root) == []


def test_harness_offline_0_overrides_hf_hub_offline(source, monkeypatch):
    """HF_HUB_OFFLINE=1 (set for the models) with HARNESS_OFFLINE=0 still downloads datasets."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HARNESS_OFFLINE", "0")
    assert load_dataset(get_suite("beir").get("scifact")).qrels == BEIR_QRELS_DICT
    assert source.calls == ["beir/scifact/test"]


def test_no_download_and_custom_datasets_never_call_ir_datasets(source, data_root):
    with pytest.raises(HarnessError, match=r"downloads are disabled; put its folder .* at " + str(data_root / "scifact")):
        load_dataset(get_suite("beir").get("scifact"), allow_download=False)
    with pytest.raises(HarnessError, match=r"it is a custom dataset, so there is nothing to download"):
        load_dataset(custom_dataset("my-set"))
    assert source.calls == []


# -------------------------------------------------------------------------------------------- real CLI
def cli(tmp_path: Path, *args: str, **env_over: str) -> subprocess.CompletedProcess:
    """``python -m harness.cli`` with the stand-in installed by a sitecustomize shim, online unless told."""
    shim = tmp_path / "shim"
    shim.mkdir(exist_ok=True)
    (shim / "sitecustomize.py").write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(TESTS)!r})\n"
        "import test_download_export\n"
        "test_download_export.install_from_env()\n", encoding="utf-8")
    spec = tmp_path / "standin.json"
    spec.write_text(json.dumps(DATA), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("HARNESS_OFFLINE", "HF_HUB_OFFLINE")}
    env.update(PYTHONPATH=os.pathsep.join(filter(None, [str(shim), env.get("PYTHONPATH")])),
               HARNESS_CACHE=str(tmp_path / "cache"), IRDS_STANDIN=str(spec),
               IRDS_STANDIN_LOG=str(tmp_path / "calls.log"), **env_over)
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True, env=env)


def calls_logged(tmp_path: Path) -> list[str]:
    log = tmp_path / "calls.log"
    return log.read_text(encoding="utf-8").split() if log.exists() else []


def test_cli_run_downloads_once_then_uses_the_cache_and_offline_names_the_folder(tmp_path):
    out = tmp_path / "runs"
    r = cli(tmp_path, "run", "--system", "bm25", "--datasets", "scifact", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert calls_logged(tmp_path) == ["beir/scifact/test"]
    data = tmp_path / "cache" / "data" / "scifact"
    assert files_under(data) == ["corpus.jsonl", "qrels/test.tsv", "queries.jsonl"]
    run_lines = (out / "beir" / "scifact" / "bm25.trec").read_text(encoding="utf-8").splitlines()
    assert {line.split()[0] for line in run_lines} == set(BEIR_QRELS_DICT)

    r = cli(tmp_path, "run", "--system", "bm25", "--datasets", "scifact", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert calls_logged(tmp_path) == ["beir/scifact/test"]  # from the cache

    r = cli(tmp_path, "run", "--system", "bm25", "--datasets", "nfcorpus", "--out", str(out), HARNESS_OFFLINE="1")
    assert r.returncode == 2
    assert "dataset 'nfcorpus' not found; offline" in r.stderr
    assert str(tmp_path / "cache" / "data" / "nfcorpus") in r.stderr
    assert calls_logged(tmp_path) == ["beir/scifact/test"]  # the shim was there, and was never called


# ------------------------------------------------------------------------------ ir_datasets' own cache, locks
def _entries(root: Path) -> set[str]:
    """Every file and folder under ``root``, except the lock the harness keeps there."""
    return {str(p.relative_to(root)) for p in root.rglob("*") if not p.name.startswith(".lock")}


def test_failed_download_leaves_the_ir_datasets_cache_as_it_was(source, monkeypatch):
    """The network dies while ir_datasets builds its docstore: the empty ``docs.pklz4/bin`` and the partial file it
    leaves would be taken for a built store later; what was there before stays."""
    from ir_datasets.util import home_path

    home = home_path()  # conftest points IR_DATASETS_HOME at a fresh folder
    keep = home / "beir" / "nfcorpus" / "docs.pklz4" / "bin" / "keep"
    keep.parent.mkdir(parents=True)
    keep.write_text("built earlier", encoding="utf-8")
    before = _entries(home)

    def dies_half_way(ds_id: str):
        (home / "beir" / "scifact" / "docs.pklz4" / "bin").mkdir(parents=True)
        (home / "beir" / "scifact" / "scifact.zip.tmp0").write_bytes(b"PK partial")
        raise ConnectionError("connection reset by peer")

    monkeypatch.setattr(ir_datasets, "load", dies_half_way)
    with pytest.raises(HarnessError, match=r"download of 'beir/scifact/test' through ir_datasets failed"):
        load_dataset(get_suite("beir").get("scifact"))
    assert _entries(home) == before and keep.read_text(encoding="utf-8") == "built earlier"


def test_ir_datasets_cache_is_locked_during_a_download(source, monkeypatch):
    """Two downloads never write ~/.ir_datasets at once: a second one waits (here: told not to wait, it stops and
    names the holder) and ir_datasets is not asked."""
    from ir_datasets.util import home_path

    from harness.locks import hold

    monkeypatch.setenv("HARNESS_LOCK_WAIT", "0")
    with hold(home_path(), "another download", inside=True):
        with pytest.raises(HarnessError, match=r"the ir_datasets cache .* is in use by .* pid"):
            load_dataset(get_suite("beir").get("scifact"))
    assert source.calls == []
    assert load_dataset(get_suite("beir").get("scifact")).qrels == BEIR_QRELS_DICT  # once it is free


@pytest.mark.parametrize("online", [True, False])
def test_misspelt_dataset_leaves_no_lock_file(source, monkeypatch, tmp_path, online):
    from conftest import run_cli

    if not online:
        monkeypatch.setenv("HARNESS_OFFLINE", "1")
    r = run_cli("run", "--system", "bm25", "--datasets", "scifcat", "--data-dir", str(tmp_path), "--out", str(tmp_path / "r"))
    assert r.returncode == 2 and "dataset 'scifcat' not found" in r.stderr
    assert ("nothing to download" if online else "offline") in r.stderr
    cache = Path(os.environ["HARNESS_CACHE"])
    assert [str(p) for p in cache.rglob("*") if "scifcat" in p.name] == [] and source.calls == []
