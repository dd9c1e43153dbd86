"""Matplotlib figures for the GPL / R-GPL analyses: one function per figure, each writing ``<stem>.png`` and
``<stem>.pdf`` atomically from data computed by :mod:`harness.figures.data` and :mod:`harness.figures.models`."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from ..errors import HarnessError  # noqa: E402
from . import FIGURES  # noqa: E402
from .data import Curve, RoundStat  # noqa: E402
from .models import Projection, TopKScores  # noqa: E402
from ..fileio import default_file_mode  # noqa: E402


# One colour per system, the same in every figure.
COLORS = {"base": "#7f7f7f", "gpl": "#1f77b4", "rgpl": "#d62728"}
MINER_COLORS = ["#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf"]
REMINE_STYLE = dict(color="#444444", linestyle="--", linewidth=0.8, alpha=0.7)


def color_for(label: str, i: int = 0) -> str:
    low = label.lower().replace("-", "")
    if low.startswith("rgpl"):
        return COLORS["rgpl"]
    if low.startswith("gpl"):
        return COLORS["gpl"]
    if low.startswith("base") or "before" in low:
        return COLORS["base"]
    return MINER_COLORS[i % len(MINER_COLORS)]


def save_figure(fig, stem: str | os.PathLike) -> list[Path]:
    """Write ``<stem>.png`` and ``<stem>.pdf`` atomically (temp file beside the target, then ``os.replace``)."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    written = []
    try:
        for ext, kw in (("png", {"dpi": 150}), ("pdf", {})):
            target = stem.with_name(f"{stem.name}.{ext}")
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".{ext}", dir=target.parent)
            os.fchmod(fd, default_file_mode())  # mkstemp's 0600 would hide the figure from collaborators
            os.close(fd)
            try:
                fig.savefig(tmp, format=ext, bbox_inches="tight", **kw)
                os.replace(tmp, target)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
            written.append(target)
    finally:
        plt.close(fig)
    return written


def _remine_lines(ax, steps: Sequence[int], label: str = "R-GPL remine") -> None:
    for i, s in enumerate(steps):
        ax.axvline(s, label=label if i == 0 else None, **REMINE_STYLE)


# ----------------------------------------------------------------------------------------------- Fig 1
def fig1_teacher_scores_top100(data: Sequence[TopKScores], stem: str | os.PathLike, k: int = 100,
                               queries: str = "") -> list[Path]:
    """Distribution (left) and mean by rank (right) of the teacher scores of each model's top-k."""
    data = [d for d in data if d.flat().size]
    if not data:
        raise HarnessError("figure 1: no teacher scores to plot")
    fig, (ax_h, ax_r) = plt.subplots(1, 2, figsize=(11, 4.2))
    allv = np.concatenate([d.flat() for d in data])
    bins = np.linspace(allv.min(), allv.max(), 41) if allv.max() > allv.min() else 10
    for i, d in enumerate(data):
        v = d.flat()
        c = color_for(d.label, i)
        ax_h.hist(v, bins=bins, density=True, histtype="step", linewidth=1.8, color=c,
                  label=f"{d.label}: mean {v.mean():.2f}")
        ax_h.axvline(v.mean(), color=c, linestyle=":", linewidth=1.2)
        by_rank = d.mean_by_rank()
        ax_r.plot(np.arange(1, by_rank.size + 1), by_rank, color=c, linewidth=1.6, label=d.label)
    from matplotlib.ticker import MaxNLocator

    n_q = max(len(d.qids) for d in data)
    ax_h.set_xlabel("teacher score")
    ax_h.set_ylabel("density")
    ax_h.set_title(f"Distribution over {n_q} {queries + ' ' if queries else ''}queries x top {k} (dotted: means)")
    ax_r.set_xlabel("rank")
    ax_r.set_ylabel("mean teacher score")
    ax_r.set_title("Mean teacher score by rank")
    ax_r.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_r.grid(alpha=0.3)
    handles, labels = ax_h.get_legend_handles_labels()
    handles = [Line2D([], [], color=h.get_edgecolor(), linewidth=1.8) for h in handles]
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=9, frameon=False,
               bbox_to_anchor=(0.5, -0.06))
    fig.suptitle(f"Teacher scores of the top-{k} retrieved, before vs after adaptation", fontsize=11)
    return save_figure(fig, stem)


# ----------------------------------------------------------------------------------------------- Fig 2
def fig2_negatives_per_miner(groups: Sequence[tuple[str, np.ndarray]], stem: str | os.PathLike,
                             subtitle: str = "") -> list[Path]:
    """Box plots (mean marked) of the teacher scores of the negatives from each miner and each adapted model."""
    groups = [(lab, np.asarray(v, dtype=np.float64)) for lab, v in groups if np.asarray(v).size]
    if not groups:
        raise HarnessError("figure 2: no negative scores to plot")
    fig, ax = plt.subplots(figsize=(max(6.0, 1.5 * len(groups) + 2), 4.6))
    labels = [f"{lab}\n(n={v.size})" for lab, v in groups]
    bp = ax.boxplot([v for _, v in groups], patch_artist=True, showmeans=True, showfliers=False, widths=0.6,
                    meanprops=dict(marker="D", markerfacecolor="white", markeredgecolor="black", markersize=5))
    ax.set_xticks(np.arange(1, len(groups) + 1), labels)
    for i, (patch, (lab, v)) in enumerate(zip(bp["boxes"], groups)):
        patch.set_facecolor(color_for(lab, i))
        patch.set_alpha(0.55)
        ax.annotate(f"{v.mean():.2f}", (i + 1, v.mean()), xytext=(8, 0), textcoords="offset points", fontsize=8,
                    va="center")
    ax.set_ylabel("teacher score of the negative")
    ax.set_xlabel("negatives mined by")
    ax.set_title(FIGURES[2].title + (f"\n{subtitle}" if subtitle else ""), fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(handles=[Line2D([], [], marker="D", color="black", markerfacecolor="white", linestyle="", label="mean"),
                       Line2D([], [], color="orange", label="median")], fontsize=8, loc="upper left",
              bbox_to_anchor=(1.0, 1.0), frameon=False)
    return save_figure(fig, stem)


# ------------------------------------------------------------------------------------------- Figs 3, 4
def _curve_figure(curves: Sequence[Curve], stem, ylabel: str, title: str, span: int, logy: bool) -> list[Path]:
    curves = [c for c in curves if len(c.steps)]
    if not curves:
        raise HarnessError(f"{title}: no training steps to plot")
    fig, ax = plt.subplots(figsize=(8, 4.4))
    for i, c in enumerate(curves):
        col = color_for(c.label, i)
        # the first curve is drawn thinner and on top, so that curves that coincide (GPL and R-GPL agree until the
        # first re-mine) both stay visible
        top = i == 0 and len(curves) > 1
        ax.plot(c.steps, c.raw, color=col, alpha=0.18, linewidth=0.7)
        ax.plot(c.steps, c.smooth, color=col, linewidth=1.3 if top else 2.4, zorder=4 if top else 3,
                label=f"{c.label} (EMA over {span} steps)")
    remines = sorted({s for c in curves if c.label.lower().replace("-", "").startswith("rgpl") for s in c.remines}
                     or {s for c in curves for s in c.remines})
    _remine_lines(ax, remines)
    if logy and all(np.nanmin(c.raw) > 0 for c in curves):
        from matplotlib.ticker import FuncFormatter

        ax.set_yscale("log")

        def minor(v: float, _pos) -> str:  # label 2, 3 and 5 times a power of ten only
            m = v / 10 ** np.floor(np.log10(v))
            return f"{v:g}" if any(abs(m - x) < 1e-6 for x in (2, 3, 5)) else ""

        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(FuncFormatter(minor))
    ax.set_xlabel("training step")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, stem)


def fig3_loss(curves: Sequence[Curve], stem: str | os.PathLike, span: int = 50) -> list[Path]:
    """Distillation (MarginMSE) loss per step, EMA-smoothed, with dashed lines at R-GPL's remine steps."""
    return _curve_figure(curves, stem, "MarginMSE distillation loss", "Distillation loss, GPL vs R-GPL (dashed: remining)",
                         span, logy=True)


def fig4_margin(curves: Sequence[Curve], stem: str | os.PathLike, span: int = 50) -> list[Path]:
    """Mean teacher margin score(q, pos) - score(q, neg) of each batch, EMA-smoothed, with remine steps."""
    return _curve_figure(curves, stem, "teacher margin  score(q,pos) - score(q,neg)",
                         "Teacher margin of the training batches (dashed: remining)", span, logy=False)


# ----------------------------------------------------------------------------------------------- Fig 5
def fig5_projection(proj: Projection, stem: str | os.PathLike) -> list[Path]:
    """Scatter of the PCA coordinates: query (star), positive(s), negatives before / after, shared ringed."""
    fig, ax = plt.subplots(figsize=(6.8, 6))

    def label(base: str, scores: np.ndarray | None, n: int) -> str:
        return f"{base}: {n}" + (f", mean teacher score {np.mean(scores):.2f}" if scores is not None and len(scores) else "")

    only_b = ~proj.before_shared
    ax.scatter(proj.before[only_b, 0], proj.before[only_b, 1], marker="o", s=38, color=COLORS["gpl"], alpha=0.75,
               label=label(proj.before_label, proj.before_scores, len(proj.before)))
    only_a = ~proj.after_shared
    ax.scatter(proj.after[only_a, 0], proj.after[only_a, 1], marker="^", s=44, color=COLORS["rgpl"], alpha=0.75,
               label=label(proj.after_label, proj.after_scores, len(proj.after)))
    if proj.after_shared.any():
        ax.scatter(proj.after[proj.after_shared, 0], proj.after[proj.after_shared, 1], marker="s", s=44,
                   facecolor="none", edgecolor="black", linewidth=1.2, label=f"in both ({int(proj.after_shared.sum())})")
    ax.scatter(proj.positive[:, 0], proj.positive[:, 1], marker="P", s=140, color="#2ca02c", edgecolor="black",
               label="positive", zorder=5)
    ax.scatter(proj.query[:, 0], proj.query[:, 1], marker="*", s=300, color="gold", edgecolor="black", label="query",
               zorder=6)
    ax.set_xlabel(f"PC 1 ({100 * proj.explained[0]:.0f}% of variance)")
    ax.set_ylabel(f"PC 2 ({100 * proj.explained[1]:.0f}% of variance)")
    ax.set_title(proj.title or FIGURES[5].title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=1, frameon=False)
    return save_figure(fig, stem)


# ----------------------------------------------------------------------------------------------- Fig 6
def fig6_negative_relevance_per_round(rgpl: Sequence[RoundStat], stem: str | os.PathLike,
                                      gpl: Sequence[RoundStat] | None = None, error: str = "std",
                                      last_step: int | None = None) -> list[Path]:
    """Mean teacher score of each round's hard negatives with error bars (``error``: "std" or "stderr").

    GPL never re-mines, so its round-0 negatives are drawn as a flat dashed line up to ``last_step`` (default: the
    last R-GPL round).
    """
    if error not in ("std", "stderr"):
        raise HarnessError(f"figure 6: error bars must be 'std' or 'stderr', got '{error}'")
    rgpl = list(rgpl)
    if not rgpl and not gpl:
        raise HarnessError("figure 6: no rounds with teacher scores")
    fig, ax = plt.subplots(figsize=(8, 4.4))
    if rgpl:
        x = np.array([r.step for r in rgpl])
        y = np.array([r.mean for r in rgpl])
        e = np.array([r.std if error == "std" else r.stderr for r in rgpl])
        ax.errorbar(x, y, yerr=e, color=COLORS["rgpl"], marker="o", capsize=4, linewidth=1.6,
                    label=f"R-GPL (mean ± {'std' if error == 'std' else 'std. error'})")
        for r in rgpl:
            ax.annotate(f"n={r.n}", (r.step, r.mean), xytext=(4, 6), textcoords="offset points", fontsize=7)
    if gpl:
        g0 = gpl[0]
        x_end = max([r.step for r in rgpl] + [g0.step + 1, last_step or 0])
        ge = g0.std if error == "std" else g0.stderr
        ax.hlines(g0.mean, 0, x_end, color=COLORS["gpl"], linewidth=1.8, linestyle="--", zorder=5,
                  label=f"GPL: round-0 negatives throughout (band: ± {'std' if error == 'std' else 'std. error'})")
        ax.fill_between([0, x_end], g0.mean - ge, g0.mean + ge, color=COLORS["gpl"], alpha=0.10, zorder=0)
    ax.set_xlabel("training step at which the negatives were mined (0 = initial miners)")
    ax.set_ylabel("mean teacher score of the hard negatives")
    ax.set_title(FIGURES[6].title, fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)
    return save_figure(fig, stem)
