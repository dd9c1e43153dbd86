"""Fault injection for resumability tests: ``HARNESS_GPL_KILL_AT=<point>:<step>`` SIGKILLs the process there.

Points: ``step`` (after step N is logged, before any checkpoint of that step), ``round`` (while writing the
round of step N, after its training data and before its manifest). Unset in normal use.
"""

from __future__ import annotations

import os
import signal


def fault_point(point: str, step: int) -> None:
    spec = os.environ.get("HARNESS_GPL_KILL_AT")
    if spec and spec == f"{point}:{step}":
        os.kill(os.getpid(), signal.SIGKILL)
