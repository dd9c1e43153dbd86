"""The GPL / R-GPL analysis figures (the paper's Figures 1-6).

* :mod:`~harness.figures.data`    figure data from the work folders alone (curves, per-round statistics, PCA)
* :mod:`~harness.figures.models`  figure data that needs models: teacher scores of retrieved passages, projections
* :mod:`~harness.figures.plots`   one matplotlib function per figure (PNG and PDF, written atomically)
* :mod:`~harness.figures.build`   ``make_figures(FigureRequest)``: what ``harness figures`` runs

A new figure: its data function (``data`` or ``models``), its plot function (``plots``), a ``FigureSpec`` below and
a builder in ``build.BUILDERS``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FigureSpec:
    number: int
    stem: str
    title: str
    needs_models: bool


FIGURES: dict[int, FigureSpec] = {
    1: FigureSpec(1, "fig1-teacher-scores-top100", "Teacher scores of the top-100 retrieved, before vs after adaptation", True),
    2: FigureSpec(2, "fig2-negatives-per-miner", "Teacher scores of hard negatives per miner vs the adapted model", True),
    3: FigureSpec(3, "fig3-loss", "Distillation loss (EMA) with remining steps, GPL vs R-GPL", False),
    4: FigureSpec(4, "fig4-margin", "Teacher margin over training steps", False),
    5: FigureSpec(5, "fig5-projection", "2D projection of a query, its positive and its negatives around a remine", True),
    6: FigureSpec(6, "fig6-negative-relevance-per-round", "Mean teacher relevance of the hard negatives per round", False),
}
