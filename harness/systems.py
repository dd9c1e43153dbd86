"""The system protocol, the registry of systems, and typed ``--set key=value`` settings.

A system is a class with a ``Settings`` dataclass and a ``retrieve`` method (the built-in ones are the modules of
the repository's ``adapters/`` folder, installed under the import name ``harness_adapters`` so that it cannot
collide with other distributions' ``adapters``). Systems are found through the entry-point group
``harness.systems`` (``name = "module:Class"``), so another package adds one by declaring an entry point, without
editing the harness. The registry imports lazily, so a system whose heavy dependencies are missing does not break
the others (or the CLI's start-up time).
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import importlib.util
import logging
import math
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from .datasets import Dataset
from .errors import HarnessError, SettingsError
from .fileio import parse_decimal, stable_hash

log = logging.getLogger("harness")

ENTRY_POINT_GROUP = "harness.systems"
# Older names of presets, one definition for every system: ``--preset cpu`` is ``--preset offline`` wherever a system
# has an ``offline`` preset (the same settings, hence the same settings hash and the same run).
PRESET_ALIASES: dict[str, str] = {"cpu": "offline"}
ADAPTERS_PACKAGE = "harness_adapters"

# The built-in systems, also declared as entry points in pyproject.toml; kept here so that a source checkout whose
# installed metadata predates an entry point still finds them.
BUILTIN_SYSTEMS: dict[str, str] = {
    "bm25": "harness_adapters.bm25:BM25System",
    "base": "harness_adapters.base:BaseSystem",
    "gpl": "harness_adapters.gpl:GPLSystem",
    "rgpl": "harness_adapters.rgpl:RGPLSystem",
}


@dataclass
class RunContext:
    """What a system gets besides the dataset and its settings."""

    cache_dir: Path  # shared cache root; systems key their own sub-folders by content hashes
    seed: int = 42
    top_k: int = 1000  # results kept per query
    train_dataset: Dataset | None = None  # multi-part datasets: the union of the parts (systems with trains_on_union)


@dataclass
class SystemOutput:
    run: dict[str, dict[str, float]]  # qid -> docid -> score (at least top_k per query)
    models: dict[str, str] = field(default_factory=dict)  # role -> model name/path@revision
    extra: dict = field(default_factory=dict)  # anything worth recording in the manifest


class System(Protocol):
    name: ClassVar[str]
    description: ClassVar[str]
    Settings: ClassVar[type]
    # optional: ``trains_on_union = True`` makes the runner pass a multi-part dataset's union as ctx.train_dataset

    def retrieve(self, dataset: Dataset, settings: Any, ctx: RunContext) -> SystemOutput: ...


def import_adapters() -> None:
    """Make ``harness_adapters`` importable; from a source checkout it is the ``adapters/`` folder beside ``harness/``.

    An installed distribution maps the name itself (pyproject ``package-dir``); this covers running from a checkout
    (``python -m harness.cli`` in the repository, pytest) and an editable install made before the mapping existed.
    """
    if ADAPTERS_PACKAGE in sys.modules or importlib.util.find_spec(ADAPTERS_PACKAGE) is not None:
        return
    folder = Path(__file__).resolve().parents[1] / "adapters"
    if not (folder / "__init__.py").is_file():
        return
    spec = importlib.util.spec_from_file_location(ADAPTERS_PACKAGE, folder / "__init__.py",
                                                  submodule_search_locations=[str(folder)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[ADAPTERS_PACKAGE] = module
    spec.loader.exec_module(module)


def registered_systems() -> dict[str, str]:
    """Name -> ``module:Class``: the built-in systems, then those of the ``harness.systems`` entry points."""
    found = dict(BUILTIN_SYSTEMS)
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in found and found[ep.name] != ep.value:
            log.warning("system '%s' of entry point %s is ignored: the name is taken by %s", ep.name, ep.value, found[ep.name])
            continue
        found[ep.name] = ep.value
    return found


def get_system_class(name: str) -> type:
    systems = registered_systems()
    if name not in systems:
        raise HarnessError(f"unknown system '{name}'; registered: {', '.join(systems)}")
    module, _, attr = systems[name].partition(":")
    if module.split(".")[0] == ADAPTERS_PACKAGE:
        import_adapters()
    try:
        obj = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as e:
        raise HarnessError(f"system '{name}' ({systems[name]}) cannot be loaded ({e}); "
                           "is the package that provides it installed with its dependencies?") from None
    return obj


def available_systems() -> dict[str, type | str]:
    """Name -> class, or an error string for systems that do not import here."""
    out: dict[str, type | str] = {}
    for name in registered_systems():
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
            as_float = parse_decimal(raw)  # accepts 3e4; not '1_000' or non-ASCII digits
            if raw.lstrip("+-").isdigit():
                return int(raw)  # exactly, however long
            if not as_float.is_integer():
                raise ValueError(raw)
            return int(as_float)
        if tp is float:
            value = parse_decimal(raw)
            if not math.isfinite(value):
                raise SettingsError(f"setting '{key}': '{raw}' is not a finite number")
            return value
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


def build_settings(settings_cls: type, overrides: dict[str, str], preset: str | None = None,
                   system: str | None = None) -> Any:
    """Defaults, then the preset, then ``--set`` overrides, each value converted to the field's type. ``system``:
    the system's name, for messages."""
    hints = typing.get_type_hints(settings_cls)
    names = {f.name for f in dataclasses.fields(settings_cls)}
    values: dict[str, Any] = {}
    if preset:
        presets = getattr(settings_cls, "PRESETS", {})
        if preset not in presets and PRESET_ALIASES.get(preset) in presets:
            preset = PRESET_ALIASES[preset]
        if preset not in presets:
            whose = f" of system '{system}'" if system else ""
            raise SettingsError(f"unknown preset '{preset}'{whose}; " +
                                (f"presets: {', '.join(presets)}" if presets else "it has no presets"))
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


def preset_aliases(settings_cls: type) -> dict[str, str]:
    """The older preset names that apply to ``settings_cls`` (alias -> preset it names)."""
    presets = getattr(settings_cls, "PRESETS", {})
    return {old: new for old, new in PRESET_ALIASES.items() if new in presets and old not in presets}


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
