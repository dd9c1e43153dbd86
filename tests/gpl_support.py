"""Shared set-up for the GPL / R-GPL tests: a SciFact slice and tiny random models, built once per test session."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

from fixtures import scifact_slice
from tiny_models import build_tiny_bert_encoder, build_tiny_cross_encoder, build_tiny_t5

REPO = Path(__file__).resolve().parents[1]


def tiny_world(shared_data: Path, base: Path) -> dict[str, str]:
    """Paths of the data folder and tiny models under ``base`` (built on first use, then reused)."""
    base.mkdir(parents=True, exist_ok=True)
    with open(base / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = base / "world.json"
        if done.is_file():
            return json.loads(done.read_text())
        data = base / "data"
        scifact_slice(shared_data, data / "scifact", n_queries=20, extra_docs=150)
        texts = [json.loads(l)["text"] for l in (data / "scifact" / "corpus.jsonl").read_text().splitlines()]
        world = {
            "data": str(data),
            "student": build_tiny_bert_encoder(base / "student", texts, seed=0),
            "miner": build_tiny_bert_encoder(base / "miner", texts, seed=1),
            "teacher_bi": build_tiny_bert_encoder(base / "teacher_bi", texts, seed=2),
            "cross_encoder": build_tiny_cross_encoder(base / "cross_encoder", texts, seed=3),
            "t5": build_tiny_t5(base / "t5", texts, seed=4),
        }
        done.write_text(json.dumps(world))
        return world


def base_sets(world: dict, **over) -> dict[str, str]:
    """Tiny, fast settings: offline generator, tiny miner + BM25, tiny cross-encoder, a few dozen steps."""
    sets = {
        "student": world["student"], "generator": "offline", "queries_per_passage": "2",
        "miners": f"{world['miner']},bm25", "teacher": world["cross_encoder"], "steps": "30", "batch_size": "8",
        "warmup_steps": "5", "checkpoint_every": "10", "max_seq_length": "64", "teacher_max_seq_length": "64",
        "score_sample_queries": "20", "device": "cpu", "num_threads": "1", "encode_batch_size": "64",
    }
    sets.update({k: str(v) for k, v in over.items()})
    return sets


def build(system: str, sets: dict[str, str]):
    from harness.systems import build_settings, get_system_class

    return build_settings(get_system_class(system).Settings, sets)


def load(world: dict):
    from harness.datasets import load_dataset
    from harness.registry import get_suite

    info = next(d for d in get_suite("beir").datasets if d.name == "scifact")
    return load_dataset(info, "scifact", world["data"], allow_download=False)


def cli(args: list[str], cache: Path, env_extra: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """``harness ...`` in a fresh process (one torch thread), with its own cache folder."""
    env = dict(os.environ, HARNESS_CACHE=str(cache), OMP_NUM_THREADS="1", **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True, env=env,
                          cwd=str(REPO), timeout=timeout)


def run_args(system: str, world: dict, sets: dict[str, str], out: Path, name: str | None = None) -> list[str]:
    args = ["run", "--system", system, "--suite", "beir", "--datasets", "scifact", "--data-dir", world["data"],
            "--out", str(out), "--no-download", "--top-k", "100"]
    for k, v in sets.items():
        args += ["--set", f"{k}={v}"]
    if name:
        args += ["--name", name]
    return args


def work_dir_of(manifest_path: Path) -> Path:
    return Path(json.loads(manifest_path.read_text())["extra"]["work_dir"])


def read_log(work: Path) -> list[dict]:
    from harness.gpl.workdir import WorkDir

    return WorkDir(work).log_rows()
