"""Grid expansion, Slurm profiles and the local executor's GPU assignment (no scheduler needed)."""

from __future__ import annotations

import pytest

from harness.errors import HarnessError, SettingsError
from harness.executor import (_options_for, _time_minutes, expand_grid, grid_status, load_profile, parse_sweep,
                              run_local, slurm_parameters)

from fixtures import scifact_slice


def test_grid_expansion_applies_sets_and_sweeps_to_the_systems_that_have_them():
    jobs = expand_grid(["bm25", "rgpl"], "beir", ["scifact", "nfcorpus"], parse_sweep(["remine_every=10000,30000"]),
                       {"k1": "0.9", "steps": "40000"}, None, None, seed=1)
    labels = [j.label for j in jobs]
    assert labels == ["beir/scifact/bm25", "beir/nfcorpus/bm25",
                      "beir/scifact/rgpl-remine_every-10000", "beir/nfcorpus/rgpl-remine_every-10000",
                      "beir/scifact/rgpl-remine_every-30000", "beir/nfcorpus/rgpl-remine_every-30000"]
    assert jobs[0].sets == {"k1": "0.9"} and jobs[2].sets == {"steps": "40000", "remine_every": "10000"}
    seeds = expand_grid(["bm25"], "beir", ["scifact"], parse_sweep(["seed=1,2"]))
    assert [(j.name, j.seed) for j in seeds] == [("bm25-seed-1", 1), ("bm25-seed-2", 2)]
    with pytest.raises(SettingsError, match="--sweep 'nope'"):
        expand_grid(["bm25"], "beir", ["scifact"], {"nope": ["1"]})
    with pytest.raises(SettingsError, match="--set 'nope'"):
        expand_grid(["bm25"], "beir", ["scifact"], {}, {"nope": "1"})
    with pytest.raises(SettingsError, match="k1"):  # each job's settings are validated before anything runs
        expand_grid(["bm25"], "beir", ["scifact"], parse_sweep(["k1=0.9,abc"]))
    with pytest.raises(HarnessError, match="--name"):
        expand_grid(["bm25", "gpl"], "beir", ["scifact"], name="x")
    for bad in ("k1", "k1=", "=1"):
        with pytest.raises(SettingsError, match="--sweep"):
            parse_sweep([bad])


def test_slurm_profile_flags_and_per_system_overrides(tmp_path):
    profile = tmp_path / "slurm.toml"
    profile.write_text('[slurm]\npartition = "gpu"\ntime = "1-02:30:00"\ngpus = 1\ncpus = 8\nmem = "48G"\n'
                       'account = "proj"\nextra = ["--qos=normal", "--exclusive"]\nsetup = ["module load cuda"]\n'
                       '[slurm.bm25]\ngpus = 0\ntime = 30\n', encoding="utf-8")
    prof = load_profile(profile)
    gpu = slurm_parameters(_options_for("rgpl", prof, {"time": None, "extra": []}))
    assert gpu == {"time": 1590, "signal_delay_s": 120, "partition": "gpu", "gpus_per_node": 1, "cpus_per_task": 8,
                   "mem": "48G", "account": "proj", "setup": ["module load cuda"],
                   "additional_parameters": {"qos": "normal", "exclusive": True, "requeue": True}}
    cpu = slurm_parameters(_options_for("bm25", prof, {"partition": "short", "extra": ["--constraint=x"]}))
    assert cpu["time"] == 30 and "gpus_per_node" not in cpu and cpu["partition"] == "short"
    assert cpu["additional_parameters"] == {"qos": "normal", "exclusive": True, "constraint": "x", "requeue": True}
    assert [_time_minutes(t) for t in (45, "45", "2:00:00", "10:30", "1-00", "0:00:30")] == [45, 45, 120, 11, 1440, 1]
    with pytest.raises(SettingsError, match="Slurm time"):
        _time_minutes("soon")
    no_requeue = slurm_parameters({"extra": ["--no-requeue"]})["additional_parameters"]
    assert no_requeue == {"no_requeue": True}

    (tmp_path / "bad.toml").write_text('[slurm]\npartitoin = "gpu"\n', encoding="utf-8")
    with pytest.raises(HarnessError, match=r"bad.toml: \[slurm\] unknown key 'partitoin'"):
        load_profile(tmp_path / "bad.toml")
    with pytest.raises(HarnessError, match="not found"):
        load_profile(tmp_path / "missing.toml")


def test_slurm_signal_comes_before_the_time_limit():
    """Slurm signals USR2 signal_delay_s before the limit (submitit then checkpoints and requeues the job): the
    default 120 s must shrink for short limits, else a --time 1 job is signalled as it starts, again and again."""
    assert slurm_parameters({"time": 60})["signal_delay_s"] == 120
    assert [slurm_parameters({"time": t})["signal_delay_s"] for t in (1, 2, 7, 8)] == [15, 30, 105, 120]
    assert slurm_parameters({"time": 0})["signal_delay_s"] == 120  # no limit
    assert slurm_parameters({"time": 1, "signal_delay_s": 10})["signal_delay_s"] == 10
    for bad in (60, 300, 0):
        with pytest.raises(SettingsError, match=f"signal_delay_s={bad}: must be above 0 and below the time limit"):
            slurm_parameters({"time": 1, "signal_delay_s": bad})


def test_local_executor_gives_each_slot_its_own_gpu(shared_data, tmp_path):
    scifact_slice(shared_data, tmp_path / "data" / "sci-a", n_queries=5, extra_docs=20)
    scifact_slice(shared_data, tmp_path / "data" / "sci-b", n_queries=6, extra_docs=20)
    jobs = expand_grid(["bm25"], "beir", ["sci-a", "sci-b"], data_dir=str(tmp_path / "data"),
                       out=str(tmp_path / "runs"), top_k=10)
    states = run_local(jobs, tmp_path / "grid", n_jobs=2, gpus=["3", "5"])
    assert sorted(s["gpu"] for s in states.values()) == ["3", "5"]
    for s in states.values():  # the child saw its own GPU
        assert f"CUDA_VISIBLE_DEVICES={s['gpu']}" in open(s["log"]).read()
    rows = grid_status(tmp_path / "grid")
    assert [r["state"] for r in rows] == ["COMPLETED", "COMPLETED"] and all(r["done"] for r in rows)
