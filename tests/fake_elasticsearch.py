"""A small in-process stand-in for an Elasticsearch server, for tests only.

No Elasticsearch server can run on the project's CI machines, so tests/test_elasticsearch_standin.py drives
``harness/bm25_elasticsearch.py`` and the real official ``elasticsearch`` client over real HTTP against this
stand-in instead. It is not Elasticsearch: tests/test_elasticsearch.py is the test against a real server (it runs
when ``HARNESS_ES_URL`` is set).

It speaks only the REST calls the backend makes: ``GET /`` (info), ``HEAD|PUT|DELETE /<index>``, ``POST /_bulk``,
``POST /<index>/_refresh``, ``GET|POST /<index>/_count``, ``GET|POST /_msearch`` and ``GET /<index>/_settings``.
Every 2xx answer carries ``X-Elastic-Product: Elasticsearch`` and, like a real server, the content type matches the
client's ``compatible-with`` Accept header, which must be the server's major version or the one before (otherwise
the answer is HTTP 400 ``media_type_header_exception``, as a real 8.x server answers a 9.x client).

``_msearch`` scores ``match`` queries on ``contents`` with real Lucene BM25 (bm25s, method "lucene") using the k1/b of
the index's ``similarity.default`` settings as created. The ``english`` analyzer is approximated by lowercase word
tokens without Lucene's English stop words, Snowball-stemmed with PyStemmer; any other analyzer gets lowercase
tokens only. Every request is recorded in ``requests`` so tests can assert on what the client sent.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import Stemmer

# Lucene's EnglishAnalyzer stop set, which Elasticsearch's ``english`` analyzer uses.
_LUCENE_ENGLISH_STOP = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then there these they "
    "this to was will with".split())


_STEMMER = Stemmer.Stemmer("english")  # not thread-safe; the synchronous client sends one request at a time


def analyze(text: str, analyzer: str) -> list[str]:
    """Tokens of ``text`` under an approximation of ``analyzer`` (``english`` or anything else = standard)."""
    tokens = re.findall(r"\w+", text.lower().replace("'s", ""))
    if analyzer != "english":
        return tokens
    return _STEMMER.stemWords([t for t in tokens if t not in _LUCENE_ENGLISH_STOP])


@dataclass
class Request:
    """One HTTP request as the server received it."""

    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def ndjson(self) -> list[Any]:
        return [json.loads(line) for line in self.body.splitlines() if line.strip()]


@dataclass
class FakeIndex:
    """An index: its creation bodies and documents (``_id`` -> ``contents``, in indexing order)."""

    settings: dict
    mappings: dict
    docs: dict[str, str] = field(default_factory=dict)
    _scorer: Any = None  # (bm25s.BM25, doc ids), rebuilt after documents change

    def similarity(self) -> tuple[float, float]:
        """k1 and b of ``similarity.default`` (Elasticsearch's defaults where unset)."""
        sim = _nested(self.settings).get("index", {}).get("similarity", {}).get("default", {})
        if sim and sim.get("type") != "BM25":
            raise ValueError(f"stand-in only scores BM25, not {sim.get('type')}")
        return float(sim.get("k1", 1.2)), float(sim.get("b", 0.75))

    def analyzer(self) -> str:
        return self.mappings.get("properties", {}).get("contents", {}).get("analyzer", "standard")

    def search(self, text: str, size: int) -> list[tuple[str, float]]:
        """Top ``size`` (id, score) for a ``match`` query, score descending then indexing order, like Lucene."""
        import bm25s

        if self._scorer is None:
            k1, b = self.similarity()
            model = bm25s.BM25(method="lucene", k1=k1, b=b)
            ids = list(self.docs)
            model.index([analyze(self.docs[i], self.analyzer()) for i in ids], show_progress=False)
            self._scorer = (model, ids)
        model, ids = self._scorer
        terms = analyze(text, self.analyzer())
        if not terms or not ids:
            return []
        scores = model.get_scores(terms)
        order = sorted((i for i in range(len(ids)) if scores[i] > 0), key=lambda i: (-scores[i], i))
        return [(ids[i], float(scores[i])) for i in order[:size]]


def _nested(flat: dict) -> dict:
    """Settings with dotted keys expanded and an ``index.`` prefix implied, as Elasticsearch stores them."""
    out: dict = {}
    for key, value in flat.items():
        parts = key.split(".")
        if parts[0] != "index":
            parts = ["index", *parts]
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        if isinstance(value, dict):
            for k, v in _nested(value)["index"].items():
                node.setdefault(parts[-1], {})[k] = v
        else:
            node[parts[-1]] = value
    return out


def _stringify(d: dict) -> dict:
    """Leaf values as strings, the way ``GET /<index>/_settings`` returns them."""
    return {k: _stringify(v) if isinstance(v, dict) else str(v) for k, v in d.items()}


def _error(status: int, kind: str, reason: str, **extra: Any) -> tuple[int, dict]:
    err = {"type": kind, "reason": reason, **extra}
    return status, {"error": {"root_cause": [err], **err}, "status": status}


_SHARDS = {"total": 1, "successful": 1, "skipped": 0, "failed": 0}


class FakeElasticsearch:
    """The stand-in server; use as a context manager, or ``start()`` / ``stop()``."""

    def __init__(self, version: str = "9.1.0"):
        self.version = version
        self.indices: dict[str, FakeIndex] = {}
        self.requests: list[Request] = []
        self.fail_queries: set[str] = set()  # msearch query texts answered with an error item
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-elasticsearch", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeElasticsearch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeElasticsearch:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def calls(self, method: str, endpoint: str) -> list[Request]:
        """Recorded requests with this method whose path ends with ``endpoint`` (e.g. ``"/_bulk"``)."""
        return [r for r in self.requests if r.method == method and r.path.endswith(endpoint)]

    # -- request handling -------------------------------------------------------------------------------------

    def handle(self, req: Request) -> tuple[int, dict | None]:
        """Answer one request: (status, JSON body or None)."""
        with self._lock:
            self.requests.append(req)
            parts = [unquote(p) for p in req.path.split("/") if p]
            m = req.method
            if not parts and m in ("GET", "HEAD"):
                return 200, self._info()
            if parts and parts[-1] == "_bulk" and len(parts) <= 2 and m in ("POST", "PUT"):
                return self._bulk(req, parts[0] if len(parts) == 2 else None)
            if parts and parts[-1] == "_msearch" and len(parts) <= 2 and m in ("GET", "POST"):
                return self._msearch(req, parts[0] if len(parts) == 2 else None)
            if len(parts) == 1 and not parts[0].startswith("_"):
                return self._index_op(m, parts[0], req)
            if len(parts) == 2 and not parts[0].startswith("_"):
                name, op = parts
                if name not in self.indices:
                    return _error(404, "index_not_found_exception", f"no such index [{name}]", index=name)
                idx = self.indices[name]
                if op == "_refresh" and m in ("GET", "POST"):
                    return 200, {"_shards": _SHARDS}
                if op == "_count" and m in ("GET", "POST"):
                    return 200, {"count": len(idx.docs), "_shards": _SHARDS}
                if op == "_settings" and m == "GET":
                    return 200, {name: {"settings": self._stored_settings(name, idx)}}
            return 400, {"error": f"no handler found for uri [{req.path}] and method [{m}]"}

    def _info(self) -> dict:
        return {"name": "fake-node", "cluster_name": "fake", "cluster_uuid": "fake-uuid",
                "version": {"number": self.version, "build_flavor": "default", "lucene_version": "10.0.0"},
                "tagline": "You Know, for Search"}

    def _stored_settings(self, name: str, idx: FakeIndex) -> dict:
        nested = _nested(idx.settings)
        nested["index"] = {"number_of_shards": 1, "number_of_replicas": 1, **nested.get("index", {}),
                           "provided_name": name, "uuid": f"uuid-{name}"}
        return _stringify(nested)

    def _index_op(self, method: str, name: str, req: Request) -> tuple[int, dict | None]:
        exists = name in self.indices
        if method == "HEAD":
            return (200 if exists else 404), None
        if method == "PUT":
            if exists:
                return _error(400, "resource_already_exists_exception", f"index [{name}] already exists", index=name)
            body = req.json() if req.body else {}
            self.indices[name] = FakeIndex(settings=body.get("settings", {}), mappings=body.get("mappings", {}))
            return 200, {"acknowledged": True, "shards_acknowledged": True, "index": name}
        if method == "DELETE":
            if not exists:
                return _error(404, "index_not_found_exception", f"no such index [{name}]", index=name)
            del self.indices[name]
            return 200, {"acknowledged": True}
        return 400, {"error": f"no handler found for uri [/{name}] and method [{method}]"}

    def _bulk(self, req: Request, default_index: str | None) -> tuple[int, dict]:
        lines = req.ndjson()
        items, errors, i = [], False, 0
        while i < len(lines):
            (op, meta), = lines[i].items()
            if op not in ("index", "create"):
                return _error(400, "illegal_argument_exception", f"stand-in does not support bulk '{op}'")
            source, i = lines[i + 1], i + 2
            name = meta.get("_index", default_index)
            idx = self.indices.setdefault(name, FakeIndex(settings={}, mappings={}))  # auto-create, dynamic mapping
            doc_id = str(meta["_id"])
            if op == "create" and doc_id in idx.docs:
                errors = True
                items.append({op: {"_index": name, "_id": doc_id, "status": 409,
                                   "error": {"type": "version_conflict_engine_exception", "reason": "exists"}}})
                continue
            created = doc_id not in idx.docs
            idx.docs[doc_id] = source.get("contents", "")
            idx._scorer = None
            items.append({op: {"_index": name, "_id": doc_id, "_version": 1, "result": "created" if created else "updated",
                               "_shards": {"total": 1, "successful": 1, "failed": 0}, "_seq_no": len(idx.docs) - 1,
                               "_primary_term": 1, "status": 201 if created else 200}})
        return 200, {"took": 1, "errors": errors, "items": items}

    def _msearch(self, req: Request, default_index: str | None) -> tuple[int, dict]:
        lines = req.ndjson()
        responses = [self._one_search(header.get("index", default_index), body)
                     for header, body in zip(lines[0::2], lines[1::2])]
        return 200, {"took": 1, "responses": responses}

    def _one_search(self, name: str | list | None, body: dict) -> dict:
        name = name[0] if isinstance(name, list) else name
        if name not in self.indices:
            return _error(404, "index_not_found_exception", f"no such index [{name}]", index=name)[1]
        match = body.get("query", {}).get("match", {}).get("contents")
        text = match.get("query") if isinstance(match, dict) else match
        if not isinstance(text, str):
            return _error(400, "parsing_exception", "stand-in only supports a match query on 'contents'")[1]
        if text in self.fail_queries:
            return _error(500, "search_phase_execution_exception", "all shards failed (injected by the test)")[1]
        hits = self.indices[name].search(text, int(body.get("size", 10)))
        return {"took": 1, "timed_out": False, "_shards": _SHARDS, "status": 200,
                "hits": {"total": {"value": len(hits), "relation": "eq"},
                         "max_score": hits[0][1] if hits else None,
                         "hits": [{"_index": name, "_id": d, "_score": s} for d, s in hits]}}


def _handler_for(server: FakeElasticsearch) -> type[BaseHTTPRequestHandler]:
    """A request handler class bound to ``server``."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _dispatch(self) -> None:
            url = urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            req = Request(self.command, url.path, dict(parse_qsl(url.query)),
                          {k.lower(): v for k, v in self.headers.items()}, body)
            refused, content_type = self._negotiate(int(server.version.split(".")[0]))
            if refused:
                server.requests.append(req)
                status, payload = _error(400, "media_type_header_exception",
                                         "Invalid media-type value on headers [Accept, Content-Type]", detail=refused)
            else:
                try:
                    status, payload = server.handle(req)
                except Exception as e:  # a stand-in bug or unsupported input: answer like a server error
                    status, payload = _error(500, "stand_in_exception", f"{type(e).__name__}: {e}")
            data = b"" if payload is None else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("X-Elastic-Product", "Elasticsearch")
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _negotiate(self, major: int) -> tuple[str, str]:
            """(why the request is refused or "", response content type) from ``compatible-with`` in the headers."""
            compat = None
            for header in ("Accept", "Content-Type"):
                value = self.headers.get(header, "")
                found = re.search(r"compatible-with=(\d+)", value)
                if found:
                    if int(found.group(1)) not in (major, major - 1):
                        return (f"{header} version must be either version {major} or {major - 1}, but found "
                                f"{found.group(1)}. {header}={value}"), "application/json"
                    compat = found.group(1)
            if compat:
                return "", f"application/vnd.elasticsearch+json;compatible-with={compat}"
            return "", "application/json"

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _dispatch

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    return Handler
