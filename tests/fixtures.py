"""Small datasets the tests write in the native BEIR and LoTTE layouts."""

from __future__ import annotations

import json
from pathlib import Path

LOTTE_PASSAGES = [
    "How do I keep sourdough starter alive while travelling for two weeks?",
    "Feed the starter, refrigerate it, and it survives a fortnight without feeding.",
    "Cast iron pans should be dried on the stove to stop rust forming.",
    "Season a cast iron skillet with a thin layer of flaxseed oil baked at high heat.",
    "Houseplants with yellow leaves are often overwatered; let the soil dry out.",
    "Succulents need bright light and very little water in winter.",
    "To remove red wine stains, blot and apply salt or club soda quickly.",
    "Baking soda and vinegar clean a clogged kitchen drain without harsh chemicals.",
    "A pressure cooker shortens the time for dried beans to under an hour.",
    "Rice cookers switch to warm when the water is absorbed and temperature rises.",
    "Compost needs a balance of green nitrogen and brown carbon material.",
    "Sharpen kitchen knives on a whetstone at a consistent fifteen degree angle.",
]

LOTTE_QUESTIONS = {
    # qid: (question, answer pids) -- qids deliberately equal pids of *other* passages
    0: ("how to stop cast iron skillet rust", [2, 3]),
    1: ("sourdough starter survive travelling two weeks", [1]),
    2: ("why are my houseplant leaves yellow overwatered", [4]),
    3: ("clean clogged kitchen drain baking soda vinegar", [7]),
    4: ("sharpen kitchen knife whetstone angle", [11]),
    5: ("compost green brown balance nitrogen carbon", [10]),
}


def write_lotte(root: Path, domain: str = "lifestyle", query_set: str = "search",
                questions: dict | None = None, passages: list[str] | None = None) -> Path:
    """Write ``root/lotte/<domain>/test/`` with collection.tsv, questions.<set>.tsv and qas.<set>.jsonl."""
    questions = LOTTE_QUESTIONS if questions is None else questions
    passages = LOTTE_PASSAGES if passages is None else passages
    folder = root / "lotte" / domain / "test"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "collection.tsv").write_text("".join(f"{pid}\t{p}\n" for pid, p in enumerate(passages)), encoding="utf-8")
    (folder / f"questions.{query_set}.tsv").write_text(
        "".join(f"{qid}\t{q}\n" for qid, (q, _) in questions.items()), encoding="utf-8")
    (folder / f"qas.{query_set}.jsonl").write_text(
        "".join(json.dumps({"qid": qid, "query": q, "answer_pids": pids, "author": "", "url": ""}) + "\n"
                for qid, (q, pids) in questions.items()), encoding="utf-8")
    return folder


def write_beir(folder: Path, docs: list[dict], queries: list[dict], qrels: list[tuple[str, str, int]],
               split: str = "test") -> Path:
    """Write a BEIR-layout folder from plain Python data."""
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries), encoding="utf-8")
    (folder / "qrels" / f"{split}.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{s}\n" for q, d, s in qrels), encoding="utf-8")
    return folder


def scifact_slice(shared_data: Path, folder: Path, n_queries: int = 40, extra_docs: int = 300, graded: bool = False) -> Path:
    """A BEIR folder holding the first ``n_queries`` SciFact test queries, their gold documents and other documents.

    With ``graded``, gold documents get grade 2 and the first non-gold document of each title-sharing pair grade 1,
    so NDCG uses graded gains.
    """
    src = shared_data / "scifact"
    qrels_lines = (src / "qrels" / "test.tsv").read_text().splitlines()[1:]
    qrels: dict[str, list[str]] = {}
    for line in qrels_lines:
        q, d, _ = line.split("\t")
        qrels.setdefault(q, []).append(d)
    qids = list(qrels)[:n_queries]
    gold = {d for q in qids for d in qrels[q]}
    docs, others = [], []
    with open(src / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            (docs if d["_id"] in gold else others).append(d)
    docs += others[:extra_docs]
    queries = [json.loads(l) for l in (src / "queries.jsonl").read_text().splitlines()]
    queries = [q for q in queries if q["_id"] in qids]
    triples = [(q, d, 2 if graded else 1) for q in qids for d in qrels[q]]
    if graded:  # a second, partially relevant grade: the next corpus document after each query's gold one
        for i, q in enumerate(qids):
            triples.append((q, others[i]["_id"], 1))
    return write_beir(folder, docs, queries, triples)


def cqadupstack_forums(src: Path, root: Path, forums: tuple[str, ...] = ("android", "gaming"), n_queries: int = 8,
                       extra_docs: int = 30) -> dict[str, Path]:
    """A small CQADupStack made of ``forums``, cut from the BEIR folder ``src``: ``root/cqadupstack/<forum>/``.

    Each forum gets its own ``n_queries`` queries of ``src``, their gold documents and ``extra_docs`` other documents.
    Ids are renumbered the way real forums collide: every forum's query ids run 1, 2, ...; document ids run from
    1000 + 10 * forum index, so about half of them also exist, as another post, in the next forum.
    """
    qrels: dict[str, list[str]] = {}
    for line in (src / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        q, d, _ = line.split("\t")
        qrels.setdefault(q, []).append(d)
    docs = {d["_id"]: d for d in (json.loads(l) for l in (src / "corpus.jsonl").read_text().splitlines())}
    queries = {q["_id"]: q for q in (json.loads(l) for l in (src / "queries.jsonl").read_text().splitlines())}
    qids, used = list(qrels), set()
    others = [d for d in docs if not any(d in g for g in qrels.values())]
    out = {}
    for f, forum in enumerate(forums):
        mine = qids[f * n_queries:(f + 1) * n_queries]
        if len(mine) < n_queries:
            raise ValueError(f"{src}: too few queries for {len(forums)} forums of {n_queries}")
        gold = list(dict.fromkeys(d for q in mine for d in qrels[q] if d not in used))
        extra = others[f * extra_docs:(f + 1) * extra_docs]
        used.update(gold)
        new_id = {d: str(1000 + 10 * f + i) for i, d in enumerate(gold + extra)}
        qid = {q: str(i + 1) for i, q in enumerate(mine)}
        out[forum] = write_beir(
            root / "cqadupstack" / forum,
            [{"_id": new_id[d], "title": docs[d].get("title", ""), "text": docs[d]["text"]} for d in gold + extra],
            [{"_id": qid[q], "text": queries[q]["text"]} for q in mine],
            [(qid[q], new_id[d], 1) for q in mine for d in qrels[q] if d in new_id])
    return out
