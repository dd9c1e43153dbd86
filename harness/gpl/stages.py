"""Stage caching: each stage's outputs live in ``<cache>/gpl/<stage>/<key>/`` where ``key`` hashes its inputs.

A stage folder is complete once ``stage.json`` exists (written last, atomically); anything else in an
incomplete folder is partial work the stage may resume from. Changing a setting changes the keys of exactly the
stages that depend on it, so only those are recomputed.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..fileio import read_json, stable_hash, write_json

STAGE_VERSION = 1  # bump when a stage's procedure changes (invalidates every cache entry)


@dataclass
class Stage:
    root: Path  # <cache>/gpl
    kind: str  # qgen, mine, negatives, labels, train
    inputs: dict
    key: str = field(init=False)
    dir: Path = field(init=False)

    def __post_init__(self) -> None:
        self.key = stable_hash({"stage": self.kind, "version": STAGE_VERSION, **self.inputs})
        self.dir = Path(self.root) / self.kind / self.key

    @property
    def done(self) -> bool:
        return (self.dir / "stage.json").is_file()

    def start(self) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        self._t0 = time.time()
        return self.dir

    def finish(self, **info) -> None:
        info.setdefault("seconds", round(time.time() - getattr(self, "_t0", time.time()), 3))
        write_json(self.dir / "stage.json", {"stage": self.kind, "key": self.key, "inputs": self.inputs, **info})

    def info(self) -> dict:
        return read_json(self.dir / "stage.json")

    def lock(self):
        """Inter-process lock on this stage folder (see :mod:`harness.locks`): one writer, others wait."""
        from ..locks import hold

        return hold(self.dir, f"GPL {self.kind} folder {self.dir}", inside=True)


def link_or_copy(src: Path, dst: Path) -> None:
    """Hard-link ``src`` to ``dst`` (copy across file systems), replacing ``dst`` atomically."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.tmp")
    if tmp.exists():
        tmp.unlink()
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)
