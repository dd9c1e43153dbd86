"""Build the GPL / R-GPL analysis figures from training work folders (and models): ``make_figures``.

Figures 3, 4 and 6 need only the work folders. Figures 1, 2 and 5 also load the base model (``sources.json``'s
``student``), the adapted models (``<work>/model``), the teacher (``sources.json``'s ``teacher`` through
``harness.gpl.teacher.load_teacher``) and the dataset's corpus. A figure that cannot be made is reported with a
one-line reason and the others are still written; when ``--only`` names figures, any of them failing is an error.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import HarnessError
from ..gpl.workdir import WorkDir
from ..runs import manifest_path
from . import FIGURES, plots
from .data import pick_changed_query, round_stats, sample_ids, train_curve
from .models import ModelContext, load_model, passage_text, projection_2d


@dataclass
class FigureRequest:
    out: Path
    gpl: WorkDir | None = None  # given as a path; resolved to the work folder by make_figures
    rgpl: WorkDir | None = None
    only: list[int] | None = None
    dataset: str | None = None
    suite: str | None = None
    data_dir: str | None = None
    sample: int = 1000
    k: int = 100
    seed: int = 42
    queries: str = "generated"  # figure 1's queries: "generated" (the training queries) or "test"
    round: str = "first-remine"  # figure 5's remine round: a step, "first-remine" or "last"
    query: str | None = None  # figure 5's query id (default: the one whose negatives changed most)
    error_bars: str = "std"
    span: int = 50
    batch_size: int = 64
    device: str | None = None
    teacher_kind: str | None = None
    teacher: str | None = None

    def validate(self) -> None:
        if self.gpl is None and self.rgpl is None:
            raise HarnessError("give at least one training work folder: --gpl and/or --rgpl")
        if self.queries not in ("generated", "test"):
            raise HarnessError(f"--queries must be 'generated' or 'test', got '{self.queries}'")
        if self.error_bars not in ("std", "stderr"):
            raise HarnessError(f"--error-bars must be 'std' or 'stderr', got '{self.error_bars}'")
        for name, v in (("--sample", self.sample), ("--k", self.k), ("--span", self.span), ("--batch-size", self.batch_size)):
            if v < 1:
                raise HarnessError(f"{name} must be >= 1, got {v}")


@dataclass
class FigureReport:
    written: dict[int, list[Path]] = field(default_factory=dict)
    skipped: dict[int, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    info: dict[int, str] = field(default_factory=dict)  # what a written figure shows, in one line


def resolve_work_dir(value: str | os.PathLike) -> WorkDir:
    """A work folder, or a run's ``.trec`` / ``.manifest.json`` whose manifest records ``extra.work_dir``."""
    p = Path(value)
    if p.is_dir():
        return WorkDir.existing(p)
    if p.is_file():
        man = manifest_path(p) if p.name.endswith(".trec") else p
        try:
            work = json.loads(Path(man).read_text("utf-8")).get("extra", {}).get("work_dir")
        except (OSError, json.JSONDecodeError, AttributeError) as e:
            raise HarnessError(f"{man}: not a readable run manifest ({type(e).__name__})") from None
        if not work:
            raise HarnessError(f"{man}: the manifest records no extra.work_dir (is it a GPL / R-GPL run?)")
        return WorkDir.existing(work)
    raise HarnessError(f"no such work folder or run file: {p}")


def parse_only(value: str | None) -> list[int] | None:
    if not value:
        return None
    out = []
    for part in value.split(","):
        part = part.strip().lower().removeprefix("fig")
        if not part:
            continue
        if not part.isdigit() or int(part) not in FIGURES:
            raise HarnessError(f"--only: unknown figure '{part}'; figures are {', '.join(map(str, FIGURES))}")
        out.append(int(part))
    return sorted(set(out)) or None


# ---------------------------------------------------------------------------------------------- figures
def _figure1(req: FigureRequest, ctx: ModelContext, report: FigureReport, stem: Path) -> list[Path]:
    if req.queries == "generated":  # the training queries, over the passages the training mined from
        pool, kind = ctx.ref.generated_queries(), "training"
    else:  # the dataset's test queries, over its whole corpus
        pool, kind = ctx.dataset.queries, "dataset"
    qids = sample_ids(list(pool), req.sample, req.seed)
    queries = {q: pool[q] for q in qids}
    data = [ctx.topk("base", "Base, before adaptation", queries, req.k, corpus_kind=kind)]
    for key, lab in ctx.adapted():
        data.append(ctx.topk(key, f"{lab}, adapted", queries, req.k, corpus_kind=kind))
    what = "generated" if kind == "training" else "test"
    report.info[1] = (f"{len(queries)} {what} queries x top {req.k}; mean teacher score "
                      + ", ".join(f"{d.label.split(',')[0]} {d.flat().mean():.3f}" for d in data))
    return plots.fig1_teacher_scores_top100(data, stem, k=min(req.k, len(ctx.corpus(kind)[0])), queries=what)


def _figure2(req: FigureRequest, ctx: ModelContext, report: FigureReport, stem: Path) -> list[Path]:
    ref = ctx.ref
    r0 = ref.find_round(0).scores()
    groups: list[tuple[str, np.ndarray]] = [(miner_label(src), v) for src, v in sorted(r0.by_source.items())]
    if req.rgpl is not None and req.rgpl.remine_steps():
        last = req.rgpl.find_round("last").scores()
        if "student" in last.by_source:
            groups.append((f"R-GPL remined\n@ step {last.step}", last.by_source["student"]))
    subtitle = f"{len(r0.qids)} sampled queries, up to {r0.per_query} negatives per query and miner"
    try:
        hn = ref.find_round(0).negatives()
        pool = ref.generated_queries()
        missing = [q for q in r0.qids if q not in pool]
        if missing:
            raise HarnessError(f"query '{missing[0]}' of the negative-score sample is not among the generated queries")
        queries = {q: pool[q] for q in r0.qids}
        exclude = {q: set(hn[q].pos) if q in hn else set() for q in r0.qids}
        for key, lab in ctx.adapted():
            groups.append((f"{lab} model\n(final)", ctx.topk(key, lab, queries, r0.per_query, exclude=exclude).flat()))
    except HarnessError as e:
        if not any(lab.startswith("R-GPL remined") for lab, _ in groups):
            raise HarnessError(f"no adapted-model negatives to compare with: {e}") from None
        report.notes.append(f"figure 2: drawn without the final models' negatives ({e})")
    report.info[2] = "mean teacher score of the negatives: " + ", ".join(
        f"{lab.replace(chr(10), ' ')} {v.mean():.3f}" for lab, v in groups)
    return plots.fig2_negatives_per_miner(groups, stem, subtitle=subtitle)


def miner_label(source: str) -> str:
    """A short axis label for a round-0 miner: "student" is the base model; a path shows its last part."""
    if source == "student":
        return "student\n(base model)"
    name = source.rstrip("/\\").replace("\\", "/").split("/")[-1] if ("/" in source or "\\" in source) else source
    if len(name) > 18 and "-" in name:  # two lines, broken at the hyphen nearest the middle
        cut = min((i for i, c in enumerate(name) if c == "-"), key=lambda i: abs(i - len(name) / 2))
        name = name[: cut + 1] + "\n" + name[cut + 1:]
    return name


def _figure3(req: FigureRequest, ctx: ModelContext, report: FigureReport, stem: Path) -> list[Path]:
    curves = [train_curve(w, lab, "loss", req.span) for w, lab in ((req.gpl, "GPL"), (req.rgpl, "R-GPL")) if w]
    return plots.fig3_loss(curves, stem, span=req.span)


def _figure4(req: FigureRequest, ctx: ModelContext, report: FigureReport, stem: Path) -> list[Path]:
    curves = [train_curve(w, lab, "margin", req.span) for w, lab in ((req.gpl, "GPL"), (req.rgpl, "R-GPL")) if w]
    return plots.fig4_margin(curves, stem, span=req.span)


def _figure5(req: FigureRequest, ctx: ModelContext, report: FigureReport, stem: Path) -> list[Path]:
    if req.rgpl is None:
        raise HarnessError("needs an R-GPL work folder (--rgpl): GPL never re-mines")
    after_step = req.rgpl.find_round(req.round).step
    if after_step == 0:
        raise HarnessError("--round must name a remine round (step > 0)")
    before_step = max(s for s in req.rgpl.round_steps() if s < after_step)
    before, after = req.rgpl.round(before_step).negatives(), req.rgpl.round(after_step).negatives()
    if req.query is not None:
        qid = req.query
        if qid not in before or qid not in after:
            raise HarnessError(f"query '{qid}' has no negatives in round {before_step} and round {after_step}")
    else:
        round0 = req.rgpl.round(0)
        qid = pick_changed_query(before, after, round0.scores().qids if round0.has_scores() else None)
    pool = req.rgpl.generated_queries()
    if qid not in pool:
        raise HarnessError(f"query '{qid}' is not among the generated queries")
    corpus = ctx.corpus("training")[0]

    def texts(pids: list[str]) -> list[str]:
        bad = [p for p in pids if p not in corpus.index]
        if bad:
            raise HarnessError(f"passage '{bad[0]}' of query '{qid}' is not in the training corpus")
        return [passage_text(corpus, corpus.index[p]) for p in pids]

    pos_t, before_t, after_t = texts(after[qid].pos or before[qid].pos), texts(before.negatives(qid)), texts(after.negatives(qid))
    ckpt = req.rgpl.checkpoint_model(after_step)
    if ckpt is not None:
        encoder, where = load_model(str(ckpt), f"checkpoint at step {after_step}", req.device), f"the model at step {after_step}"
    else:
        encoder, where = ctx.encoder("rgpl"), "the final R-GPL model"
    proj = projection_2d(encoder, pool[qid], pos_t, before_t, after_t, normalize=ctx.score_function == "cos",
                           batch_size=req.batch_size)
    try:
        t = ctx.teacher
        proj.before_scores = t.score([pool[qid]] * len(before_t), before_t, batch_size=req.batch_size)
        proj.after_scores = t.score([pool[qid]] * len(after_t), after_t, batch_size=req.batch_size)
    except HarnessError as e:
        report.notes.append(f"figure 5: no teacher scores in the legend ({e})")
    before_by = "initial miners" if before_step == 0 else f"mined by the student at step {before_step}"
    proj.before_label = f"negatives before (round {before_step}, {before_by})"
    proj.after_label = f"negatives after (round {after_step}, mined by the student at step {after_step})"
    q = pool[qid] if len(pool[qid]) <= 70 else pool[qid][:67] + "..."
    proj.title = (f"Query {qid}: \u201c{q}\u201d\nbefore vs after the remine at step {after_step}; "
                  f"PCA of embeddings by {where}")
    report.info[5] = (f"query {qid}, negatives of round {before_step} vs round {after_step} "
                      f"({len(before_t)} vs {len(after_t)}), embedded by {where}")
    return plots.fig5_projection(proj, stem)


def _figure6(req: FigureRequest, ctx: ModelContext, report: FigureReport, stem: Path) -> list[Path]:
    rgpl = round_stats(req.rgpl) if req.rgpl else []
    gpl = round_stats(req.gpl) if req.gpl else None
    if req.rgpl and not rgpl:
        raise HarnessError(f"{req.rgpl.rounds_dir}: no round has teacher scores")
    report.info[6] = "rounds " + ", ".join(f"{r.step}: {r.mean:.3f} (n={r.n})" for r in rgpl or gpl or [])
    last = max((int(w.train_log().steps[-1]) for w in (req.gpl, req.rgpl)
                if w is not None and w.log_path.is_file()), default=None)
    return plots.fig6_negative_relevance_per_round(rgpl, stem, gpl=gpl or None, error=req.error_bars, last_step=last)


BUILDERS: dict[int, Callable[[FigureRequest, ModelContext, FigureReport, Path], list[Path]]] = {
    1: _figure1, 2: _figure2, 3: _figure3, 4: _figure4, 5: _figure5, 6: _figure6,
}


def make_figures(req: FigureRequest) -> FigureReport:
    """Render the requested figures (all by default); collect a reason for each one that cannot be made."""
    req.validate()
    req.gpl = resolve_work_dir(req.gpl) if req.gpl is not None else None
    req.rgpl = resolve_work_dir(req.rgpl) if req.rgpl is not None else None
    ctx = ModelContext(req)
    report = FigureReport()
    for num in req.only or sorted(FIGURES):
        try:
            report.written[num] = BUILDERS[num](req, ctx, report, Path(req.out) / FIGURES[num].stem)
        except HarnessError as e:
            report.skipped[num] = str(e)
    return report
