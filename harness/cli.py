"""The ``harness`` command line (typer). Each group of commands lives in its own module and registers here."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import List, Optional

import typer

from . import cli_eval, cli_figures, cli_grid, cli_leaderboard
from .errors import HarnessError
from .progress import stderr_console

class _FlagsTakeNoValue:
    """A boolean flag takes no value, so its line in ``--help`` shows no type: typer >= 0.2x prints ``--force <bool>``
    as if it took one (and ``--quiet true`` then looks right to a user). Blanks the metavar of every flag, including
    flags added later and ``--help`` itself."""

    def get_params(self, ctx):
        params = super().get_params(ctx)
        for p in params:
            if getattr(p, "is_flag", False) and getattr(p, "metavar", None) is None:
                p.metavar = ""
        return params


class _Group(_FlagsTakeNoValue, typer.core.TyperGroup):
    pass


app = typer.Typer(cls=_Group, add_completion=False, no_args_is_help=True,
                  help="Benchmark harness for unsupervised domain adaptation of dense retrievers (BM25, Base, GPL, R-GPL).")


DATA_DIR_HELP = ("Data folder with <beir-name>/ and lotte/<domain>/test/ (default: HARNESS_DATA_DIR, else "
                 "~/.cache/harness/data, where downloads are kept).")


@app.callback()
def _options(debug: bool = typer.Option(False, "--debug", help="On an error, also print its full cause (or HARNESS_DEBUG=1).")) -> None:
    """Benchmark harness for unsupervised domain adaptation of dense retrievers (BM25, Base, GPL, R-GPL)."""


_ARGV: list[str] = []  # the command line main() runs (``--nproc`` re-launches it under torch.distributed)


@app.command("run")
def run_cmd(
    system: str = typer.Option(..., "--system", "-s", help="System name(s), comma-separated (see `harness systems`)."),
    suite: Optional[str] = typer.Option(None, "--suite", help="beir or lotte (default: lotte when every --datasets name is a LoTTE one, else beir)."),
    datasets: Optional[str] = typer.Option(None, "--datasets", "-d", help="Comma-separated dataset names (default: the whole suite)."),
    data_dir: Optional[str] = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    out: str = typer.Option("runs", "--out", help="Runs folder: writes <out>/<suite>/<dataset>/<name>.trec."),
    sets: List[str] = typer.Option([], "--set", help="Override a setting: --set key=value (repeatable)."),
    preset: Optional[str] = typer.Option(None, "--preset", help="A named settings preset of the system (`harness systems SYSTEM`)."),
    name: Optional[str] = typer.Option(None, "--name", help="Run name (default: the system name), e.g. rgpl-k10k."),
    seed: int = typer.Option(42, "--seed"),
    top_k: int = typer.Option(1000, "--top-k", help="Results kept per query."),
    force: bool = typer.Option(False, "--force", help="Recompute even if an identical run file exists."),
    no_download: bool = typer.Option(False, "--no-download", help="Never download a missing dataset or model."),
    lenient_qrels: bool = typer.Option(False, "--lenient-qrels", help=cli_eval.LENIENT_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="For scripts: print only the run files' paths, no log and no scores."),
    sweep: List[str] = typer.Option([], "--sweep", help="Grid over a setting: --sweep key=v1,v2,... (repeatable)."),
    executor: Optional[str] = typer.Option(None, "--executor", help="Run as a grid of jobs: local or slurm."),
    jobs: int = typer.Option(1, "--jobs", "-j", help="local executor: jobs at a time (one GPU each when present)."),
    wait: bool = typer.Option(False, "--wait", help="slurm: follow the jobs until they finish, with a progress view."),
    status: bool = typer.Option(False, "--status", help="Show the state of this grid's jobs instead of running."),
    profile: Optional[str] = typer.Option(None, "--profile", help="slurm: TOML profile (a slurm table, overridden per system by slurm.<system> tables)."),
    partition: Optional[str] = typer.Option(None, "--partition", help="slurm: partition."),
    time_limit: Optional[str] = typer.Option(None, "--time", help="slurm: time limit per job (minutes or D-HH:MM:SS)."),
    gpus: Optional[int] = typer.Option(None, "--gpus", help="slurm: GPUs per job."),
    cpus: Optional[int] = typer.Option(None, "--cpus", help="slurm: CPUs per job."),
    mem: Optional[str] = typer.Option(None, "--mem", help="slurm: memory per job, e.g. 32G."),
    account: Optional[str] = typer.Option(None, "--account", help="slurm: account to charge."),
    sbatch: List[str] = typer.Option([], "--sbatch", help="slurm: extra sbatch option, e.g. --sbatch=--qos=high (repeatable)."),
    lock_wait: Optional[float] = typer.Option(None, "--lock-wait", help="Seconds to wait for a run file or work folder another process holds (default: forever; 0: stop at once)."),
    nproc: int = typer.Option(1, "--nproc", help="GPL/R-GPL: train on N processes (DDP, one GPU each; gloo on CPU); "
                                                  "batch_size stays the effective batch (per-rank batch x N)."),
) -> None:
    """Run a system over a suite, write TREC run files plus manifests, and print each dataset's score."""
    if nproc != 1:
        from .gpl.distributed import launch, launched, strip_nproc

        if launched():
            raise HarnessError("--nproc: already inside a distributed launch (torchrun); leave --nproc out")
        others = [x for x in system.split(",") if x.strip() not in ("gpl", "rgpl")]
        if others:
            raise HarnessError(f"--nproc: only GPL/R-GPL training runs on several processes, not '{others[0]}'")
        code = launch(strip_nproc(_ARGV or sys.argv[1:]), nproc)
        if code:
            stderr_console().print(f"[red]error:[/red] --nproc {nproc}: a worker failed (exit status {code}); the same command resumes")
            sys.exit(code)
        return
    import os

    from .registry import infer_suite
    from .runner import RunRequest, run, selected_datasets
    from .systems import parse_sets

    if quiet:
        logging.getLogger("harness").setLevel(logging.WARNING)
    if no_download:  # models too: hub names load from the local cache only (see harness.hub)
        os.environ["HARNESS_OFFLINE"] = "1"
    names = [d.strip() for d in datasets.split(",") if d.strip()] if datasets else None
    suite = suite or infer_suite(names)
    if lock_wait is not None:
        os.environ["HARNESS_LOCK_WAIT"] = str(lock_wait)  # children and Slurm jobs inherit it
    systems = [x.strip() for x in system.split(",") if x.strip()]
    if len(systems) > 1 or sweep or executor or status:  # a grid of jobs (harness.executor)
        from .cli_grid import run_grid
        from .executor import expand_grid, parse_sweep

        grid = expand_grid(systems, suite, names, parse_sweep(sweep), parse_sets(sets), preset, name, seed=seed,
                           top_k=top_k, data_dir=str(Path(data_dir).resolve()) if data_dir else None,
                           out=str(Path(out).resolve()), force=force, allow_download=not no_download,
                           lenient_qrels=lenient_qrels)
        run_grid(grid, executor or "local", jobs, wait, status, profile,
                 {"partition": partition, "time": time_limit, "gpus": gpus, "cpus": cpus, "mem": mem,
                  "account": account, "extra": sbatch})
        return
    req = RunRequest(system=system, suite=suite, datasets=names,
                     data_dir=data_dir, out=out, sets=parse_sets(sets), preset=preset, name=name, seed=seed, top_k=top_k,
                     force=force, allow_download=not no_download, lenient_qrels=lenient_qrels)
    paths = run(req)
    from .gpl.distributed import is_main

    if not is_main():  # a rank of a distributed training: rank 0 writes and reports
        return
    if quiet:
        for path in paths:
            typer.echo(str(path))
        return
    _print_scores(selected_datasets(suite, names), req, paths)


def _print_scores(infos, req, paths) -> None:
    """One line per dataset: the suite's metric (x100) and the run file(s); a dataset without qrels shows the path."""
    from .evaluate import Metric, evaluate_dataset
    from .runs import run_path

    name = req.name or req.system
    for info in infos:
        metric = Metric.parse(info.metric)
        files = [run_path(req.out, info.suite, key, name) for key in info.part_names]
        where = str(files[0]) if len(files) == 1 else f"{Path(req.out) / info.suite / info.name}/*/{name}.trec ({len(files)} parts)"
        try:
            score = evaluate_dataset(info, name, req.out, req.data_dir, (metric,),
                                     lenient_qrels=req.lenient_qrels).mean(metric)
        except HarnessError as e:  # e.g. no qrels for a custom folder
            logging.getLogger("harness").debug("no score for %s: %s", info.name, e)
            typer.echo(f"{info.suite}/{info.name}  {name}  {where}")
            continue
        typer.echo(f"{info.suite}/{info.name}  {name}  {metric.display} {100 * score:.1f}  {where}")


@app.command("datasets")
def datasets_cmd(
    suite: Optional[str] = typer.Option(None, "--suite", help="Only this suite."),
    data_dir: Optional[str] = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
) -> None:
    """List the registered test sets and whether each is present in the data folder."""
    from .datasets import is_present, resolve_data_dir
    from .registry import SUITE_NAMES, get_suite

    suites = [get_suite(sname) for sname in ([suite] if suite else SUITE_NAMES)]
    splits = {d.split for s in suites for d in s.datasets}
    one_split = splits.pop() if len(splits) == 1 else None
    title = "Registered test sets" + (f" (split: {one_split})" if one_split else "")
    folder, source = resolve_data_dir(data_dir)
    caption = f"data folder: {folder} ({'the default; set --data-dir or HARNESS_DATA_DIR' if source == 'default' else 'from ' + source})"
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, caption=caption, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    longest = max(len(d.name) for s in suites for d in s.datasets)
    cols = ("suite", "name", "display", "group") + (() if one_split else ("split",)) + ("metric", "parts", "local")
    for col in cols:
        # the name is what users type: never shorten it on a narrow terminal
        table.add_column(col, min_width={"name": longest, "local": 5}.get(col))
    for s in suites:
        for d in s.datasets:
            split = () if one_split else (d.split,)
            table.add_row(s.name, d.name, d.display, d.group, *split, s.metric_display, str(len(d.parts) or ""),
                          "yes" if is_present(d, data_dir) else "no")
    out = Console()
    (out if out.is_terminal else Console(width=120)).print(table)


@app.command("systems")
def systems_cmd(
    system: Optional[str] = typer.Argument(None, help="Only this system."),
    preset: Optional[str] = typer.Option(None, "--preset", help="Print the settings this preset resolves to (with SYSTEM)."),
    sets: List[str] = typer.Option([], "--set", help="With --preset or SYSTEM: apply key=value overrides too."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Every setting with its full help and each preset's values."),
) -> None:
    """List the registered systems (SYSTEM: its settings; --verbose: every setting, its help and each preset's values);
    SYSTEM --preset P prints the settings P resolves to."""
    from .systems import available_systems, build_settings, get_system_class, parse_sets, settings_dict

    if system and (preset or sets):
        cls = get_system_class(system)
        resolved = settings_dict(build_settings(cls.Settings, parse_sets(sets), preset, system=system))
        typer.echo(f"# {system}" + (f" --preset {preset}" if preset else "") + "".join(f" --set {s}" for s in sets))
        width = max(len(k) for k in resolved)
        for k, v in resolved.items():
            typer.echo(f"{k:<{width}}  {_show(v)}")
        return
    if preset:
        raise HarnessError("--preset needs a system: harness systems SYSTEM --preset NAME")
    systems = {system: get_system_class(system)} if system else available_systems()
    if not verbose:  # one line per system, or per setting of SYSTEM
        for name, cls in systems.items():
            if isinstance(cls, str):
                typer.echo(f"{name}: unavailable ({cls})")
                continue
            typer.echo(f"{name}: {cls.description}\n{' ' * (len(name) + 2)}{_presets_line(cls.Settings)}")
            if system:
                _print_settings(cls.Settings)
        typer.echo(f"`harness systems {system} --preset P`: the settings P gives; --verbose: each preset's values and "
                   "the full help" if system else
                   "`harness systems NAME`: a system's settings; --verbose: every setting with its help and each "
                   "preset's values")
        return
    from rich.console import Console

    out = Console()
    if not out.is_terminal:
        out = Console(width=160)
    for name, cls in systems.items():
        if isinstance(cls, str):
            out.print(f"[bold]{name}[/bold]: unavailable ({cls})")
            continue
        out.print(_settings_table(name, cls))


def _presets_line(settings_cls) -> str:
    from .systems import preset_aliases

    names = list(getattr(settings_cls, "PRESETS", {}))
    names += [f"{old} (= {new})" for old, new in preset_aliases(settings_cls).items()]
    return "presets: " + (", ".join(names) or "none")


def _print_settings(settings_cls) -> None:
    """One line per setting: name, type, default and the help, cut to the terminal's width (120 columns piped)."""
    import shutil

    from .systems import describe_settings

    def cut(text: str, n: int) -> str:
        return text if len(text) <= n else text[:max(0, n - 1)] + "\u2026"

    rows = [(name, tp, cut(default, 36), help_text) for name, tp, default, help_text in describe_settings(settings_cls)]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    width = shutil.get_terminal_size((120, 24)).columns if sys.stdout.isatty() else 120
    for name, tp, default, help_text in rows:
        line = f"  {name:<{widths[0]}}  {tp:<{widths[1]}}  {default:<{widths[2]}}  "
        typer.echo((line + cut(help_text, width - len(line))).rstrip())


def _settings_table(name: str, cls):
    """``--verbose``: one row per setting with its type, default, each preset's value and the full help."""
    from rich import box
    from rich.table import Table

    from .systems import describe_settings, settings_dict

    presets = getattr(cls.Settings, "PRESETS", {})
    table = Table(title=f"{name}: {cls.description} ({_presets_line(cls.Settings)})", title_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False)
    rows = describe_settings(cls.Settings)
    try:
        defaults = settings_dict(cls.Settings()) if presets else {}
    except Exception:  # a plug-in's settings with required fields: show every preset value
        defaults = {}
    table.add_column("setting", min_width=max(len(r[0]) for r in rows), no_wrap=True)
    table.add_column("type")
    table.add_column("default", max_width=36, overflow="fold")
    for p in presets:  # one column per preset: the value it sets where that differs from the default
        table.add_column(f"--preset {p}", max_width=36, overflow="fold")
    table.add_column("help", min_width=20)
    for field_name, tp, default, help_text in rows:
        cells = [_show(presets[p][field_name]) if field_name in presets[p] and presets[p][field_name] != defaults.get(field_name, object())
                 else "" for p in presets]
        table.add_row(field_name, tp, default, *cells, help_text)
    if presets:
        table.caption = "a blank preset cell keeps the default; `harness systems NAME --preset P` lists all settings P gives"
    return table


def _show(value) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value) or "(none)"
    return (value or "''") if isinstance(value, str) else str(value)


for _commands in (cli_eval, cli_figures, cli_grid, cli_leaderboard):  # each module adds its group of commands
    _commands.register(app)
for _info in app.registered_commands:  # every command's --help: flags without a type (see _FlagsTakeNoValue)
    _cls = _info.cls or typer.core.TyperCommand
    if not issubclass(_cls, _FlagsTakeNoValue):
        _info.cls = type(_cls.__name__, (_FlagsTakeNoValue, _cls), {})


def _configure_logging(debug: bool) -> None:
    """The project's own log lines (logger ``harness``) go to stderr; other libraries speak only when they warn."""
    from .progress import configure_logging

    configure_logging(debug)


def _print_cause(e: BaseException) -> None:
    """The whole traceback, including the causes the one-line errors hide (they are raised ``from None``)."""
    import traceback

    seen, cur = set(), e
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        cur.__suppress_context__ = False
        cur = cur.__cause__ or cur.__context__
    traceback.print_exception(type(e), e, e.__traceback__, file=sys.stderr)


def _print_error(message: str) -> None:
    """``error: <message>`` on one line of stderr: the message's brackets are text, not rich markup, and a control
    character it quotes from the input (a newline inside an id) is shown escaped (``\\n``)."""
    from rich.markup import escape

    text = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in message)
    stderr_console().print(f"[red]error:[/red] {escape(text)}", highlight=False, soft_wrap=True)


def _is_usage_error(e: BaseException) -> bool:
    """A command-line usage error: click's ``ClickException`` family (an unknown command or option, a missing or
    ill-typed value). Told apart by class name, not by ``isinstance``: typer >= 0.2x raises the exceptions of the copy
    of click it bundles (``typer._click``), which are not subclasses of ``click``'s own, and older typers raise
    click's."""
    return any(cls.__name__ == "ClickException" for cls in type(e).__mro__)


def _print_usage_error(e: BaseException, args: list[str]) -> None:
    """One line naming the problem and where the help is; with no command at all, the help itself."""
    ctx = getattr(e, "ctx", None)
    if type(e).__name__ == "NoArgsIsHelpError" and ctx is not None:  # bare ``harness``: show what it can do
        text = ctx.get_help()  # typer's rich help prints itself and returns ""; click's returns the text
        if text:
            typer.echo(text)
        return
    format_message = getattr(e, "format_message", None)
    message = " ".join(str(format_message() if callable(format_message) else e).split()) or type(e).__name__
    command = getattr(ctx, "command_path", "") or " ".join(["harness"] + args[:1 if args and args[0][:1] != "-" else 0])
    _print_error(f"{message} (see '{command} --help')")


def main(argv: list[str] | None = None) -> None:
    """Console entry point: a HarnessError or a usage error becomes one line on stderr and exit status 2 (``--debug``:
    with its cause)."""
    import os

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("HARNESS_DEBUG", "").strip() not in ("", "0")
    args = [a for a in args if a != "--debug"]  # accepted anywhere on the line
    previous = os.environ.get("HARNESS_DEBUG")
    if debug:
        os.environ["HARNESS_DEBUG"] = "1"  # also read by the data layer (library log lines); restored below
    _ARGV[:] = args  # --nproc re-launches this command line
    _configure_logging(debug)
    try:
        app(args=args, standalone_mode=False, prog_name="harness")
    except HarnessError as e:
        if debug:
            _print_cause(e)
        _print_error(str(e))
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        stderr_console().print("aborted")
        sys.exit(130)
    except Exception as e:
        if not _is_usage_error(e):
            raise
        if debug:
            _print_cause(e)
        _print_usage_error(e, args)
        sys.exit(2)
    finally:
        if previous is None:
            os.environ.pop("HARNESS_DEBUG", None)
        else:
            os.environ["HARNESS_DEBUG"] = previous


if __name__ == "__main__":  # pragma: no cover
    main()
