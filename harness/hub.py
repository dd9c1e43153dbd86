"""Whether Hugging Face hub models can be fetched now, decided once and fast.

Without this, a hub name that is not in the local cache makes ``huggingface_hub`` retry for over a minute on a
machine without network before it fails. When the hub is off (``HF_HUB_OFFLINE=1``, ``HARNESS_OFFLINE``,
``harness run --no-download``) or its host does not answer within a few seconds, models load with
``local_files_only=True``: cached models still load, others fail at once with a message saying how to pass a
local folder.
"""

from __future__ import annotations

import os
import socket
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

PROBE_TIMEOUT_S = 3.0
LOCAL_MODEL_HINT = ("pass a local model folder instead (e.g. --set model=/path/to/model for base; "
                    "`harness systems` lists each system's model settings)")


def gpl_model_hint(setting: str, name: str) -> str:
    """What to do when GPL's ``setting`` (teacher, generator, student) named ``name`` cannot be loaded: nothing new
    when ``name`` is a local folder; otherwise how to pass one, or the preset that needs no hub model."""
    if Path(name).expanduser().exists():
        return ""
    why = offline_reason()
    return (f" ({why + '; ' if why else ''}not a local folder: pass one with --set {setting}=/path/to/model, or use "
            "--preset offline, which needs no cross-encoder or query generator)")


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no", "off")


@lru_cache(maxsize=4)
def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S):
            return True
    except OSError:
        return False


def offline_reason() -> str | None:
    """Why hub models cannot be downloaded now (one phrase), or None when the hub looks reachable."""
    if _flag("HF_HUB_OFFLINE"):
        return "HF_HUB_OFFLINE is set"
    if _flag("HARNESS_OFFLINE"):
        return "HARNESS_OFFLINE is set (or --no-download was given)"
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return None  # the hub is reached through a proxy; a direct probe would say nothing
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host, port = url.hostname or "huggingface.co", url.port or (80 if url.scheme == "http" else 443)
    if not _reachable(host, port):
        return f"the Hugging Face hub ({host}) cannot be reached"
    return None


def local_files_only(name_or_path: str) -> bool:
    """``local_files_only`` for a transformers / sentence-transformers loader: True for a hub name while the hub is off."""
    return not Path(name_or_path).expanduser().exists() and offline_reason() is not None
