"""The system (adapter) protocol, the registry of systems, and typed ``--set key=value`` settings.

A system is a class in ``adapters/`` with a ``Settings`` dataclass and a ``retrieve`` method. The registry maps
names to ``module:Class`` strings and imports lazily, so a system whose heavy dependencies are missing does not
break the others (or the CLI's start-up time).
"""

from __future__ import annotations

import dataclasses
import importlib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from .datasets import Dataset
from .errors import HarnessError, SettingsError
from .fileio import stable_hash

SYSTEMS: dict[str, str] = {
    "bm25": "adapters.bm25:BM25System",
    "base": "adapters.base:BaseSystem",
    "gpl": "adapters.gpl:GPLSystem",
    "rgpl": "adapters.rgpl:RGPLSystem",
}


@dataclass
class RunContext:
    """What a system gets besides the dataset: where to cache, the seed, how many results to keep."""

    suite: str
    dataset_key: str
    run_name: str
    cache_dir: Path  # shared cache root; systems key their own sub-folders by content hashes
    seed: int = 42
    top_k: int = 1000
    extra: dict = field(default_factory=dict)


@dataclass
class SystemOutput:
    run: dict[str, dict[str, float]]  # qid -> docid -> score (at least top_k per query)
    models: dict[str, str] = field(default_factory=dict)  # role -> model name/path@revision
    extra: dict = field(default_factory=dict)  # anything worth recording in the manifest


class System(Protocol):
    name: ClassVar[str]
    description: ClassVar[str]
    Settings: ClassVar[type]

    def retrieve(self, dataset: Dataset, settings: Any, ctx: RunContext) -> SystemOutput: ...


def get_system_class(name: str) -> type:
    if name not in SYSTEMS:
        raise HarnessError(f"unknown system '{name}'; registered: {', '.join(SYSTEMS)}")
    module, cls = SYSTEMS[name].split(":")
    try:
        return getattr(importlib.import_module(module), cls)
    except ImportError as e:
        raise HarnessError(f"system '{name}' cannot be loaded ({e}); is the project installed with its dependencies?") from None


def available_systems() -> dict[str, type | str]:
    """Name -> class, or an error string for systems that do not import here."""
    out: dict[str, type | str] = {}
    for name in SYSTEMS:
        try:
            out[name] = get_system_class(name)
        except HarnessError as e:
            out[name] = str(e)
    return out


# -------------------------------------------------------------------------------------------- settings
def _convert(raw: str, tp: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if raw.lower() in ("none", "null", ""):
            return None
        return _convert(raw, args[0], key)
    if origin in (list, tuple):
        (inner, *_) = typing.get_args(tp) or (str,)
        items = [_convert(x.strip(), inner, key) for x in raw.split(",") if x.strip()]
        return items if origin is list else tuple(items)
    try:
        if tp is bool:
            low = raw.lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if tp is int:
            try:
                return int(raw)
            except ValueError:
                as_float = float(raw)  # accepts 3e4
                if not as_float.is_integer():
                    raise
                return int(as_float)
        if tp is float:
            return float(raw)
    except ValueError:
        raise SettingsError(f"setting '{key}': '{raw}' is not a valid {tp.__name__}") from None
    return raw


def parse_sets(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise SettingsError(f"--set '{pair}': expected key=value")
        k, v = pair.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def build_settings(settings_cls: type, overrides: dict[str, str], preset: str | None = None) -> Any:
    """Defaults, then the preset, then ``--set`` overrides, each value converted to the field's type."""
    hints = typing.get_type_hints(settings_cls)
    names = {f.name for f in dataclasses.fields(settings_cls)}
    values: dict[str, Any] = {}
    if preset:
        presets = getattr(settings_cls, "PRESETS", {})
        if preset not in presets:
            raise SettingsError(f"unknown preset '{preset}' for {settings_cls.__qualname__}; known: {', '.join(presets) or 'none'}")
        values.update(presets[preset])
    for k, raw in overrides.items():
        if k not in names:
            raise SettingsError(f"unknown setting '{k}'; settings are: {', '.join(sorted(names))}")
        values[k] = _convert(raw, hints[k], k)
    try:
        obj = settings_cls(**values)
    except (TypeError, ValueError) as e:
        raise SettingsError(f"invalid settings: {e}") from None
    if hasattr(obj, "validate"):
        obj.validate()
    return obj


def settings_dict(settings: Any) -> dict:
    return dataclasses.asdict(settings)


def settings_hash(system: str, settings: Any) -> str:
    return stable_hash({"system": system, "settings": settings_dict(settings)})


def describe_settings(settings_cls: type) -> list[tuple[str, str, str, str]]:
    """(name, type, default, help) for ``harness systems``."""
    hints = typing.get_type_hints(settings_cls)
    rows = []
    for f in dataclasses.fields(settings_cls):
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else "")
        tp = hints[f.name]
        rows.append((f.name, getattr(tp, "__name__", str(tp)).replace("typing.", ""), repr(default), f.metadata.get("help", "")))
    return rows
