"""Benchmark facts as data: suites, their datasets, splits, metrics and display groups.

The facts live in ``harness/suites/*.json``; this module only reads them. Renderers and the CLI ask the
registry and know nothing about specific benchmarks.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from .errors import HarnessError


@dataclass(frozen=True)
class DatasetInfo:
    """One test set of a suite. ``parts`` (e.g. CQADupStack's subforums) are evaluated apart and macro-averaged."""

    name: str
    display: str
    suite: str
    group: str
    split: str = "test"
    metric: str = "ndcg_cut_10"
    ir_datasets: str | None = None
    parts: tuple[str, ...] = ()
    exclude_self_hits: bool = False
    domain: str | None = None
    query_set: str | None = None

    @property
    def lotte_query_set(self) -> str:
        """LoTTE's ``search`` or ``forum``: the registry's ``query_set``, else the name's suffix (``lifestyle.forum``)."""
        return self.query_set or self.name.split(".")[-1]

    @property
    def part_names(self) -> tuple[str, ...]:
        """Dataset keys that hold files and run files: ``cqadupstack/android``... or just ``name``."""
        return tuple(f"{self.name}/{p}" for p in self.parts) if self.parts else (self.name,)


@dataclass(frozen=True)
class Suite:
    name: str
    display: str
    metric: str
    metric_display: str
    layout: str
    groups: tuple[str, ...]
    datasets: tuple[DatasetInfo, ...]
    average_rows: tuple[dict, ...] = field(default_factory=tuple)

    def get(self, name: str) -> DatasetInfo:
        for d in self.datasets:
            if d.name == name:
                return d
        raise HarnessError(
            f"unknown {self.name} dataset '{name}'{did_you_mean(name, self.names())}; known: {', '.join(self.names())}"
        )

    def names(self) -> list[str]:
        return [d.name for d in self.datasets]


SUITE_NAMES = ("beir", "lotte")


@lru_cache(maxsize=None)
def get_suite(name: str) -> Suite:
    if name not in SUITE_NAMES:
        raise HarnessError(f"unknown suite '{name}'; choose one of: {', '.join(SUITE_NAMES)}")
    raw = json.loads(resources.files("harness.suites").joinpath(f"{name}.json").read_text("utf-8"))
    datasets = tuple(
        DatasetInfo(
            suite=raw["name"],
            metric=d.get("metric", raw["metric"]),
            parts=tuple(d.get("parts", ())),
            **{k: v for k, v in d.items() if k not in ("metric", "parts")},
        )
        for d in raw["datasets"]
    )
    return Suite(
        name=raw["name"],
        display=raw["display"],
        metric=raw["metric"],
        metric_display=raw["metric_display"],
        layout=raw["layout"],
        groups=tuple(raw["groups"]),
        datasets=datasets,
        average_rows=tuple(raw.get("average_rows", ())),
    )


def all_dataset_names() -> dict[str, str]:
    """Every registered dataset name (and CQADupStack forum key) -> its suite."""
    out: dict[str, str] = {}
    for sname in SUITE_NAMES:
        for d in get_suite(sname).datasets:
            out[d.name] = sname
            out.update({k: sname for k in d.part_names})
    return out


def did_you_mean(name: str, candidates: list[str] | None = None) -> str:
    """``" (did you mean 'scifact'?)"`` for a near-miss of a registered name (difflib), else ``""``."""
    pool = candidates if candidates is not None else list(all_dataset_names())
    close = difflib.get_close_matches(name.lower(), pool, n=2, cutoff=0.75)
    if not close:
        return ""
    return " (did you mean " + " or ".join(f"'{c}'" for c in close) + "?)"


def infer_suite(names: list[str] | None) -> str:
    """The suite of the named datasets when ``--suite`` is not given: lotte when they are all LoTTE names, else beir."""
    if not names:
        return "beir"
    known = all_dataset_names()
    suites = {known.get(n, "beir") for n in names}
    if len(suites) > 1:
        lotte = [n for n in names if known.get(n) == "lotte"]
        raise HarnessError(f"--datasets mixes LoTTE ({', '.join(lotte)}) and BEIR datasets; run each suite on its own "
                           "with --suite lotte / --suite beir")
    return suites.pop()


def custom_dataset(name: str, suite: str = "beir", metric: str = "ndcg_cut_10", split: str = "test") -> DatasetInfo:
    """A user's own BEIR-layout folder, run by its folder name."""
    return DatasetInfo(name=name, display=name, suite=suite, group="Custom", split=split, metric=metric)


def resolve_dataset(suite: str, name: str) -> DatasetInfo:
    """A registered dataset, or a custom one (BEIR suite only) when the name is not registered."""
    s = get_suite(suite)
    for d in s.datasets:
        if d.name == name:
            return d
    if suite == "beir":
        if all_dataset_names().get(name) == "lotte":
            raise HarnessError(f"'{name}' is a LoTTE dataset: use --suite lotte (or leave --suite out)")
        return custom_dataset(name)
    return s.get(name)  # raises with the list of known names
