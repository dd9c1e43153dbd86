"""bench/gpu_scifact.sh dry-run on the CPU: tiny model, a SciFact slice, a handful of steps.

The script is what a GPU machine runs for the committed SciFact comparison; this runs the same script end to end
(base, GPL, R-GPL with the offline preset's hybrid teacher, compare, packing) so it cannot rot between GPU runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from conftest import REPO


@pytest.mark.slow
def test_gpu_script_dry_run_on_cpu(world, tmp_path):
    out = tmp_path / "out"
    env = dict(os.environ, OUT=str(out), HARNESS=f"{sys.executable} -m harness.cli", PYTHON=sys.executable,
               HARNESS_CACHE=str(tmp_path / "cache"), OMP_NUM_THREADS="1", TMPDIR=str(tmp_path))
    r = subprocess.run(["bash", "bench/gpu_scifact.sh", "--steps", "4", "--remine-every", "2", "--batch", "4",
                        "--device", "cpu", "--data-dir", world["data"], "--dataset", "scifact",
                        "--model", world["student"], "--no-figures"],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    with tarfile.open(out / "results-4.tar.gz") as tar:
        names = set(tar.getnames())
        for system in ("base", "gpl", "rgpl"):
            assert f"./runs/beir/scifact/{system}.trec" in names
        manifest = json.load(tar.extractfile("./runs/beir/scifact/rgpl.manifest.json"))
        gpl_vs_rgpl = json.load(tar.extractfile("./compare-gpl-vs-rgpl.json"))
        rounds = {n for n in names if n.startswith("./work-rgpl/rounds/") and n.endswith("manifest.json")}
    settings = manifest["settings"]
    assert settings["teacher_kind"] == "hybrid" and settings["teacher_bm25_weight"] > 0
    assert settings["steps"] == 4 and settings["remine_every"] == 2 and settings["batch_size"] == 4
    assert "./work-rgpl/rounds/2/manifest.json" in rounds  # the one re-mine at step 2 is in the results
    assert "./work-gpl/train-log.jsonl" in names
    assert gpl_vs_rgpl  # the comparison ran on the written runs
    summary = (out / "summary-4.txt").read_text()
    assert "wall_s=" in summary and "steps=4" in summary
