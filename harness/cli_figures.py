"""``harness figures``: render the GPL / R-GPL analysis figures from training work folders (and models).

Figures 3, 4 and 6 need only the work folders. Figures 1, 2 and 5 also load the base model (``sources.json``'s
``student``), the adapted models (``<work>/model``), the teacher (``sources.json``'s ``teacher`` through
``harness.gpl.teacher.load_teacher``) and the dataset's corpus. A figure that cannot be made is reported with a
one-line reason and the others are still written; when ``--only`` names figures, any of them failing is an error.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import typer

from . import analysis as A
from .errors import HarnessError
from .gpl.workdir import WorkDir


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
        from .runs import manifest_path

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
    from .figures import FIGURES

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


class _MemoTeacher:
    """Wraps a teacher so that a (query, passage) pair scored once is not scored again."""

    def __init__(self, teacher):
        self.teacher = teacher
        self.name = getattr(teacher, "name", type(teacher).__name__)
        self._memo: dict[tuple[str, str], float] = {}

    def score(self, queries: list[str], passages: list[str], batch_size: int = 64) -> np.ndarray:
        todo = list(dict.fromkeys(pair for pair in zip(queries, passages) if pair not in self._memo))
        if todo:
            s = np.asarray(self.teacher.score([q for q, _ in todo], [p for _, p in todo], batch_size=batch_size),
                           dtype=np.float64).reshape(-1)
            if s.shape[0] != len(todo):
                raise HarnessError(f"teacher returned {s.shape[0]} scores for {len(todo)} pairs")
            self._memo.update(zip(todo, s.tolist()))
        return np.array([self._memo[pair] for pair in zip(queries, passages)], dtype=np.float64)


def _resolve_model_name(work: WorkDir, name: str) -> str:
    """A model named in ``sources.json``: ``local:<name>`` (resolved like the training does), a path relative to
    the work folder or the cwd, or a hub name."""
    if name.startswith("local:"):
        try:
            from .gpl.models import resolve_model
        except ImportError as e:
            raise HarnessError(f"cannot resolve model '{name}' ({e})") from None
        return resolve_model(name)
    local = work.resolve(name)
    return str(local) if local is not None and local.exists() else name


def _load_model(path_or_name: str, what: str, device: str | None, max_seq_length: int | None = None):
    from .dense import load_encoder

    try:
        return load_encoder(str(path_or_name), device=device, max_seq_length=max_seq_length)
    except HarnessError:
        raise
    except Exception as e:  # model loading fails in many library-specific ways
        raise HarnessError(f"cannot load the {what} '{path_or_name}' ({type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''})") from None


def find_dataset_info(key: str, suite: str | None = None):
    """The registry entry holding dataset key ``key`` (e.g. ``scifact``, ``cqadupstack/android``)."""
    from .registry import SUITE_NAMES, get_suite, resolve_dataset

    for sname in ([suite] if suite else SUITE_NAMES):
        for d in get_suite(sname).datasets:
            if key in d.part_names:
                return d
    return resolve_dataset(suite or "beir", key)


class ModelContext:
    """Loads, once and only when a figure asks, the dataset, teacher and encoders the model figures share."""

    def __init__(self, req: FigureRequest):
        self.req = req
        self._encoders: dict[str, object] = {}

    @cached_property
    def ref(self) -> WorkDir:
        return self.req.rgpl or self.req.gpl

    @cached_property
    def sources(self) -> dict:
        src = self.ref.sources()
        if self.req.gpl and self.req.rgpl:
            other = self.req.gpl.sources()
            for key in ("dataset", "corpus_fingerprint", "student"):
                if src.get(key) != other.get(key):
                    raise HarnessError(f"the GPL and R-GPL work folders differ in sources.json '{key}' "
                                       f"({other.get(key)!r} vs {src.get(key)!r}); compare trainings of one setup")
        return src

    @cached_property
    def score_function(self) -> str:
        settings = self.sources.get("settings") or {}
        sf = settings.get("score_function") or self.sources.get("score_function") or "dot"
        if sf not in ("dot", "cos"):
            raise HarnessError(f"{self.ref.sources_path}: unknown score_function '{sf}'")
        return sf

    @cached_property
    def dataset(self):
        from .datasets import load_dataset

        key = self.req.dataset or self.sources.get("dataset")
        if not key:
            raise HarnessError(f"{self.ref.sources_path} names no dataset; pass --dataset")
        info = find_dataset_info(key, self.req.suite)
        ds = load_dataset(info, key, self.req.data_dir, allow_download=False)
        want = self.sources.get("corpus_fingerprint")
        if want and want not in (ds.corpus_fingerprint, ds.fingerprint):
            raise HarnessError(f"the corpus of dataset '{key}' at {ds.path} is not the one the training used "
                               f"(corpus fingerprint {ds.corpus_fingerprint[:12]} != {str(want)[:12]}); pass --data-dir")
        return ds

    @cached_property
    def teacher(self) -> _MemoTeacher:
        t = self.sources.get("teacher") or {}
        kind = self.req.teacher_kind or (t.get("kind") if isinstance(t, dict) else None) or "cross-encoder"
        name = self.req.teacher or (t.get("name") if isinstance(t, dict) else t)
        if not name:
            raise HarnessError(f"{self.ref.sources_path} names no teacher; pass --teacher")
        try:
            return _MemoTeacher(self._load_teacher(kind, str(name)))
        except HarnessError:
            raise
        except Exception as e:
            raise HarnessError(f"cannot load the {kind} teacher '{name}' ({type(e).__name__}: {str(e)[:160]})") from None

    def _load_teacher(self, kind: str, name: str):
        """The teacher as the training loaded it (its max_seq_length and, for a bi-encoder, score function)."""
        try:
            from .gpl.teacher import load_teacher
        except ImportError as e:
            raise HarnessError(f"the teacher loader is unavailable ({e})") from None
        settings = self.sources.get("settings") or {}
        kw: dict = {"device": self.req.device} if self.req.device else {}
        if settings.get("teacher_max_seq_length"):
            kw["max_seq_length"] = int(settings["teacher_max_seq_length"])
        if kind == "bi-encoder" and settings.get("teacher_score_function"):
            kw["score_function"] = settings["teacher_score_function"]
        return load_teacher(kind, name, **kw)

    def encoder(self, which: str):
        """``base`` (the student before training), ``gpl`` or ``rgpl`` (the adapted models)."""
        if which not in self._encoders:
            if which == "base":
                student = self.sources.get("student")
                if not student:
                    raise HarnessError(f"{self.ref.sources_path} names no student model")
                path = _resolve_model_name(self.ref, str(student))
                msl = (self.sources.get("settings") or {}).get("max_seq_length")
                self._encoders[which] = _load_model(path, "base model", self.req.device, int(msl) if msl else None)
            else:
                work = {"gpl": self.req.gpl, "rgpl": self.req.rgpl}[which]
                if work is None:
                    raise HarnessError(f"no --{which} work folder given")
                model_dir = work.model_dir
                if not model_dir.is_dir():
                    raise HarnessError(f"no adapted model at {model_dir} (training not finished?)")
                self._encoders[which] = _load_model(str(model_dir), f"{which.upper()} model", self.req.device)
        return self._encoders[which]

    def adapted(self) -> list[tuple[str, str]]:
        """``(key, label)`` of the adapted models present."""
        return [(k, lab) for k, lab, w in (("gpl", "GPL", self.req.gpl), ("rgpl", "R-GPL", self.req.rgpl))
                if w is not None]

    @cached_property
    def training_corpus(self):
        """``(Corpus, fingerprint)`` the training mined from (its generated-data corpus), else the dataset's."""
        generated = self.ref.generated()
        if generated is not None and generated.corpus_path.is_file():
            return generated.corpus()
        return self.dataset.corpus, self.dataset.corpus_fingerprint

    def corpus(self, kind: str = "training"):
        """``(Corpus, fingerprint)``: "training" (where the generated queries' passages and negatives live) or
        "dataset" (the whole test collection)."""
        return self.training_corpus if kind == "training" else (self.dataset.corpus, self.dataset.corpus_fingerprint)

    def topk(self, which: str, label: str, queries: dict[str, str], k: int,
             exclude: dict[str, set[str]] | None = None, corpus_kind: str = "training") -> A.TopKScores:
        from .datasets import cache_root

        corpus, fp = self.corpus(corpus_kind)
        return A.teacher_scores_topk(self.encoder(which), self.teacher, corpus, queries, k=k, label=label,
                                     score_function=self.score_function, exclude=exclude,
                                     batch_size=self.req.batch_size, cache_dir=cache_root(), corpus_fingerprint=fp)


# ---------------------------------------------------------------------------------------------- figures
def _figure1(req: FigureRequest, ctx: ModelContext, report: FigureReport, stem: Path) -> list[Path]:
    from .figures import fig1_teacher_scores_top100

    if req.queries == "generated":  # the training queries, over the passages the training mined from
        pool, kind = ctx.ref.generated_queries(), "training"
    else:  # the dataset's test queries, over its whole corpus
        pool, kind = ctx.dataset.queries, "dataset"
    qids = A.sample_ids(list(pool), req.sample, req.seed)
    queries = {q: pool[q] for q in qids}
    data = [ctx.topk("base", "Base, before adaptation", queries, req.k, corpus_kind=kind)]
    for key, lab in ctx.adapted():
        data.append(ctx.topk(key, f"{lab}, adapted", queries, req.k, corpus_kind=kind))
    what = "generated" if kind == "training" else "test"
    report.info[1] = (f"{len(queries)} {what} queries x top {req.k}; mean teacher score "
                      + ", ".join(f"{d.label.split(',')[0]} {d.flat().mean():.3f}" for d in data))
    return fig1_teacher_scores_top100(data, stem, k=min(req.k, len(ctx.corpus(kind)[0])), queries=what)


def _figure2(req: FigureRequest, ctx: ModelContext, report: FigureReport, stem: Path) -> list[Path]:
    from .figures import fig2_negatives_per_miner

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
    return fig2_negatives_per_miner(groups, stem, subtitle=subtitle)


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
    from .figures import fig3_loss

    curves = [A.train_curve(w, lab, "loss", req.span) for w, lab in ((req.gpl, "GPL"), (req.rgpl, "R-GPL")) if w]
    return fig3_loss(curves, stem, span=req.span)


def _figure4(req: FigureRequest, ctx: ModelContext, report: FigureReport, stem: Path) -> list[Path]:
    from .figures import fig4_margin

    curves = [A.train_curve(w, lab, "margin", req.span) for w, lab in ((req.gpl, "GPL"), (req.rgpl, "R-GPL")) if w]
    return fig4_margin(curves, stem, span=req.span)


def _figure5(req: FigureRequest, ctx: ModelContext, report: FigureReport, stem: Path) -> list[Path]:
    from .figures import fig5_projection

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
        qid = A.pick_changed_query(before, after, round0.scores().qids if round0.has_scores() else None)
    pool = req.rgpl.generated_queries()
    if qid not in pool:
        raise HarnessError(f"query '{qid}' is not among the generated queries")
    corpus = ctx.corpus("training")[0]

    def texts(pids: list[str]) -> list[str]:
        bad = [p for p in pids if p not in corpus.index]
        if bad:
            raise HarnessError(f"passage '{bad[0]}' of query '{qid}' is not in the training corpus")
        return [A.passage_text(corpus, corpus.index[p]) for p in pids]

    pos_t, before_t, after_t = texts(after[qid].pos or before[qid].pos), texts(before.negatives(qid)), texts(after.negatives(qid))
    ckpt = req.rgpl.checkpoint_model(after_step)
    if ckpt is not None:
        encoder, where = _load_model(str(ckpt), f"checkpoint at step {after_step}", req.device), f"the model at step {after_step}"
    else:
        encoder, where = ctx.encoder("rgpl"), "the final R-GPL model"
    proj = A.projection_2d(encoder, pool[qid], pos_t, before_t, after_t, normalize=ctx.score_function == "cos",
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
    return fig5_projection(proj, stem)


def _figure6(req: FigureRequest, ctx: ModelContext, report: FigureReport, stem: Path) -> list[Path]:
    from .figures import fig6_negative_relevance_per_round

    rgpl = A.round_stats(req.rgpl) if req.rgpl else []
    gpl = A.round_stats(req.gpl) if req.gpl else None
    if req.rgpl and not rgpl:
        raise HarnessError(f"{req.rgpl.rounds_dir}: no round has teacher scores")
    report.info[6] = "rounds " + ", ".join(f"{r.step}: {r.mean:.3f} (n={r.n})" for r in rgpl or gpl or [])
    last = max((int(w.train_log().steps[-1]) for w in (req.gpl, req.rgpl)
                if w is not None and w.log_path.is_file()), default=None)
    return fig6_negative_relevance_per_round(rgpl, stem, gpl=gpl or None, error=req.error_bars, last_step=last)


BUILDERS: dict[int, Callable[[FigureRequest, ModelContext, FigureReport, Path], list[Path]]] = {
    1: _figure1, 2: _figure2, 3: _figure3, 4: _figure4, 5: _figure5, 6: _figure6,
}


def make_figures(req: FigureRequest) -> FigureReport:
    """Render the requested figures (all by default); collect a reason for each one that cannot be made."""
    from .figures import FIGURES

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


def register(app: typer.Typer) -> None:
    @app.command("figures")
    def figures_cmd(
        gpl: Optional[str] = typer.Option(None, "--gpl", help="GPL training work folder (or its run's .trec / manifest)."),
        rgpl: Optional[str] = typer.Option(None, "--rgpl", help="R-GPL training work folder (or its run's .trec / manifest)."),
        out: str = typer.Option("figures", "--out", help="Folder for fig<N>-*.png and .pdf."),
        only: Optional[str] = typer.Option(None, "--only", help="Comma-separated figure numbers, e.g. 3,4,6 (default: all six)."),
        dataset: Optional[str] = typer.Option(None, "--dataset", help="Dataset key (default: sources.json's)."),
        suite: Optional[str] = typer.Option(None, "--suite", help="Suite of --dataset (default: looked up)."),
        data_dir: Optional[str] = typer.Option(None, "--data-dir", help="Folder holding the dataset (or HARNESS_DATA_DIR)."),
        sample: int = typer.Option(1000, "--sample", help="Figure 1: queries sampled."),
        k: int = typer.Option(100, "--k", help="Figure 1: passages retrieved per query."),
        queries: str = typer.Option("generated", "--queries", help="Figure 1: 'generated' (training) or 'test' queries."),
        round_: str = typer.Option("first-remine", "--round", help="Figure 5: remine step, 'first-remine' or 'last'."),
        query: Optional[str] = typer.Option(None, "--query", help="Figure 5: query id (default: the one whose negatives changed most)."),
        error_bars: str = typer.Option("std", "--error-bars", help="Figure 6: 'std' or 'stderr'."),
        span: int = typer.Option(50, "--span", help="Figures 3, 4: EMA span in steps."),
        batch_size: int = typer.Option(64, "--batch-size"),
        device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda, ... (default: automatic)."),
        teacher_kind: Optional[str] = typer.Option(None, "--teacher-kind", help="Override sources.json: cross-encoder or bi-encoder."),
        teacher: Optional[str] = typer.Option(None, "--teacher", help="Override sources.json: teacher name or path."),
        seed: int = typer.Option(42, "--seed"),
    ) -> None:
        """Render the GPL / R-GPL analysis figures (PNG and PDF) from training work folders."""
        req = FigureRequest(out=Path(out), gpl=Path(gpl) if gpl else None, rgpl=Path(rgpl) if rgpl else None,
                            only=parse_only(only), dataset=dataset, suite=suite, data_dir=data_dir, sample=sample, k=k,
                            seed=seed, queries=queries, round=round_, query=query, error_bars=error_bars, span=span,
                            batch_size=batch_size, device=device, teacher_kind=teacher_kind, teacher=teacher)
        report = make_figures(req)
        for num, paths in sorted(report.written.items()):
            typer.echo(f"figure {num}: " + ", ".join(str(p) for p in paths))
            if num in report.info:
                typer.echo(f"  {report.info[num]}")
        for note in report.notes:
            typer.echo(f"note: {note}", err=True)
        for num, why in sorted(report.skipped.items()):
            typer.echo(f"figure {num} not made: {why}", err=True)
        if report.skipped and (req.only or not report.written):
            nums = ", ".join(map(str, sorted(report.skipped)))
            raise HarnessError(f"figure{'s' if len(report.skipped) > 1 else ''} {nums} could not be made "
                               f"({'; '.join(report.skipped[n] for n in sorted(report.skipped))})")
