"""Grid runs: systems x datasets x sweep values, each one an ordinary ``harness run`` unit, run on an executor.

* :func:`expand_grid` turns ``--system bm25,gpl,rgpl --sweep remine_every=10000,30000`` into :class:`Job` s: one per
  (system, dataset, sweep point); a sweep key applies to the systems that have that setting, and a swept run is
  named ``<system>-<key>-<value>`` (``rgpl-remine_every-30000``).
* ``local``: :func:`run_local` runs the jobs as child processes, ``--jobs N`` at a time, each with its own GPU
  (``CUDA_VISIBLE_DEVICES``) when GPUs are present.
* ``slurm``: :func:`submit_slurm` submits through ``submitit`` (one job array per resource set); a job is
  checkpointable, so on timeout or preemption (Slurm's USR2 signal) submitit requeues it and the run resumes
  from its last cached stage or training checkpoint.

Every job is ``harness.runner.run`` for one dataset, so it skips work whose manifest matches and resumes the rest:
submitting the same grid again finishes only what is missing. The grid's record lives in
``<out>/.jobs/<grid-id>/`` (``grid.json``, per-job state files and logs); ``harness status`` reads it.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import submitit

from .errors import HarnessError, SettingsError
from .fileio import read_json, read_text, stable_hash, write_json

log = logging.getLogger("harness")

GRID_DIR = ".jobs"
FINISHED = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL",
            "DEADLINE", "LOST"}


# ------------------------------------------------------------------------------------------------- jobs
@dataclass
class Job:
    """One ``harness run`` unit: one system (with its settings) on one dataset (all its parts)."""

    system: str
    suite: str
    dataset: str
    name: str
    sets: dict[str, str] = field(default_factory=dict)
    preset: str | None = None
    seed: int = 42
    top_k: int = 1000
    data_dir: str | None = None
    out: str = "runs"
    force: bool = False
    allow_download: bool = True
    lenient_qrels: bool = False

    @property
    def label(self) -> str:
        return f"{self.suite}/{self.dataset}/{self.name}"

    def request(self):
        from .runner import RunRequest

        return RunRequest(system=self.system, suite=self.suite, datasets=[self.dataset], data_dir=self.data_dir,
                          out=self.out, sets=dict(self.sets), preset=self.preset, name=self.name, seed=self.seed,
                          top_k=self.top_k, force=self.force, allow_download=self.allow_download,
                          lenient_qrels=self.lenient_qrels)

    def run_files(self) -> list[Path]:
        from .registry import resolve_dataset
        from .runs import run_path

        info = resolve_dataset(self.suite, self.dataset)
        return [run_path(self.out, self.suite, key, self.name) for key in info.part_names]

    def done(self) -> bool:
        from .runs import manifest_path

        return all(p.is_file() and manifest_path(p).is_file() for p in self.run_files())


def run_job(spec: dict) -> list[str]:
    """Run one job described by ``asdict(Job)``; returns the run files written (or found up to date)."""
    from .runner import run

    return [str(p) for p in run(Job(**spec).request())]


def parse_sweep(items: list[str]) -> dict[str, list[str]]:
    """``["remine_every=10000,30000", "seed=1,2"]`` -> ``{"remine_every": ["10000", "30000"], ...}``."""
    out: dict[str, list[str]] = {}
    for item in items:
        if "=" not in item:
            raise SettingsError(f"--sweep '{item}': expected key=value1,value2,...")
        key, values = item.split("=", 1)
        vals = [v.strip() for v in values.split(",") if v.strip()]
        if not key.strip() or not vals:
            raise SettingsError(f"--sweep '{item}': expected key=value1,value2,...")
        out[key.strip()] = vals
    return out


def _slug(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", value)[:60]


def expand_grid(systems: list[str], suite: str, datasets: list[str] | None, sweep: dict[str, list[str]] | None = None,
                sets: dict[str, str] | None = None, preset: str | None = None, name: str | None = None,
                **common) -> list[Job]:
    """Every (system, sweep point, dataset) as a :class:`Job`; settings are validated here, before anything runs."""
    import dataclasses

    from .runner import selected_datasets
    from .systems import build_settings, get_system_class

    sweep = sweep or {}
    if name and len(systems) > 1:
        raise HarnessError("--name names one system's runs; with several systems each run is named after its system")
    classes = {s: get_system_class(s) for s in systems}
    fields_of = {s: {f.name for f in dataclasses.fields(c.Settings)} for s, c in classes.items()}
    for key in sweep:
        if key == "seed":
            continue
        if not any(key in f for f in fields_of.values()):
            raise SettingsError(f"--sweep '{key}': no selected system has this setting ({', '.join(systems)})")
    for key in sets or {}:
        if not any(key in f for f in fields_of.values()):
            raise SettingsError(f"--set '{key}': no selected system has this setting ({', '.join(systems)})")
    infos = selected_datasets(suite, datasets)
    jobs: list[Job] = []
    for system in systems:
        keys = [k for k in sweep if k == "seed" or k in fields_of[system]]
        for point in itertools.product(*(sweep[k] for k in keys)):
            over = dict(zip(keys, point))
            # --set and --sweep keys apply to the systems that have them (k1 to bm25, remine_every to rgpl)
            job_sets = {**{k: v for k, v in (sets or {}).items() if k in fields_of[system]},
                        **{k: v for k, v in over.items() if k != "seed"}}
            build_settings(classes[system].Settings, job_sets, preset, system=system)  # fail now, not in a queued job
            run_name = (name or system) + "".join(f"-{k}-{_slug(v)}" for k, v in over.items())
            seed = int(over["seed"]) if "seed" in over else common.get("seed", 42)
            for info in infos:
                jobs.append(Job(system=system, suite=suite, dataset=info.name, name=run_name, sets=job_sets,
                                preset=preset, **{**common, "seed": seed}))
    return jobs


# ------------------------------------------------------------------------------------------- grid record
def grid_dir(out: str | Path, jobs: list[Job]) -> Path:
    """``<out>/.jobs/<hash of the jobs>``: the same grid submitted again keeps its folder (and its history)."""
    return Path(out) / GRID_DIR / stable_hash([asdict(j) for j in jobs], 12)


def _record(folder: Path, jobs: list[Job], executor: str) -> None:
    grid = folder / "grid.json"
    old = read_json(grid) if grid.is_file() else {}
    write_json(grid, {"created": old.get("created", time.time()), "updated": time.time(), "executor": executor,
                      "jobs": [asdict(j) for j in jobs]})


def _state_path(folder: Path, i: int) -> Path:
    return folder / "state" / f"{i:05d}.json"


def _set_state(folder: Path, i: int, **info) -> None:
    p = _state_path(folder, i)
    old = read_json(p) if p.is_file() else {}
    write_json(p, {**old, **info, "updated": time.time()})


def tail(path: str | Path | None, lines: int = 20) -> str:
    if not path or not Path(path).is_file():
        return "(no log)"
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        fh.seek(max(0, fh.tell() - 64 * 1024))
        text = fh.read().decode("utf-8", "replace")
    return "\n".join(text.splitlines()[-lines:])


# ------------------------------------------------------------------------------------------------- local
def visible_gpus() -> list[str]:
    """GPU ids to hand out: ``CUDA_VISIBLE_DEVICES`` when set, else the devices torch sees (none on a CPU box)."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [g.strip() for g in env.split(",") if g.strip() and g.strip() != "-1"]
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(out.stdout.splitlines()) if line.startswith("GPU ")]


def run_local(jobs: list[Job], folder: Path, n_jobs: int = 1, gpus: list[str] | None = None,
              show=None) -> dict[int, dict]:
    """Run the jobs as ``python -m harness.executor`` children, ``n_jobs`` at a time; returns index -> state.

    Each child gets one GPU of ``gpus`` (round robin over the slots) in ``CUDA_VISIBLE_DEVICES``; with no GPU it
    gets an empty ``CUDA_VISIBLE_DEVICES`` only if the parent had one. Logs: ``<folder>/logs/<index>.log``.
    """
    gpus = visible_gpus() if gpus is None else gpus
    n_jobs = max(1, n_jobs)
    _record(folder, jobs, "local")
    (folder / "logs").mkdir(parents=True, exist_ok=True)
    (folder / "specs").mkdir(parents=True, exist_ok=True)
    states: dict[int, dict] = {}
    for i, job in enumerate(jobs):
        states[i] = {"state": "PENDING", "label": job.label}
        _set_state(folder, i, state="PENDING", label=job.label, executor="local", job_id=None, log=None)
    queue = list(range(len(jobs)))
    running: dict[int, tuple[subprocess.Popen, int, object]] = {}  # index -> (process, slot, log handle)
    free_slots = list(range(n_jobs))
    try:
        while queue or running:
            while queue and free_slots:
                i = queue.pop(0)
                slot = free_slots.pop(0)
                spec = folder / "specs" / f"{i:05d}.json"
                write_json(spec, asdict(jobs[i]))
                log_path = folder / "logs" / f"{i:05d}.log"
                env = dict(os.environ)
                if gpus:
                    env["CUDA_VISIBLE_DEVICES"] = gpus[slot % len(gpus)]
                fh = open(log_path, "ab")
                proc = subprocess.Popen([sys.executable, "-m", "harness.executor", str(spec)], stdout=fh,
                                        stderr=subprocess.STDOUT, env=env)
                running[i] = (proc, slot, fh)
                states[i] = {"state": "RUNNING", "label": jobs[i].label, "log": str(log_path), "job_id": f"pid {proc.pid}",
                             "gpu": env.get("CUDA_VISIBLE_DEVICES") if gpus else None}
                _set_state(folder, i, **states[i])
                if show:
                    show(states)
            time.sleep(0.2)
            for i, (proc, slot, fh) in list(running.items()):
                rc = proc.poll()
                if rc is None:
                    continue
                fh.close()
                del running[i]
                free_slots.append(slot)
                states[i] = {**states[i], "state": "COMPLETED" if rc == 0 else "FAILED", "returncode": rc}
                _set_state(folder, i, **states[i])
                if show:
                    show(states)
    finally:
        for i, (proc, _, fh) in running.items():  # interrupted: do not leave children behind
            proc.terminate()
            proc.wait()
            fh.close()
            _set_state(folder, i, state="CANCELLED")
    return states


# ------------------------------------------------------------------------------------------------- slurm
def _time_minutes(value) -> int:
    """Slurm time: minutes (int), ``MM``, ``HH:MM:SS``, ``D-HH:MM:SS`` or ``D-HH``."""
    if isinstance(value, int):
        return value
    text = str(value).strip()
    m = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text, flags=re.ASCII)
    if not m:
        raise SettingsError(f"Slurm time '{value}': expected minutes, HH:MM:SS or D-HH:MM:SS")
    days, a, b, c = (int(x) if x else None for x in m.groups())
    if days is None and b is None:
        return a  # plain minutes
    if days is not None and b is None:
        return days * 1440 + a * 60  # D-HH
    hours, minutes, seconds = (a, b, c or 0) if c is not None or days is not None else (0, a, b)
    return (days or 0) * 1440 + hours * 60 + minutes + (1 if seconds else 0)


SLURM_KEYS = ("partition", "time", "gpus", "cpus", "mem", "account", "extra", "setup", "array_parallelism",
              "signal_delay_s", "max_requeue")


def load_profile(path: str | Path | None) -> dict:
    """A TOML profile: ``[slurm]`` defaults and ``[slurm.<system>]`` overrides (see README)."""
    if not path:
        return {}
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    p = Path(path)
    try:
        data = tomllib.loads(read_text(p))
    except FileNotFoundError:
        raise HarnessError(f"Slurm profile not found: {p}") from None
    except tomllib.TOMLDecodeError as e:
        raise HarnessError(f"{p}: {' '.join(str(e).split())}") from None  # its message names line and column
    slurm = data.get("slurm")
    if not isinstance(slurm, dict):
        raise HarnessError(f"{p}: no [slurm] table")
    for key, value in slurm.items():
        if isinstance(value, dict):
            bad = set(value) - set(SLURM_KEYS)
            if bad:
                raise HarnessError(f"{p}: [slurm.{key}] unknown key '{sorted(bad)[0]}'; keys: {', '.join(SLURM_KEYS)}")
            for k, v in value.items():
                _check_profile_value(p, f"slurm.{key}", k, v)
        elif key not in SLURM_KEYS:
            raise HarnessError(f"{p}: [slurm] unknown key '{key}'; keys: {', '.join(SLURM_KEYS)}")
        else:
            _check_profile_value(p, "slurm", key, value)
    return slurm


_PROFILE_TYPES = {"partition": "text", "mem": "text", "account": "text", "time": "time", "gpus": "count",
                  "cpus": "count", "array_parallelism": "count", "signal_delay_s": "count", "max_requeue": "count",
                  "extra": "texts", "setup": "texts"}


def _check_profile_value(path: Path, table: str, key: str, value) -> None:
    """A profile value of the type its key needs, so that a bad one stops here, naming the file, table and key."""
    kind = _PROFILE_TYPES[key]
    count = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    ok = {"text": isinstance(value, str), "count": count,
          "texts": isinstance(value, list) and all(isinstance(x, str) for x in value),
          "time": count or isinstance(value, str)}[kind]
    try:
        if ok and kind == "time" and isinstance(value, str):
            _time_minutes(value)
        if ok and key == "extra":
            for opt in value:
                _sbatch_option(opt)
    except SettingsError as e:
        raise HarnessError(f"{path}: [{table}] {key}: {e}") from None
    if not ok:
        need = {"text": "a string", "count": "a whole number >= 0", "texts": "a list of strings",
                "time": "minutes or a string D-HH:MM:SS"}[kind]
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        raise HarnessError(f"{path}: [{table}] {key} = {shown}: expected {need}")


SIGNAL_DELAY_S = 120  # default: seconds before the time limit at which Slurm signals a job to checkpoint


def _signal_delay(options: dict, minutes: int) -> int:
    """When Slurm sends USR2 (submitit: checkpoint and requeue) before the time limit: ``signal_delay_s``, which must
    be below the limit (else the job is signalled as it starts, and requeued until its requeues run out); by default
    120 s, or a quarter of a limit shorter than 8 minutes."""
    given = options.get("signal_delay_s")
    limit = minutes * 60
    if given is None:
        return min(SIGNAL_DELAY_S, limit // 4) if limit > 0 else SIGNAL_DELAY_S
    delay = int(given)
    if delay <= 0 or (limit > 0 and delay >= limit):
        raise SettingsError(f"Slurm signal_delay_s={delay}: must be above 0 and below the time limit ({limit} s), "
                            "or the job is told to checkpoint as it starts; lower it or raise --time")
    return delay


def slurm_parameters(options: dict) -> dict:
    """Profile/flag options -> ``submitit.SlurmExecutor.update_parameters`` keyword arguments.

    Jobs are submitted with ``--requeue``: submitit requeues a job at its time limit (``scontrol requeue``), and
    Slurm requeues a preempted or failed-node job instead of cancelling it, also where the cluster's ``JobRequeue``
    is 0 (an ``--sbatch=--no-requeue`` option turns it off)."""
    minutes = _time_minutes(options.get("time", 60))
    params: dict = {"time": minutes, "signal_delay_s": _signal_delay(options, minutes)}
    if options.get("partition"):
        params["partition"] = str(options["partition"])
    if options.get("gpus"):
        params["gpus_per_node"] = int(options["gpus"])
    if options.get("cpus"):
        params["cpus_per_task"] = int(options["cpus"])
    if options.get("mem"):
        params["mem"] = str(options["mem"])
    if options.get("account"):
        params["account"] = str(options["account"])
    if options.get("setup"):
        params["setup"] = [str(x) for x in options["setup"]]
    if options.get("array_parallelism"):
        params["array_parallelism"] = int(options["array_parallelism"])
    extra = dict(_sbatch_option(opt) for opt in options.get("extra") or [])
    if "no_requeue" not in extra:  # a timed-out or preempted job comes back (submitit checkpoints and requeues it)
        extra["requeue"] = True
    params["additional_parameters"] = extra
    return params


def _sbatch_option(opt) -> tuple[str, str | bool]:
    """``--qos=high`` -> ("qos", "high"); ``--exclusive`` -> ("exclusive", True)."""
    m = re.fullmatch(r"--?([A-Za-z][\w-]*)(?:[= ](.*))?", str(opt).strip(), flags=re.ASCII | re.DOTALL)
    if not m:
        raise SettingsError(f"extra sbatch option '{opt}': expected --name=value or --flag")
    return m.group(1).replace("-", "_"), m.group(2) if m.group(2) is not None else True


def _options_for(system: str, profile: dict, flags: dict) -> dict:
    base = {k: v for k, v in profile.items() if not isinstance(v, dict)}
    per_system = profile.get(system) if isinstance(profile.get(system), dict) else {}
    merged = {**base, **per_system, **{k: v for k, v in flags.items() if v not in (None, [], ())}}
    if flags.get("extra"):
        merged["extra"] = list(base.get("extra") or []) + list(per_system.get("extra") or []) + list(flags["extra"])
    return merged


def _configure_logging() -> None:
    """A job's log as ``harness run``'s stderr (with ``--debug``, HARNESS_DEBUG=1, as in the submitting shell)."""
    from .progress import configure_logging

    configure_logging(os.environ.get("HARNESS_DEBUG", "").strip() not in ("", "0"))


class GridTask(submitit.helpers.Checkpointable):
    """The callable a Slurm job runs: one grid job. On timeout or preemption submitit calls ``checkpoint`` (which
    returns this same call) and requeues it; the requeued run resumes from the run's stage cache and its last
    training checkpoint, so only the steps since that checkpoint are repeated."""

    def __call__(self, spec: dict) -> list[str]:
        _configure_logging()
        log.info("harness job %s (Slurm job %s)", Job(**spec).label, os.environ.get("SLURM_JOB_ID"))
        return run_job(spec)


def submit_slurm(jobs: list[Job], folder: Path, profile: dict, flags: dict) -> list[dict]:
    """Submit the jobs (one job array per distinct resource set) and record them; returns the records."""
    _record(folder, jobs, "slurm")
    groups: dict[str, list[int]] = {}
    params_of: dict[str, dict] = {}
    for i, job in enumerate(jobs):
        params = slurm_parameters(_options_for(job.system, profile, flags))
        key = stable_hash(params)
        groups.setdefault(key, []).append(i)
        params_of[key] = params
    records = []
    for key, idx in groups.items():
        params = dict(params_of[key])
        max_requeue = int(_options_for(jobs[idx[0]].system, profile, flags).get("max_requeue", 3))
        ex = submitit.SlurmExecutor(folder=folder / "slurm", max_num_timeout=max_requeue)
        ex.update_parameters(job_name=f"harness-{jobs[idx[0]].system}", **params)
        try:
            with ex.batch():
                handles = [ex.submit(GridTask(), asdict(jobs[i])) for i in idx]
        except Exception as e:  # sbatch missing, refused, or the cluster unreachable
            raise HarnessError(f"Slurm submission failed ({type(e).__name__}: {str(e).strip()[:300]})") from None
        for i, h in zip(idx, handles):
            rec = {"label": jobs[i].label, "executor": "slurm", "job_id": str(h.job_id), "slurm_folder": str(folder / "slurm"),
                   "log": str(h.paths.stderr), "stdout": str(h.paths.stdout), "state": "SUBMITTED",
                   "submitted": time.time()}
            _set_state(folder, i, **rec)
            records.append(rec)
    return records


def _scheduler_states(job_ids: list[str]) -> dict[str, str] | None:
    """Slurm state per job id: ``sacct`` where accounting runs, else ``squeue`` (which keeps finished jobs for
    MinJobAge seconds). A job neither knows is absent from the answer; None when neither command answered."""
    if not job_ids:
        return {}
    out: dict[str, str] = {}
    answered = False
    ids = ",".join(sorted({j.split("_")[0] for j in job_ids}))
    try:
        r = subprocess.run(["sacct", "-n", "-P", "-X", "-o", "JobID,State", "-j", ids], capture_output=True,
                           text=True, timeout=30)
        if r.returncode == 0:
            answered = True
            for line in r.stdout.splitlines():
                jid, _, state = line.partition("|")
                if jid and state:
                    out[jid.strip()] = state.split()[0]
    except (OSError, subprocess.SubprocessError):
        pass
    missing = [j for j in job_ids if j not in out]
    if missing:
        try:
            r = subprocess.run(["squeue", "-h", "-r", "-t", "all", "-o", "%i|%T", "-j", ids], capture_output=True,
                               text=True, timeout=30)
            if r.returncode == 0 or "invalid job id" in r.stderr.lower():  # all ids forgotten (past MinJobAge)
                answered = True
                for line in r.stdout.splitlines():
                    jid, _, state = line.partition("|")
                    out.setdefault(jid.strip(), state.strip())
        except (OSError, subprocess.SubprocessError):
            pass
    return out if answered else None


def _result_state(rec: dict) -> str | None:
    """From submitit's result file: COMPLETED or FAILED; None when the job left no result."""
    import pickle

    from submitit.core.utils import JobPaths

    try:
        paths = JobPaths(rec["slurm_folder"], job_id=rec["job_id"], task_id=0)
        if not paths.result_pickle.is_file():
            return None
        with open(paths.result_pickle, "rb") as fh:
            outcome, _ = pickle.load(fh)
        return "COMPLETED" if outcome == "success" else "FAILED"
    except Exception:  # noqa: BLE001 - an unreadable result is no result
        return None


# ------------------------------------------------------------------------------------------------ status
def find_grids(out: str | Path) -> list[Path]:
    root = Path(out) / GRID_DIR
    if not root.is_dir():
        return []
    return sorted((p for p in root.iterdir() if (p / "grid.json").is_file()),
                  key=lambda p: read_json(p / "grid.json").get("updated", 0))


def grid_status(folder: Path) -> list[dict]:
    """One row per job: label, executor, job id, state, log, run files (when written)."""
    grid = read_json(folder / "grid.json")
    jobs = [Job(**j) for j in grid["jobs"]]
    recs = []
    for i, job in enumerate(jobs):
        p = _state_path(folder, i)
        recs.append(read_json(p) if p.is_file() else {"state": "UNSUBMITTED"})
    slurm_ids = [r["job_id"] for r in recs if r.get("executor") == "slurm" and r.get("job_id")]
    sched = _scheduler_states(slurm_ids)
    rows = []
    for job, rec in zip(jobs, recs):
        state = rec.get("state", "UNKNOWN")
        if rec.get("executor") == "slurm" and rec.get("job_id"):
            result = _result_state(rec)
            state = sched.get(rec["job_id"]) if sched is not None else None
            if state is None:  # unknown to the scheduler (or it did not answer): the result file decides
                state = result or ("GONE" if sched is not None else "UNKNOWN")
            elif state == "COMPLETED" and result == "FAILED":
                state = "FAILED"
        elif rec.get("executor") == "local" and state == "RUNNING" and _local_gone(rec):
            state = "LOST"
        files = [str(f) for f in job.run_files()] if job.done() else []
        rows.append({"label": job.label, "executor": rec.get("executor", grid.get("executor")), "job_id": rec.get("job_id"),
                     "state": state, "log": rec.get("log"), "run_files": files, "done": job.done()})
    return rows


def _local_gone(rec: dict) -> bool:
    jid = str(rec.get("job_id") or "")
    if not jid.startswith("pid "):
        return False
    try:
        os.kill(int(jid[4:]), 0)
        return False
    except (OSError, ValueError):
        return True


def is_finished(row: dict) -> bool:
    state = row["state"]
    return state.split()[0] in FINISHED or state in ("LOST", "GONE")


def wait_for(folder: Path, poll: float = 5.0, timeout: float | None = None, show=None) -> list[dict]:
    """Poll :func:`grid_status` until every job has finished; ``show(rows)`` after each poll."""
    start = time.time()
    while True:
        rows = grid_status(folder)
        if show:
            show(rows)
        if all(is_finished(r) for r in rows):
            return rows
        if timeout is not None and time.time() - start > timeout:
            raise HarnessError(f"grid {folder.name}: jobs still running after {timeout:g} s (see `harness status`)")
        time.sleep(poll)


def summarize(rows: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["state"]] = counts.get(r["state"], 0) + 1
    return counts


def _main(argv: list[str]) -> int:
    """``python -m harness.executor SPEC.json``: run one job (what a local child runs)."""
    from .progress import stderr_console

    _configure_logging()
    if len(argv) != 1:
        print("usage: python -m harness.executor SPEC.json", file=sys.stderr)
        return 2
    spec = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    log.info("harness job %s (pid %d, CUDA_VISIBLE_DEVICES=%s): %s", Job(**spec).label, os.getpid(),
             os.environ.get("CUDA_VISIBLE_DEVICES", ""), shlex.join(sys.argv))
    try:
        for path in run_job(spec):
            print(path, flush=True)
    except HarnessError as e:
        stderr_console().print(f"[red]error:[/red] {e}", highlight=False, soft_wrap=True)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised through run_local's children
    sys.exit(_main(sys.argv[1:]))
