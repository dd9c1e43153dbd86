"""Inter-process locks (the ``filelock`` package) for everything two ``harness run`` processes could both write.

What is locked, and where the lock file lives:

* a run file ``runs/<suite>/<dataset>/<name>.trec`` -> ``.<name>.trec.lock`` beside it (held for the whole run
  of that dataset part, so a second process skips the finished run instead of writing it again);
* a GPL stage folder, the training work folder included -> ``<stage>/<key>/.lock`` inside it;
* a dense-embedding cache entry -> ``<entry>/.lock`` inside it;
* a dataset being downloaded into the cache -> ``<cache>/locks/.download-<folder>.lock`` (taken only for a dataset
  that can be downloaded, so a misspelt name leaves no lock file);
* ir_datasets' own cache (``~/.ir_datasets`` or IR_DATASETS_HOME), shared by every download -> ``.lock`` inside it,
  for the whole of a download.

A second process that wants a held lock logs who holds it (host, pid, command, since when) and waits; with
``HARNESS_LOCK_WAIT=<seconds>`` (or ``harness run --lock-wait``) it stops after that long with a
:class:`LockHeld` error naming the holder (``0``: stop at once). The locks are ``flock`` locks: the kernel drops
them when the holder dies, so a killed run never leaves a stale lock behind; the ``.holder.json`` note beside a
lock is only read to name the holder in the message.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import sys
import time
from pathlib import Path
from typing import Iterator

from .errors import HarnessError

log = logging.getLogger("harness")

WAIT_ENV = "HARNESS_LOCK_WAIT"


class LockHeld(HarnessError):
    """Another process holds the lock and we were told not to wait (longer)."""


def lock_path_for(target: str | os.PathLike, inside: bool = False) -> Path:
    """The lock file guarding ``target``: a hidden sibling ``.<name>.lock``, or ``<target>/.lock`` with ``inside``
    (for cache folders whose parent is listed by key, where a sibling would look like one more entry)."""
    p = Path(target)
    return p / ".lock" if inside else p.with_name(f".{p.name}.lock")


def _holder_path(lock: Path) -> Path:
    return lock.with_name(lock.name + ".holder.json")


def wait_seconds() -> float | None:
    """How long to wait for a held lock: None = forever (the default), 0 = not at all."""
    raw = os.environ.get(WAIT_ENV, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise HarnessError(f"{WAIT_ENV}='{raw}' is not a number of seconds") from None
    return None if value < 0 else value


def describe_holder(lock: Path) -> str:
    """``host pid 123 (harness run ...) since 12:00:01 UTC`` from the holder note, or a generic phrase."""
    try:
        h = json.loads(_holder_path(lock).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "another process (no holder note)"
    since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(h.get("since", 0)))
    job = f", Slurm job {h['slurm_job']}" if h.get("slurm_job") else ""
    return f"{h.get('host', '?')} pid {h.get('pid', '?')}{job} ({h.get('command', '?')}) since {since}"


def _write_holder(lock: Path, what: str) -> None:
    note = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time(), "what": what,
            "command": " ".join(Path(sys.argv[0]).name.split() + sys.argv[1:])[:300],
            "slurm_job": os.environ.get("SLURM_JOB_ID")}
    tmp = _holder_path(lock).with_name(f".{lock.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(note), encoding="utf-8")
    os.replace(tmp, _holder_path(lock))


@contextlib.contextmanager
def hold(target: str | os.PathLike, what: str, wait: float | None = None, inside: bool = False) -> Iterator[Path]:
    """Hold the lock guarding ``target`` for the block. ``what`` names it in messages ("run file x").

    ``wait``: seconds to wait when another process holds it (None: :func:`wait_seconds`, i.e. the environment's
    setting, default forever). Raises :class:`LockHeld` naming the holder when the wait runs out.
    """
    from filelock import FileLock, Timeout

    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and int(os.environ.get("RANK", "0")) != 0:
        yield lock_path_for(target, inside)  # a distributed training (--nproc): rank 0 holds the locks for the group
        return
    lock = lock_path_for(target, inside)
    lock.parent.mkdir(parents=True, exist_ok=True)
    budget = wait_seconds() if wait is None else wait
    fl = FileLock(str(lock), thread_local=False)
    try:
        fl.acquire(timeout=0)
    except Timeout:
        holder = describe_holder(lock)
        if budget == 0:
            raise LockHeld(f"{what} is in use by {holder}; lock {lock} (wait with {WAIT_ENV}=-1, or run later)") from None
        log.info("%s is in use by %s; waiting for its lock %s%s", what, holder, lock,
                 "" if budget is None else f" (at most {budget:g} s)")
        try:
            fl.acquire(timeout=-1 if budget is None else budget, poll_interval=0.2)
        except Timeout:
            raise LockHeld(f"{what} is still in use by {describe_holder(lock)} after {budget:g} s; lock {lock}") from None
        log.info("%s: lock acquired after waiting", what)
    try:
        _write_holder(lock, what)
        yield lock
    finally:
        with contextlib.suppress(OSError):
            _holder_path(lock).unlink()
        fl.release()
