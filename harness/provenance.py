"""What a run file is and how to make it again, read from its manifest: the preset its settings come from, the
command that regenerates it, and whether it ran a given setting (the paper's) like for like.

This is the one owner of those answers: the reproduction report (``harness.published``) labels the cells whose runs
did not run the paper's setting with it, and the leaderboard site (``harness.leaderboard``) shows the command of
every cell with it.

A *setting* is what ``harness run`` takes: a system, a preset and ``--set`` overrides. Settings that change only speed
or where a run happens (each Settings class lists them in ``RUNTIME_SETTINGS``: batch sizes, device, threads) are
left out when two settings are compared, but kept in the regenerating command, so that the command re-creates the
manifest's settings exactly.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import DataError, HarnessError

DEFAULT_SEED = 42  # harness run's defaults: left out of a regenerating command
DEFAULT_TOP_K = 1000


def _system_class(system: str) -> type:
    from .systems import get_system_class

    return get_system_class(system)


def runtime_settings(system: str) -> frozenset[str]:
    return frozenset(getattr(_system_class(system).Settings, "RUNTIME_SETTINGS", ()))


def resolve(system: str, preset: str | None = None, overrides: dict[str, str] | None = None) -> dict[str, Any]:
    """The settings ``harness run --system SYSTEM [--preset P] [--set k=v ...]`` runs with, as a manifest records them."""
    from .systems import build_settings, settings_dict

    return settings_dict(build_settings(_system_class(system).Settings, dict(overrides or {}), preset))


def as_arg(value: Any) -> str:
    """A recorded setting value as ``--set`` text that converts back to the same value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, (list, tuple)):
        return ",".join(as_arg(v) for v in value)
    return repr(value) if isinstance(value, float) else str(value)


def differences(system: str, ours: dict, theirs: dict, runtime: bool = False) -> list[tuple[str, Any, Any]]:
    """(key, ours, theirs) for each setting recorded in both that differs, in the Settings class's field order;
    runtime settings only with ``runtime``."""
    skip = frozenset() if runtime else runtime_settings(system)
    return [(k, ours[k], theirs[k]) for k in theirs if k in ours and k not in skip and ours[k] != theirs[k]]


@dataclass(frozen=True)
class Setting:
    """``--system S [--preset P] [--set k=v ...]``; ``unknown`` (the reason) when nobody recorded what ran."""

    system: str
    preset: str | None = None
    settings: dict[str, str] = field(default_factory=dict)
    unknown: str = ""

    @classmethod
    def from_dict(cls, raw: Any, where: str) -> "Setting":
        """A published column's ``setting`` object, validated (errors name ``where``)."""
        if not isinstance(raw, dict) or not isinstance(raw.get("system"), str):
            raise DataError(f"{where}: 'setting' must be an object with a 'system' name")
        extra = set(raw) - {"system", "preset", "settings", "unknown"}
        if extra:
            raise DataError(f"{where}: 'setting' has unknown field(s) {', '.join(sorted(extra))} "
                            "(use system, preset, settings, unknown)")
        preset, sets, unknown = raw.get("preset"), raw.get("settings", {}), raw.get("unknown", "")
        if preset is not None and not isinstance(preset, str):
            raise DataError(f"{where}: 'setting.preset' must be a preset name or null")
        if not isinstance(sets, dict) or not all(isinstance(v, (str, int, float)) for v in sets.values()):
            raise DataError(f"{where}: 'setting.settings' must map setting names to values as --set takes them")
        if not isinstance(unknown, str):
            raise DataError(f"{where}: 'setting.unknown' must say why the setting is not known")
        return cls(raw["system"], preset, {k: str(v) for k, v in sets.items()}, unknown)

    def command(self) -> str:
        """The short form, e.g. ``rgpl --preset paper --set remine_every=10000``."""
        parts = [self.system] + ([f"--preset {self.preset}"] if self.preset else [])
        parts += [f"--set {k}={shlex.quote(v)}" for k, v in self.settings.items()]
        return " ".join(parts)

    def resolved(self) -> dict[str, Any]:
        return resolve(self.system, self.preset, self.settings)


def closest_preset(system: str, settings: dict) -> tuple[str | None, dict[str, Any]]:
    """The preset (None: the defaults) that gives ``settings`` with the fewest ``--set`` overrides, and those overrides
    (every recorded setting that differs from it, runtime ones too). Ties go to the fewer result-changing
    overrides, then to the defaults, then to the preset listed first."""
    presets = [None] + list(getattr(_system_class(system).Settings, "PRESETS", {}))
    runtime = runtime_settings(system)
    best = None
    for i, preset in enumerate(presets):
        base = resolve(system, preset)
        over = {k: v for k, _, v in ((k, base[k], settings[k]) for k in base if k in settings) if base[k] != v}
        rank = (sum(k not in runtime for k in over), len(over), i)
        if best is None or rank < best[0]:
            best = (rank, preset, over)
    return best[1], best[2]


@dataclass
class Verdict:
    """How our run stands against a setting: ``same`` (like for like), ``different`` or ``unknown``."""

    status: str
    text: str  # what ran, and how it differs; empty for ``same``
    differences: list[tuple[str, Any, Any]] = field(default_factory=list)

    @property
    def like_for_like(self) -> bool:
        return self.status == "same"


@dataclass
class RunProvenance:
    """One run file and its manifest (``None``: no manifest beside it)."""

    path: Path
    manifest: dict | None

    @classmethod
    def of(cls, trec_path: str | Path) -> "RunProvenance":
        from .runs import read_manifest

        try:
            manifest = read_manifest(trec_path)
        except ValueError as e:  # json.JSONDecodeError
            raise DataError(f"{trec_path}: its manifest is not valid JSON ({e})") from None
        return cls(Path(trec_path), manifest)

    def _need(self) -> dict:
        if self.manifest is None:
            raise HarnessError(f"{self.path}: no manifest beside it ({self.path.stem}.manifest.json)")
        return self.manifest

    @property
    def system(self) -> str:
        return self._need()["system"]

    @property
    def settings(self) -> dict:
        return self._need().get("settings", {})

    def installed(self) -> bool:
        """Whether the run's system can be loaded here (a plug-in's may not be): without it presets are unknown."""
        try:
            _system_class(self.system)
        except HarnessError:
            return False
        return True

    def origin(self) -> tuple[str | None, dict[str, Any]]:
        """(closest preset, overrides) of the recorded settings; (None, all of them) for a system not installed."""
        if not self.installed():
            return None, dict(self.settings)
        return closest_preset(self.system, self.settings)

    def describe(self) -> str:
        """What ran, as a short setting: ``base --preset offline --set model=/tmp/m`` (result-changing overrides)."""
        if self.manifest is None:
            return "unknown (no manifest)"
        if not self.installed():
            return f"{self.system} (not installed here: its presets are not known)"
        preset, over = self.origin()
        runtime = runtime_settings(self.system)
        sets = [f"--set {k}={shlex.quote(as_arg(v))}" for k, v in over.items() if k not in runtime]
        return " ".join([self.system] + ([f"--preset {preset}"] if preset else []) + sets)

    def unrecorded(self) -> list[str]:
        """Settings the system has today that the manifest does not record (the run predates them)."""
        if self.manifest is None or not self.installed():
            return []
        return [k for k in resolve(self.system) if k not in self.settings]

    def command(self, suite: str, dataset: str, data_dir: str = "DATA", out: str = "runs") -> str:
        """The ``harness run`` line that regenerates this run file (same settings, seed and depth)."""
        from .registry import infer_suite

        m = self._need()
        preset, over = self.origin()
        args = ["harness", "run", "--system", self.system]
        if infer_suite([dataset]) != suite:
            args += ["--suite", suite]
        args += ["--datasets", dataset]
        if preset:
            args += ["--preset", preset]
        for k, v in over.items():
            args += ["--set", f"{k}={as_arg(v)}"]
        if m.get("name", self.system) != self.system:
            args += ["--name", m["name"]]
        if m.get("seed", DEFAULT_SEED) != DEFAULT_SEED:
            args += ["--seed", str(m["seed"])]
        if m.get("top_k", DEFAULT_TOP_K) != DEFAULT_TOP_K:
            args += ["--top-k", str(m["top_k"])]
        args += ["--data-dir", data_dir, "--out", out]
        return " ".join(shlex.quote(a) for a in args)

    def against(self, setting: Setting | None, shown: int = 4) -> Verdict:
        """Whether this run ran ``setting`` like for like (result-changing settings only), and if not what it ran."""
        if setting is None:
            return Verdict("unknown", "the published file does not record the setting behind this column")
        if setting.unknown:
            return Verdict("unknown", setting.unknown)
        if self.manifest is None:
            return Verdict("unknown", f"no manifest beside {self.path.name}: what ran is not known")
        if self.system != setting.system:
            return Verdict("different", f"ran system '{self.system}' ({self.describe()}), not {setting.command()}")
        if not self.installed():
            return Verdict("unknown", f"system '{self.system}' is not installed here: its settings cannot be compared")
        diffs = differences(self.system, self.settings, setting.resolved())
        if not diffs:
            return Verdict("same", "")
        listed = ", ".join(f"{k}={as_arg(a)} (paper: {as_arg(b)})" for k, a, b in diffs[:shown])
        more = f" and {len(diffs) - shown} more" if len(diffs) > shown else ""
        return Verdict("different", f"ran {self.describe()}, not {setting.command()}: {listed}{more}", diffs)


def dataset_verdict(info, runs_dir: str | Path, name: str, setting: Setting | None) -> Verdict:
    """``RunProvenance.against`` for the run files of every part of a dataset (CQADupStack's 12 forums): the first
    part that is not like for like decides."""
    from .runs import run_path

    verdicts = [RunProvenance.of(run_path(runs_dir, info.suite, key, name)).against(setting) for key in info.part_names]
    return next((v for v in verdicts if v.status == "different"), None) or \
        next((v for v in verdicts if v.status == "unknown"), verdicts[0])
