"""Usage errors on the command line: one line on stderr naming the problem and the help to read, exit status 2, no
traceback (the README's promise), in this process through ``main()`` and in a real ``harness`` process; and
``--help`` shows flags as flags."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_cli

# argv, words the one line must hold
USAGE_ERRORS = [
    (["run", "--sytem", "bm25"], ["--sytem", "--system", "harness run --help"]),  # a misspelt option
    (["run"], ["--system", "harness run --help"]),  # a required option left out
    (["compare", "bm25"], ["'b'", "harness compare --help"]),  # a required argument left out
    (["nosuchcmd"], ["nosuchcmd", "harness --help"]),  # an unknown command
    (["run", "--system", "bm25", "--seed", "abc"], ["--seed", "integer", "harness run --help"]),  # a value of the wrong type
    (["run", "--system", "bm25", "--quiet", "true"], ["true", "harness run --help"]),  # a value given to a flag
    (["run", "--system", "bm25", "--quiet=true"], ["--quiet", "does not take a value"]),
    (["table", "--format"], ["--format", "harness table --help"]),  # an option without its value
    (["--nosuch"], ["--nosuch", "harness --help"]),
]


def assert_one_line(code: int, out: str, err: str, words: list[str]) -> None:
    assert code == 2, (code, err)
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err and "╭" not in err and out == ""
    for w in words:
        assert w in lines[0], (w, lines[0])


@pytest.mark.parametrize("argv,words", USAGE_ERRORS, ids=[" ".join(a) for a, _ in USAGE_ERRORS])
def test_usage_error_is_one_line_and_status_2(argv, words):
    r = run_cli(*argv)
    assert_one_line(r.returncode, r.stdout, r.stderr, words)


def _installed_harness() -> str:
    exe = Path(sys.executable).with_name("harness")
    return str(exe) if exe.is_file() else shutil.which("harness") or pytest.fail("the harness console script is not installed")


def test_usage_errors_in_a_real_harness_process(tmp_path):
    """The console script a user runs (typer's own exception display included): all cases at once, in parallel."""
    env = {**os.environ, "COLUMNS": "80", "HARNESS_CACHE": str(tmp_path)}
    procs = [subprocess.Popen([_installed_harness(), *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env, cwd=tmp_path) for argv, _ in USAGE_ERRORS]
    for (argv, words), p in zip(USAGE_ERRORS, procs):
        out, err = p.communicate(timeout=120)
        assert_one_line(p.returncode, out, err, words)


def test_bare_harness_shows_the_help_without_a_traceback():
    r = run_cli()
    shown = r.stdout + r.stderr
    assert r.returncode == 2 and "Traceback" not in shown and "NoArgsIsHelpError" not in shown
    assert "Usage: harness" in shown and " run " in shown and " evaluate " in shown


def test_usage_errors_are_recognised_from_click_and_from_typers_bundled_copy():
    import click

    from harness.cli import _is_usage_error
    from harness.errors import HarnessError

    kinds = [click.exceptions.UsageError("x"), click.exceptions.BadParameter("x"), click.exceptions.NoSuchOption("--x")]
    try:  # typer >= 0.2x raises its own copy's exceptions, which are not click's subclasses
        from typer._click import exceptions as bundled
    except ImportError:
        bundled = None
    if bundled is not None:
        kinds += [bundled.UsageError("x"), bundled.BadParameter("x"), bundled.NoSuchOption("--x")]
        assert not isinstance(bundled.UsageError("x"), click.exceptions.ClickException)  # why isinstance is not used
    assert all(_is_usage_error(e) for e in kinds)
    assert not any(_is_usage_error(e) for e in (HarnessError("x"), ValueError("x"), KeyError("x")))


def test_help_shows_no_value_type_for_flags():
    """``--force <bool>`` reads as if the flag took a value; every flag of every command shows none."""
    import typer.main

    from harness.cli import app

    group = typer.main.get_command(app)
    commands = {"": group, **{name: group.get_command(None, name) for name in group.list_commands(None)}}
    checked = 0
    for name, cmd in commands.items():
        r = run_cli(*([name] if name else []), "--help")
        assert r.returncode == 0, r.stderr
        flags = [p for p in cmd.get_params(cmd.context_class(cmd, info_name=name or "harness")) if getattr(p, "is_flag", False)]
        for p in flags:
            line = next((l for l in r.stdout.splitlines() if f" {p.opts[0]} " in l), None)
            assert line is not None, (name, p.opts[0])
            assert "<bool>" not in line and "BOOLEAN" not in line, line
            checked += 1
    assert checked >= 12  # --help of each command, --debug, --force, --quiet, --standalone, --all, ...
