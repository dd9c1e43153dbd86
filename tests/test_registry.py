from harness.registry import get_suite, resolve_dataset

import pytest

from harness.errors import HarnessError


def test_beir_suite_has_the_papers_14_test_sets_in_order():
    s = get_suite("beir")
    assert s.names() == ["trec-covid", "nfcorpus", "hotpotqa", "fiqa", "nq", "arguana", "webis-touche2020", "quora",
                         "cqadupstack", "dbpedia-entity", "scidocs", "climate-fever", "fever", "scifact"]
    assert {d.metric for d in s.datasets} == {"ndcg_cut_10"}
    assert all(d.group in s.groups for d in s.datasets)
    cqa = s.get("cqadupstack")
    assert len(cqa.parts) == 12 and cqa.part_names[0] == "cqadupstack/android"
    assert s.get("webis-touche2020").display == "Touche-2020"


def test_lotte_suite_has_12_sets_with_success_at_5():
    s = get_suite("lotte")
    assert len(s.datasets) == 12
    assert {d.metric for d in s.datasets} == {"success_5"}
    assert s.get("pooled.forum").group == "Forum" and s.get("lifestyle.search").domain == "lifestyle"


def test_unknown_names():
    with pytest.raises(HarnessError, match="unknown suite"):
        get_suite("msmarco")
    with pytest.raises(HarnessError, match="unknown lotte dataset"):
        resolve_dataset("lotte", "cooking.search")
    custom = resolve_dataset("beir", "my-corpus")
    assert custom.group == "Custom" and custom.metric == "ndcg_cut_10"
