"""Fault injection for resumability tests: ``HARNESS_GPL_KILL_AT=<point>:<step>`` SIGKILLs the process there.

Points: ``step`` (after step N is logged, before any checkpoint of that step), ``round`` (while writing the
round of step N, after its training data and before its manifest). ``HARNESS_GPL_STALL_AT=<point>:<step>``
instead creates the file named by ``HARNESS_GPL_STALL_FILE`` and sleeps there until the process is killed or
signalled (a scheduler test cancels, requeues or times out the job mid-training); a process that finds that file
already there goes on, so a job that comes back (requeued, with the same environment) stalls only once. Unset in
normal use.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def fault_point(point: str, step: int) -> None:
    spec = os.environ.get("HARNESS_GPL_KILL_AT")
    if spec and spec == f"{point}:{step}":
        os.kill(os.getpid(), signal.SIGKILL)
    stall = os.environ.get("HARNESS_GPL_STALL_AT")
    if stall and stall == f"{point}:{step}":
        marker = Path(os.environ.get("HARNESS_GPL_STALL_FILE", "harness-stalled"))
        if marker.exists():  # stalled here once already (this job was requeued): go on
            return
        marker.touch()
        while True:
            time.sleep(1)
