"""Fault injection for resumability tests: ``HARNESS_GPL_KILL_AT=<point>:<step>`` SIGKILLs the process there.

Points: ``step`` (after step N is logged, before any checkpoint of that step), ``round`` (while writing the
round of step N, after its training data and before its manifest). ``HARNESS_GPL_STALL_AT=<point>:<step>``
instead creates the file named by ``HARNESS_GPL_STALL_FILE`` and sleeps there until the process is killed (a
scheduler test cancels the job mid-training). Unset in normal use.
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
        Path(os.environ.get("HARNESS_GPL_STALL_FILE", "harness-stalled")).touch()
        while True:
            time.sleep(1)
