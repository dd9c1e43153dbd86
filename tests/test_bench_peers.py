"""``bench/peers.py --smoke``: every section runs against the harness's current code, writes its key, and where a
peer is installed both sides give the same output (a peer not installed is reported missing, never dropped).

Timings at these sizes mean nothing; this guards the bench against the harness's APIs moving under it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SECTIONS = ("bm25", "dense_search", "dense_encode", "evaluate", "training", "remining")


def _peers(body: dict) -> dict[str, dict]:
    return {k[len("speedup_vs_"):]: body.get(k[len("speedup_vs_"):]) for k in body if k.startswith("speedup_vs_")}


def test_smoke_run_writes_every_key_and_both_sides_agree(tmp_path, shared_data, minilm_path):
    out = tmp_path / "peers.json"
    env = {**os.environ, "HARNESS_SHARED_DATA": str(shared_data), "HF_HUB_OFFLINE": "1", "HARNESS_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "peers.py"), "--smoke", "--json", str(out)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["size"] == "smoke" and report["repeats"] == 1
    for name in SECTIONS:
        body = report[name]
        assert body.get("status") != "error", (name, body.get("error"), body.get("traceback"))
        assert body["harness"] and body["harness"].get("status") is None, (name, body["harness"])
        assert f"[{name}]" in proc.stderr  # each section reports its time
    # the harness side of every section measured something
    assert report["bm25"]["harness"]["index_s"] > 0 and report["dense_search"]["harness"]["search_s"] > 0
    assert report["dense_encode"]["harness"]["encode_s"] > 0 and report["evaluate"]["harness"]["evaluate_s"] > 0
    assert report["training"]["harness"]["train_s"] > 0
    rem = report["remining"]
    assert rem["sync_wall_s"] > 0 and rem["async_wall_s"] > 0 and rem["async_speedup"] == rem["speedup_vs_sync"] > 0
    assert set(rem["projection"]) == {"100000", "1000000"} and rem["setup"]["remines"] >= 1
    # peers: installed ones agree with the harness, missing ones say so
    for name in SECTIONS:
        assert _peers(report[name]), name  # every section names its peer
        for peer, body in _peers(report[name]).items():
            assert body is not None, (name, peer)
            if body.get("status") == "missing":
                assert report[name][f"speedup_vs_{peer}"] is None and body["error"]
                continue
            assert body["status"] == "ok", (name, peer, body)
            for flag in ("identical_run", "identical_top10", "identical_values", "identical_mean"):
                assert body.get(flag, True) is True, (name, peer, flag)
    assert report["dense_encode"]["bare_forward"]["max_abs_diff"] < 1e-5
    fresh = report["evaluate"]["fresh_process"]
    assert fresh["harness"]["ndcg_cut_10"] > 0 and fresh["harness"]["process_s"] > 0
