"""Fuzzing every reader with hypothesis: run files, qrels, queries, corpus, LoTTE collection / questions / qas,
published-results JSON, ``--set`` values and Slurm TOML profiles.

The property, for every generated input: it either parses to what an independent reader gets, or it stops with a
DataError/HarnessError whose message names the file and, for line-based formats, the line; through ``main()`` that is
one line on stderr, exit status 2, and nothing written (no run file, no per-query JSON, no table, no job folder).

The independent readers here are written from the formats' descriptions (BEIR's, LoTTE's, TREC's, TOML through
``tomllib``), in plain Python: they share no code with the harness. The examples are derandomized with a fixed
budget per reader (tests/conftest.py's hypothesis profile), so the suite takes the same few seconds on every run.
"""

from __future__ import annotations

import copy
import json
import math
import re
import types
import typing
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import REPO, run_cli
from fixtures import write_beir, write_lotte
from harness.errors import DataError, HarnessError, SettingsError

DECIMAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(inf|infinity|nan)", re.IGNORECASE | re.ASCII)
EMPTY = 0  # an independent reader's verdict: an int is the line at fault (0: the file as a whole), else the parse


# ------------------------------------------------------------------------------------------------ set-up
DOCS = [{"_id": f"d{i}", "title": "", "text": t} for i, t in enumerate(
    ["alpha beta", "beta gamma", "gamma delta", "delta alpha"])]
QUERIES = [{"_id": "q1", "text": "alpha"}, {"_id": "q2", "text": "gamma"}]
QRELS = [("q1", "d0", 1), ("q2", "d2", 1)]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A valid BEIR and LoTTE dataset and a valid run file; each test swaps one file for the fuzzed one."""
    root = tmp_path_factory.mktemp("fuzz")
    beir = write_beir(root / "data" / "tiny", DOCS, QUERIES, QRELS)
    lotte = write_lotte(root / "data")
    run = root / "valid.trec"
    run.write_text("q1 Q0 d0 1 2.0 t\nq2 Q0 d2 1 1.0 t\n", encoding="utf-8")
    return {"root": root, "data": root / "data", "beir": beir, "lotte": lotte, "run": run}


class swapped:
    """Replace one dataset file by fuzzed bytes for the block, then put the original back."""

    def __init__(self, path: Path, data: bytes):
        self.path, self.data = path, data

    def __enter__(self) -> Path:
        self.original = self.path.read_bytes()
        self.path.write_bytes(self.data)
        return self.path

    def __exit__(self, *exc) -> None:
        self.path.write_bytes(self.original)


def message_of(call, *args):
    """The DataError/HarnessError ``call(*args)`` raises (any other exception fails the test)."""
    with pytest.raises((DataError, HarnessError)) as err:
        call(*args)
    return str(err.value)


def names(path: Path, line: int | None) -> str:
    """What an error message must start with: ``<file>:<line>:`` (or the file alone)."""
    return f"{path}:{line}:" if line else f"{path}"


def assert_stops(argv: list[str], where: str, unwritten: list[Path]) -> None:
    """Through ``main()``: one line naming ``where``, exit status 2, nothing on stdout, none of ``unwritten``."""
    r = run_cli(*argv)
    assert r.returncode == 2, (argv, r.returncode, r.stderr[-2000:])
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and where in lines[0], r.stderr
    assert r.stdout == ""
    for p in unwritten:
        assert not p.exists(), p


def lines_of(data: bytes):
    """(line number, text or None where the line is not UTF-8) of a text file, lines ending at \\n."""
    for no, raw in enumerate(data.split(b"\n"), start=1):
        try:
            yield no, raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            yield no, None


# ------------------------------------------------------------------------------------------- strategies
ODD_SPACE = ["\t", "  ", "\x0c", "\x1c", "\xa0", "\u2028", "\x85", "\r"]
ODD_BYTES = [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00", b"\xef\xbb\xbf"]  # bad UTF-8, NUL, a BOM
NUMBERS = ["1", "2.5", "-0.5", ".5", "5.", "1e3", "1E-3", "+2", "0", "-0", "007", "1_0", "nan", "inf", "-Infinity",
           "0x1p3", "\u0661", "1e999", "", "abc", "1.5.5", "3.4028236e38", "1e-50", "2.0000000000000001"]
tokens = st.one_of(st.sampled_from(["q1", "q2", "q3", "d0", "d1", "d2", "D1", "d10", "é", "日本", "Q0", "t", " q1 "]),
                   st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=4))
numbers = st.one_of(st.sampled_from(NUMBERS), st.floats().map(repr), st.integers(-3, 10**20).map(str))


@st.composite
def text_file(draw, line, max_lines: int = 10) -> bytes:
    """Lines drawn from ``line`` (str), mixed with blank lines and raw bytes; CRLF, LF or no final newline."""
    parts = []
    for _ in range(draw(st.integers(0, max_lines))):
        kind = draw(st.sampled_from(["line"] * 6 + ["blank", "bytes"]))
        if kind == "line":
            parts.append(draw(line).encode("utf-8", "surrogatepass"))
        elif kind == "blank":
            parts.append(draw(st.sampled_from([b"", b" ", b"\t", b"\r"])))
        else:
            parts.append(draw(st.sampled_from(ODD_BYTES)) + draw(line).encode("utf-8", "surrogatepass"))
        parts.append(draw(st.sampled_from([b"\n", b"\n", b"\n", b"\r\n"])))
    data = b"".join(parts)
    return data[:-1] if data.endswith(b"\n") and draw(st.booleans()) else data


@st.composite
def columns_line(draw, fields, seps=(" ",)) -> str:
    """Columns drawn from ``fields`` (one strategy each), sometimes one too few or too many, joined by a separator
    that is mostly the format's own."""
    cols = [draw(f) for f in fields]
    if draw(st.integers(0, 9)) == 0:
        cols = cols[:-1] if draw(st.booleans()) else cols + [draw(tokens)]
    sep = draw(st.sampled_from(list(seps) * 6 + ODD_SPACE))
    return sep.join(cols)


json_values = st.recursive(st.none() | st.booleans() | st.integers(-10, 10**20) | st.floats() | st.text(max_size=4),
                           lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c, max_size=3),
                           max_leaves=4)
ids = st.one_of(st.sampled_from(["q1", "q2", "d0", "d1", "1", "2", "", " ", "a\nb", "x\ud800"]),
                st.integers(-2, 3), st.floats(allow_nan=True), st.booleans(), st.none(), json_values)


@st.composite
def json_line(draw, fields: dict) -> str:
    """A JSON object with some of ``fields`` (key -> value strategy), then sometimes broken: cut short, a lone
    surrogate escape, not an object."""
    obj = {k: draw(v) for k, v in fields.items() if draw(st.integers(0, 5))}
    if draw(st.integers(0, 7)) == 0:
        obj[draw(st.text(max_size=3))] = draw(json_values)
    text = json.dumps(obj, ensure_ascii=draw(st.booleans()))
    how = draw(st.sampled_from(["ok"] * 8 + ["cut", "surrogate", "list", "garbage"]))
    if how == "cut":
        text = text[: draw(st.integers(0, max(0, len(text) - 1)))]
    elif how == "surrogate":
        text = text.replace('"', '"\\ud83d', 1) if '"' in text else text
    elif how == "list":
        text = f"[{text}]"
    elif how == "garbage":
        text += draw(st.sampled_from(["x", "}", " ,"]))
    return text


# -------------------------------------------------------------------------------------- independent readers
def ref_run(data: bytes):
    """A TREC run: ``qid Q0 docid rank score tag`` per line, whitespace-separated, scores decimal numbers that are
    finite, each document once per query, at least one line."""
    run: dict = {}
    for no, line in lines_of(data):
        if line is None:
            return no
        cols = line.split()
        if not cols:
            continue
        if len(cols) != 6 or not DECIMAL.fullmatch(cols[4]) or cols[2] in run.get(cols[0], {}):
            return no
        if not math.isfinite(float(cols[4])):
            return no
        run.setdefault(cols[0], {})[cols[2]] = float(cols[4])
    return run or EMPTY


def ref_beir_qrels(data: bytes):
    """BEIR ``qrels/<split>.tsv``: an optional ``query-id`` header, then query-id TAB corpus-id TAB score (a finite
    decimal number; its integer part is the grade), ids non-empty, each pair once."""
    qrels: dict = {}
    for no, line in lines_of(data):
        if line is None:
            return no
        if not line.strip():
            continue
        cols = line.split("\t")
        if no == 1 and cols[0].strip().lower() in ("query-id", "query_id", "qid"):
            continue
        if len(cols) != 3:
            return no
        q, d, s = (c.strip() for c in cols)
        if not q or not d or not DECIMAL.fullmatch(s) or not math.isfinite(float(s)) or d in qrels.get(q, {}):
            return no
        qrels.setdefault(q, {})[d] = int(float(s))
    return qrels


def _json_objects(data: bytes):
    """(line number, object, or None where the line is not a JSON object of characters) of each non-blank line."""
    for no, line in lines_of(data):
        if line is not None and not line.strip():
            continue
        try:
            obj = json.loads(line) if line is not None else None
            json.dumps(obj, ensure_ascii=False).encode("utf-8")  # a lone surrogate is no character
        except (ValueError, RecursionError, UnicodeEncodeError):
            obj = None
        yield no, obj if isinstance(obj, dict) else None


def _text(obj: dict, key: str, required: bool):
    """A text field: a string, or a number written as text; absent or null: '' unless required (then None)."""
    v = obj.get(key)
    if v is None:
        return None if required else ""
    if isinstance(v, bool) or not isinstance(v, (str, int, float)):
        return None
    return v if isinstance(v, str) else str(v)


def ref_beir_jsonl(data: bytes, kind: str):
    """BEIR ``corpus.jsonl`` (``_id``, optional ``title`` and ``text``) or ``queries.jsonl`` (``_id``, ``text``): one
    object per line, ids non-blank and unique; a corpus has at least one document."""
    out: dict = {}
    for no, obj in _json_objects(data):
        if obj is None:
            return no
        doc_id = _text(obj, "_id", True)
        if doc_id is None or not doc_id.strip():
            return no
        if kind == "corpus":
            title, text = _text(obj, "title", False), _text(obj, "text", False)
            if title is None or text is None or doc_id in out:
                return no
            out[doc_id] = (title, text)
        else:
            text = _text(obj, "text", True)
            if text is None or doc_id in out:
                return no
            out[doc_id] = text
    return out if out or kind == "queries" else EMPTY


def ref_lotte_tsv(data: bytes, kind: str):
    """LoTTE ``collection.tsv`` (pid TAB passage) or ``questions.*.tsv`` (qid TAB non-blank question): ids stripped,
    non-blank and unique; the passage is the rest of the line as it is; a collection has at least one passage."""
    out: dict = {}
    for no, line in lines_of(data):
        if line is None:
            return no
        if not line:
            continue
        cols = line.split("\t", 1)
        if len(cols) != 2 or kind == "questions" and not cols[1].strip():
            return no
        key = cols[0].strip()
        if not key or key in out:
            return no
        out[key] = cols[1]
    return out if out or kind == "questions" else EMPTY


def ref_lotte_qas(data: bytes):
    """LoTTE ``qas.*.jsonl``: ``{"qid": id, "answer_pids": [ids]}`` per line, an id a non-blank string or an integer
    (answer ids may not be a float), each qid once."""
    qrels: dict = {}
    for no, obj in _json_objects(data):
        if obj is None:
            return no
        qid, pids = _text(obj, "qid", True), obj.get("answer_pids")
        if qid is None or not qid.strip() or qid in qrels or not isinstance(pids, list):
            return no
        if not all(type(p) is int or isinstance(p, str) and p.strip() for p in pids):
            return no
        qrels[qid] = {str(p): 1 for p in pids}
    return qrels


# --------------------------------------------------------------------------------------------- run files
@settings(max_examples=150)
@given(text_file(columns_line([tokens, st.just("Q0"), tokens, st.integers(1, 9).map(str), numbers, st.just("t")])))
def test_run_files(world, data):
    from harness.evaluate import MRR10, NDCG10, RECALL100, QrelsFile, evaluate_file, evaluate_run, read_run_lenient

    path = world["root"] / "run.trec"
    path.write_bytes(data)
    expected = ref_run(data)
    if isinstance(expected, dict):
        assert read_run_lenient(path) == expected  # the fast reader, else the line reader
        qrels = {q: {d: 1 + i % 2 for i, d in enumerate(docs) if i % 3 != 1} for q, docs in expected.items()}
        qrels["unretrieved"] = {"x": 1}
        got = evaluate_file(path, QrelsFile(qrels, "fuzz", path), (NDCG10, MRR10, RECALL100), use_cache=False)
        want = evaluate_run(expected, qrels, (NDCG10, MRR10, RECALL100))  # the column reader agrees
        assert got.qids == want.qids and all((got.array(m) == want.array(m)).all() for m in (NDCG10, MRR10, RECALL100))
        return
    where = names(path, expected) + ("" if expected else ": no results")
    assert message_of(read_run_lenient, path).startswith(where)
    per_query = world["root"] / "per-query.json"
    per_query.unlink(missing_ok=True)  # each example starts without it: only this call's writing counts
    assert_stops(["evaluate", str(path), "-d", "tiny", "--data-dir", str(world["data"]), "--per-query", str(per_query)],
                 where, [per_query])


# ------------------------------------------------------------------------------------------ dataset files
def check_dataset_file(world, path: Path, data: bytes, expected, parsed, dataset: str) -> None:
    """``path`` holding ``data``: ``parsed(path)`` equals the independent reader's ``expected``, or the harness's
    reader stops naming the file and line, and so does ``harness run`` on the dataset, writing nothing."""
    with swapped(path, data):
        if isinstance(expected, dict):
            assert parsed(path) == expected
            return
        assert message_of(parsed, path).startswith(names(path, expected))
        out = world["root"] / "runs"
        assert_stops(["run", "--system", "bm25", "--datasets", dataset, "--data-dir", str(world["data"]),
                      "--out", str(out)], names(path, expected), [out])


@settings(max_examples=80)
@given(text_file(columns_line([tokens, tokens, numbers], seps=("\t",))).map(
    lambda b: (b"query-id\tcorpus-id\tscore\n" + b) if b[:1] == b"q" else b))
def test_beir_qrels(world, data):
    from harness.datasets import read_beir_qrels

    check_dataset_file(world, world["beir"] / "qrels" / "test.tsv", data, ref_beir_qrels(data),
                       lambda p: read_beir_qrels(p)[0], "tiny")


@settings(max_examples=60)
@given(text_file(json_line({"_id": ids, "text": ids, "title": ids})))
def test_beir_queries(world, data):
    from harness.datasets import read_beir_queries

    check_dataset_file(world, world["beir"] / "queries.jsonl", data, ref_beir_jsonl(data, "queries"),
                       lambda p: read_beir_queries(p)[0], "tiny")


def _corpus_as_dict(corpus, with_titles: bool) -> dict:
    assert len(set(corpus.ids)) == len(corpus)
    return dict(zip(corpus.ids, zip(corpus.titles, corpus.texts) if with_titles else corpus.texts))


@settings(max_examples=60)
@given(text_file(json_line({"_id": ids, "text": ids, "title": ids})))
def test_beir_corpus(world, data):
    from harness.datasets import read_beir_corpus

    check_dataset_file(world, world["beir"] / "corpus.jsonl", data, ref_beir_jsonl(data, "corpus"),
                       lambda p: _corpus_as_dict(read_beir_corpus(p)[0], True), "tiny")


@settings(max_examples=40)
@given(text_file(columns_line([tokens, tokens], seps=("\t",))))
def test_lotte_collection(world, data):
    from harness.datasets import read_lotte_collection

    check_dataset_file(world, world["lotte"] / "collection.tsv", data, ref_lotte_tsv(data, "collection"),
                       lambda p: _corpus_as_dict(read_lotte_collection(p)[0], False), "lifestyle.search")


@settings(max_examples=40)
@given(text_file(columns_line([tokens, tokens], seps=("\t",))))
def test_lotte_questions(world, data):
    from harness.datasets import read_lotte_questions

    check_dataset_file(world, world["lotte"] / "questions.search.tsv", data, ref_lotte_tsv(data, "questions"),
                       lambda p: read_lotte_questions(p)[0], "lifestyle.search")


pids = st.lists(st.one_of(st.integers(-1, 12), st.sampled_from(["1", "2", "", " ", "x"]), st.floats(0, 3),
                          st.booleans(), st.none()), max_size=3)


@settings(max_examples=40)
@given(text_file(json_line({"qid": ids, "answer_pids": st.one_of(pids, json_values)})))
def test_lotte_qas(world, data):
    from harness.datasets import read_lotte_qas

    check_dataset_file(world, world["lotte"] / "qas.search.jsonl", data, ref_lotte_qas(data),
                       lambda p: read_lotte_qas(p)[0], "lifestyle.search")


# ------------------------------------------------------------------------------------- published results
PUBLISHED = json.loads((REPO / "leaderboards" / "published" / "rgpl2025.json").read_text(encoding="utf-8"))


def _slots(node, out: list) -> list:
    """Every (container, key) of a JSON tree."""
    for key in (list(node) if isinstance(node, dict) else range(len(node)) if isinstance(node, list) else []):
        out.append((node, key))
        _slots(node[key], out)
    return out


@st.composite
def published_files(draw) -> bytes:
    """The shipped rgpl2025.json with a few values, anywhere in its tree, replaced by other JSON, removed, or given a
    sibling; sometimes cut short."""
    doc = copy.deepcopy(PUBLISHED)
    for _ in range(draw(st.integers(1, 3))):
        slots = _slots(doc, [])
        if not slots:
            break
        parent, key = slots[draw(st.integers(0, len(slots) - 1))]
        action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if action == "delete":
            del parent[key]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["extra", "values", "group", "average", "dataset", "averages", "display"]))] = \
                draw(json_values)
        else:
            parent[key] = draw(st.one_of(json_values, st.sampled_from(["scifact", "bm25", "rgpl", "+1.0", "lotte"])))
    text = json.dumps(doc, indent=1).encode("utf-8")
    if draw(st.integers(0, 9)) == 0:
        text = text[: draw(st.integers(0, len(text)))]
    return text


@settings(max_examples=60)
@given(published_files())
def test_published_results(world, data):
    from harness.published import load_published

    path = world["root"] / "published.json"
    path.write_bytes(data)
    out = world["root"] / "table.md"
    out.unlink(missing_ok=True)
    try:
        raw = json.loads(data)
    except ValueError as e:
        line = e.lineno if isinstance(e, json.JSONDecodeError) else None
        assert message_of(load_published, path).startswith(names(path, line))
        assert_stops(["table", "--published", str(path), "--format", "markdown", "--allow-missing", "--out", str(out)],
                     names(path, line), [out])
        return
    try:
        pset = load_published(path)
    except (DataError, HarnessError) as e:
        assert str(path) in str(e)
        assert_stops(["table", "--published", str(path), "--format", "markdown", "--allow-missing", "--out", str(out)],
                     str(path), [out])
        return
    # it parsed: as json itself reads it, and every table renders (or says in one line, naming the file, why not)
    assert [t.raw for t in pset.tables] == [{**t, "source": t.get("source", raw.get("source")),
                                             "citation": t.get("citation", raw.get("citation"))} for t in raw["tables"]]
    r = run_cli("table", "--published", str(path), "--format", "markdown", "--allow-missing", "--out", str(out))
    if r.returncode == 0:
        assert out.is_file() and r.stderr.count("\n") <= 1
    else:
        assert r.returncode == 2 and len(r.stderr.splitlines()) == 1 and str(path) in r.stderr and not out.exists()


# ---------------------------------------------------------------------------------------- --set values
def _settings_fields() -> list[tuple[str, str, object]]:
    from harness.systems import get_system_class

    out = []
    for system in ("bm25", "base", "gpl", "rgpl"):
        cls = get_system_class(system).Settings
        hints = typing.get_type_hints(cls)
        out += [(system, name, hints[name]) for name in sorted(hints) if not name.isupper()]
    return out


FIELDS = _settings_fields()
BOOL_WORDS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


def ref_setting(raw: str, tp):
    """What ``--set key=raw`` means for a field of type ``tp``; a ValueError if it means nothing."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        if raw.lower() in ("none", "null", ""):
            return None
        tp = next(a for a in typing.get_args(tp) if a is not type(None))
    if typing.get_origin(tp) in (list, tuple):
        inner = (typing.get_args(tp) or (str,))[0]
        items = [ref_setting(x.strip(), inner) for x in raw.split(",") if x.strip()]
        return items if typing.get_origin(tp) is list else tuple(items)
    if tp is bool:
        return BOOL_WORDS[raw.lower()] if raw.lower() in BOOL_WORDS else _fail(raw)
    if tp in (int, float):
        if not DECIMAL.fullmatch(raw) or not math.isfinite(float(raw)):
            _fail(raw)
        if tp is float:
            return float(raw)
        if re.fullmatch(r"[+-]?\d+", raw, re.ASCII):
            return int(raw)
        return int(float(raw)) if float(raw).is_integer() else _fail(raw)
    return raw


def _fail(raw):
    raise ValueError(raw)


set_values = st.one_of(st.sampled_from(["1", "0", "-1", "3e4", "2.5", "1e999", "nan", "true", "no", "none", "",
                                        "a,b", "1,2", "cpu", "cuda:0", "\u0661", "1_000", "10" * 30, "lucene"]),
                       numbers, st.text(max_size=6))


@settings(max_examples=120)
@given(st.sampled_from(FIELDS), set_values)
def test_set_values(system, data):
    from harness.systems import build_settings, get_system_class

    (name, key, tp), raw = system, data
    raw = raw.strip()  # as parse_sets reads --set key=value
    try:
        want = ref_setting(raw, tp)
    except ValueError:
        want = ValueError
    try:
        got = getattr(build_settings(get_system_class(name).Settings, {key: raw}, system=name), key)
    except SettingsError as e:
        assert want is ValueError or "setting" in str(e) or "settings" in str(e), str(e)  # a conversion or a check
        if want is ValueError:
            assert f"'{key}'" in str(e)
        ok = False
    else:
        assert want is not ValueError and got == want and type(got) is type(want), (key, raw, got, want)
        ok = True
    r = run_cli("systems", name, "--set", f"{key}={raw}")
    assert (r.returncode == 0) == ok and (ok or len(r.stderr.splitlines()) == 1 and r.stderr.startswith("error: ")), r.stderr


# ------------------------------------------------------------------------------------------- TOML profiles
SLURM_KEYS = ["partition", "time", "gpus", "cpus", "mem", "account", "extra", "setup", "array_parallelism",
              "signal_delay_s", "max_requeue"]
toml_values = st.one_of(
    st.integers(-3, 10**6).map(str), st.booleans().map(lambda b: str(b).lower()), st.floats(-10, 10).map(repr),
    st.sampled_from(['"gpu"', '"12:00:00"', '"1-02"', '"90"', '"abc"', '"--qos=high"', '"bad opt"', '"32G"', '"\u0661"',
                     '["--qos=high", "--exclusive"]', '["bad opt"]', '[1, 2]', '["source x"]', '[]', '1979-05-27',
                     '{a = 1}', '"a\\nb"', "'single'", '"""multi\nline"""']),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=5).map(lambda t: json.dumps(t)))


@st.composite
def toml_files(draw) -> bytes:
    def table(header: str) -> str:
        keys = draw(st.lists(st.sampled_from(SLURM_KEYS + ["nope"]), max_size=4, unique=True))
        return header + "\n" + "".join(f"{k} = {draw(toml_values)}\n" for k in keys)

    text = "" if draw(st.integers(0, 9)) == 0 else table("[slurm]")
    for system in draw(st.lists(st.sampled_from(["gpl", "rgpl", "bm25"]), max_size=2, unique=True)):
        text += table(f"[slurm.{system}]")
    if draw(st.integers(0, 7)) == 0:
        text += draw(st.sampled_from(["x = = 1\n", "[slurm\n", "[other]\na = 1\n", "slurm = 3\n"]))
    data = text.encode("utf-8")
    return data + draw(st.sampled_from(ODD_BYTES)) if draw(st.integers(0, 11)) == 0 else data


def ref_profile(data: bytes):
    """tomllib's reading of the file, then Slurm's: a [slurm] table of known keys (sub-tables per system, of known
    keys), strings where Slurm takes text, whole numbers >= 0 for counts, minutes or [D-]HH[:MM[:SS]] for the time,
    lists of strings for extra (each --name[=value]) and setup."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    try:
        slurm = tomllib.loads(data.decode("utf-8")).get("slurm")
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    if not isinstance(slurm, dict):
        return None

    def good(key, v):
        count = type(v) is int and v >= 0
        if key in ("partition", "mem", "account"):
            return isinstance(v, str)
        if key == "time":
            return count or isinstance(v, str) and re.fullmatch(r"(\d+-)?\d+(:\d+)?(:\d+)?", v.strip(), re.ASCII)
        if key in ("extra", "setup"):
            return isinstance(v, list) and all(isinstance(x, str) for x in v) and (
                key == "setup" or all(re.fullmatch(r"--?[A-Za-z][\w-]*([= ].*)?", x.strip(), re.ASCII | re.S) for x in v))
        return key in SLURM_KEYS and count

    for k, v in slurm.items():
        if isinstance(v, dict):
            if not all(good(k2, v2) for k2, v2 in v.items()):
                return None
        elif not good(k, v):
            return None
    return slurm


@settings(max_examples=80)
@given(toml_files())
def test_slurm_profiles(world, data):
    from harness.executor import load_profile

    path = world["root"] / "profile.toml"
    path.write_bytes(data)
    expected = ref_profile(data)
    if expected is not None:
        assert load_profile(path) == expected
        return
    msg = message_of(load_profile, path)
    assert msg.startswith(str(path))
    out = world["root"] / "grid-runs"
    assert_stops(["run", "--system", "bm25,gpl", "--datasets", "scifact", "--executor", "slurm", "--profile", str(path),
                  "--out", str(out)], str(path), [out])
