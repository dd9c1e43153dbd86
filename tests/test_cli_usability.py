"""What a new user meets first: the README's set-up and examples, printed scores, the data folder, error messages,
quiet output streams, file modes and the ``systems`` listing. Everything here runs without ../shared/data."""

from __future__ import annotations

import logging
import os
import re
import shlex
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import pytrec_eval

from fixtures import write_beir, write_lotte
from harness.cli import main
from harness.errors import HarnessError, SettingsError, error_summary

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")

DOCS = [{"_id": f"d{i}", "title": "", "text": t} for i, t in enumerate([
    "alpha beta gamma", "beta gamma delta", "gamma delta epsilon", "delta epsilon zeta", "epsilon zeta eta",
    "zeta eta theta", "eta theta iota", "theta iota kappa"])]
QUERIES = [{"_id": "q1", "text": "alpha beta"}, {"_id": "q2", "text": "iota kappa"}, {"_id": "q3", "text": "zeta eta"}]
QRELS = [("q1", "d0", 1), ("q2", "d7", 2), ("q2", "d6", 1), ("q3", "d5", 1)]


def harness(capsys, *args: str) -> tuple[int, str, str]:
    """The console entry point in-process: (exit status, stdout, stderr)."""
    try:
        main(list(args))
        code = 0
    except SystemExit as e:
        code = e.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err


def shell_blocks(section: str) -> list[str]:
    """The ```bash blocks of one ``## section`` of the README."""
    body = README.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)```", body, flags=re.S)


# ------------------------------------------------------------------------------------ 1: set-up and torch
def test_setup_section_has_two_commands_and_says_what_torch_pin_installs():
    blocks = shell_blocks("Set up")
    assert len(blocks) == 2 and all(len(b.strip().splitlines()) == 1 for b in blocks)
    main_cmd, test_cmd = (b.strip() for b in blocks)
    assert "harness run" in main_cmd and "pytest" in test_cmd
    marked = README.split("<!-- test-command -->", 1)[1].split("<!-- /test-command -->", 1)[0]
    assert test_cmd in marked
    for cmd in (main_cmd, test_cmd):  # torch first, pinned, then the project (whose range it then satisfies)
        assert cmd.index("torch==") < cmd.index("pip install -q -e")
    setup = README.split("## Set up", 1)[1].split("\n## ", 1)[0]
    assert "is the CPU build" not in setup and "(CPU)" not in (REPO / "pyproject.toml").read_text()
    assert "https://download.pytorch.org/whl/cpu" in setup and "CUDA" in setup and "torch>=2.3" in setup


# ------------------------------------------------------------------------- 2: R-GPL must reach a re-mine
@pytest.mark.parametrize("steps,every", [(60, 100), (20, 100), (100, 100)])
def test_rgpl_that_cannot_reach_a_remine_is_refused(steps, every):
    from harness.gpl.settings import RGPLSettings
    from harness.systems import build_settings

    with pytest.raises(SettingsError) as err:
        build_settings(RGPLSettings, {"steps": str(steps), "remine_every": str(every)})
    msg = str(err.value)
    assert f"'steps'={steps}" in msg and f"'remine_every'={every}" in msg and "never re-mine" in msg and "\n" not in msg
    ok = build_settings(RGPLSettings, {"steps": str(steps), "remine_every": str(steps // 3)})
    assert ok.remine_every < ok.steps
    assert build_settings(RGPLSettings, {"steps": "20", "remine_every": "0"}).remine_every == 0  # k=0: GPL, allowed


def test_every_readme_rgpl_example_has_valid_settings_that_remine():
    from harness.gpl.settings import RGPLSettings
    from harness.systems import build_settings

    lines = [ln for ln in README.splitlines() if re.match(r"\s*harness run .*--system rgpl", ln)]
    assert lines
    for line in lines:
        argv = shlex.split(line.split("#", 1)[0])
        preset = argv[argv.index("--preset") + 1] if "--preset" in argv else None
        sets = dict(argv[i + 1].split("=", 1) for i, a in enumerate(argv) if a == "--set")
        s = build_settings(RGPLSettings, sets, preset)  # raises if the example could not re-mine
        assert 0 < s.remine_every < s.steps, line


# -------------------------------------------------------------------------- 3: run prints the score
def test_run_prints_the_suite_metric_and_path_and_quiet_prints_only_paths(tmp_path, capsys):
    folder = write_beir(tmp_path / "data" / "tiny", DOCS, QUERIES, QRELS)
    runs = tmp_path / "runs"
    code, out, err = harness(capsys, "run", "--system", "bm25", "--datasets", "tiny", "--data-dir", str(tmp_path / "data"),
                             "--out", str(runs))
    assert code == 0, err
    path = runs / "beir" / "tiny" / "bm25.trec"
    run: dict = {}
    for line in path.read_text().splitlines():  # the written order (pytrec_eval would round near-tied scores)
        q, _, d, rank, _, _ = line.split()
        run.setdefault(q, {})[d] = 1000.0 - int(rank)
    qrels: dict = {}
    for q, d, g in QRELS:
        qrels.setdefault(q, {})[d] = g
    per_q = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10"}).evaluate(run)
    expected = 100 * np.mean([per_q[q]["ndcg_cut_10"] for q in qrels])
    m = re.fullmatch(r"beir/tiny  bm25  NDCG@10 (\d+\.\d)  (\S+)\n", out)
    assert m, out
    assert float(m.group(1)) == pytest.approx(expected, abs=0.05) and m.group(2) == str(path)
    assert str(folder) not in out  # stdout: results only

    code, out, err = harness(capsys, "run", "--system", "bm25", "--datasets", "tiny", "--data-dir", str(tmp_path / "data"),
                             "--out", str(runs), "--quiet")
    assert code == 0 and out == f"{path}\n" and "up to date" not in err


def test_lotte_name_without_suite_runs_as_lotte_with_success_at_5(tmp_path, capsys):
    write_lotte(tmp_path / "data")
    code, out, err = harness(capsys, "run", "--system", "bm25", "--datasets", "lifestyle.search", "--data-dir",
                             str(tmp_path / "data"), "--out", str(tmp_path / "runs"))
    assert code == 0, err
    assert out.startswith("lotte/lifestyle.search  bm25  Success@5 ")
    run_file = tmp_path / "runs" / "lotte" / "lifestyle.search" / "bm25.trec"
    assert run_file.is_file()
    code, _, err = harness(capsys, "run", "--system", "bm25", "--suite", "beir", "--datasets", "lifestyle.search",
                           "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "runs"))
    assert code == 2 and "'lifestyle.search' is a LoTTE dataset: use --suite lotte" in err
    # evaluate and table infer the suite from the dataset name too (they defaulted to beir and failed)
    shown = float(out.split("Success@5 ")[1].split()[0])
    code, out, err = harness(capsys, "evaluate", str(run_file), "-d", "lifestyle.search", "--data-dir", str(tmp_path / "data"))
    assert code == 0, err
    first = out.splitlines()[0].split()
    assert first[0] == "Success@5" and float(first[1]) * 100 == pytest.approx(shown, abs=0.05)
    code, out, err = harness(capsys, "table", "--systems", "bm25", "-d", "lifestyle.search", "--runs", str(tmp_path / "runs"),
                             "--data-dir", str(tmp_path / "data"))
    assert code == 0, err
    assert "LoTTE: Success@5" in out and f"| Lifestyle | {shown:.1f} |" in out


# ---------------------------------------------------------------------------- 4: one data folder
def test_one_data_folder_for_every_command(tmp_path, capsys, monkeypatch):
    from harness.datasets import resolve_data_dir

    env_dir, flag_dir = tmp_path / "env-data", tmp_path / "flag-data"
    write_beir(env_dir / "scifact", DOCS, QUERIES, QRELS)
    flag_dir.mkdir()
    assert resolve_data_dir(None) == (Path(os.environ["HARNESS_CACHE"]) / "data", "default")
    monkeypatch.setenv("HARNESS_DATA_DIR", str(env_dir))
    assert resolve_data_dir(None) == (env_dir, "HARNESS_DATA_DIR")
    assert resolve_data_dir(flag_dir) == (flag_dir, "--data-dir")

    code, out, _ = harness(capsys, "datasets", "--suite", "beir")
    assert code == 0 and f"data folder: {env_dir} (from HARNESS_DATA_DIR)" in " ".join(out.split())
    assert re.search(r"\bscifact\b.*\byes\b", out)
    code, out, err = harness(capsys, "run", "--system", "bm25", "--datasets", "scifact", "--out", str(tmp_path / "runs"))
    assert code == 0 and "NDCG@10" in out, err
    code, out, err = harness(capsys, "evaluate", str(tmp_path / "runs" / "beir" / "scifact" / "bm25.trec"), "--dataset", "scifact")
    assert code == 0, err
    # --data-dir wins over HARNESS_DATA_DIR (and the error says which folder was used and how to change it)
    code, _, err = harness(capsys, "run", "--system", "bm25", "--datasets", "scifact", "--data-dir", str(flag_dir),
                           "--out", str(tmp_path / "runs2"), "--no-download")
    assert code == 2 and str(flag_dir / "scifact") in err and "from --data-dir" in err
    code, out, _ = harness(capsys, "datasets", "--suite", "beir", "--data-dir", str(flag_dir))
    assert re.search(r"\bscifact\b.*\bno\b", out)


# ------------------------------------------------------------------------------- 5: bare checkout
def test_data_tests_skip_naming_the_folder_and_fail_when_data_is_required(tmp_path):
    (tmp_path / "conftest.py").write_text((REPO / "tests" / "conftest.py").read_text())
    (tmp_path / "test_probe.py").write_text("def test_uses_data(shared_data):\n    assert shared_data.is_dir()\n")
    missing = tmp_path / "no-such-data"
    env = {k: v for k, v in os.environ.items() if k != "HARNESS_REQUIRE_DATA"}
    env["HARNESS_SHARED_DATA"] = str(missing)
    cmd = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(tmp_path)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 0 and "1 skipped" in r.stdout and str(missing / "scifact") in r.stdout, r.stdout
    r = subprocess.run(cmd, capture_output=True, text=True, env={**env, "HARNESS_REQUIRE_DATA": "1"}, cwd=tmp_path)
    assert r.returncode == 1 and "1 error" in r.stdout and "HARNESS_REQUIRE_DATA" in r.stdout, r.stdout
    assert "HARNESS_REQUIRE_DATA=1" in (REPO / ".ci" / "run").read_text()


# ------------------------------------------------------------------------------------------ 6: errors
def test_error_summary_is_one_line_and_survives_empty_messages():
    assert error_summary(OSError()) == "OSError"
    assert error_summary(ValueError("\n\n  second line only\nthird")) == "ValueError: second line only"
    long = error_summary(RuntimeError("word " * 100), limit=50)
    assert long.startswith("RuntimeError: word") and long.endswith(" ...") and len(long) < 80 and "wor ..." not in long
    for path in ("harness/dense.py", "harness/gpl/teacher.py", "harness/gpl/qgen.py"):
        assert "splitlines()[0]" not in (REPO / path).read_text(), path


def test_missing_dataset_error_is_one_clean_line_naming_the_data_folder_settings(tmp_path, capsys, monkeypatch):
    import ir_datasets
    import requests

    def unreachable(ds_id):
        noisy = logging.getLogger("test-ir-datasets-noise")  # like ir_datasets: its own handler, INFO on every retry
        noisy.propagate, noisy.handlers = False, [logging.StreamHandler(sys.stderr)]
        noisy.setLevel(logging.INFO)
        noisy.info("[INFO] download error: HTTPSConnectionPool(...). Retrying from start.")
        raise requests.exceptions.ConnectionError(
            "HTTPSConnectionPool(host='public.ukp.informatik.tu-darmstadt.de', port=443): Max retries exceeded with url: "
            "/thakur/BEIR/datasets/nfcorpus.zip (Caused by NameResolutionError(\"HTTPSConnection(host='public.ukp."
            "informatik.tu-darmstadt.de', port=443): Failed to resolve 'public.ukp.informatik.tu-darmstadt.de'\"))")

    monkeypatch.setattr(ir_datasets, "load", unreachable)
    monkeypatch.setenv("HARNESS_OFFLINE", "0")
    code, out, err = harness(capsys, "run", "--system", "bm25", "--datasets", "nfcorpus", "--out", str(tmp_path / "runs"))
    lines = err.strip().splitlines()
    assert code == 2 and out == "" and len(lines) == 1, err
    msg = lines[0]
    assert "download of 'beir/nfcorpus/test' through ir_datasets failed (ConnectionError: its server could not be reached)" in msg
    assert "--data-dir" in msg and "HARNESS_DATA_DIR" in msg and str(Path(os.environ["HARNESS_CACHE"]) / "data" / "nfcorpus") in msg
    assert "Caused by" not in msg and msg.endswith(")")


def test_misspelt_dataset_gets_did_you_mean(tmp_path, capsys):
    code, _, err = harness(capsys, "run", "--system", "bm25", "--datasets", "scifcat", "--data-dir", str(tmp_path),
                           "--out", str(tmp_path / "runs"))
    assert code == 2 and "dataset 'scifcat' not found (did you mean 'scifact'?)" in err
    code, _, err = harness(capsys, "run", "--system", "bm25", "--suite", "lotte", "--datasets", "lifestyle.serach",
                           "--out", str(tmp_path / "runs"))
    assert code == 2 and "unknown lotte dataset 'lifestyle.serach' (did you mean 'lifestyle.search'?)" in err
    code, _, err = harness(capsys, "run", "--system", "bm25", "--datasets", "my-own-set", "--data-dir", str(tmp_path),
                           "--out", str(tmp_path / "runs"))
    assert code == 2 and "did you mean" not in err


def test_debug_shows_the_hidden_cause(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HARNESS_OFFLINE", "1")
    args = ("run", "--system", "bm25", "--datasets", "nfcorpus", "--data-dir", str(tmp_path), "--out", str(tmp_path / "r"))
    code, _, err = harness(capsys, *args)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    code, _, err = harness(capsys, *args, "--debug")
    assert code == 2 and "Traceback" in err and "HarnessError: offline (HARNESS_OFFLINE" in err
    assert err.strip().splitlines()[-1].startswith("error: dataset 'nfcorpus' not found")
    assert "HARNESS_DEBUG" not in os.environ  # --debug lasts one command (in-process callers run many)
    monkeypatch.setenv("HARNESS_DEBUG", "1")
    code, _, err = harness(capsys, *args)
    assert code == 2 and "Traceback" in err


def test_hub_model_fails_fast_when_the_hub_is_unreachable(monkeypatch):
    import sentence_transformers  # noqa: F401  (imported before the clock starts: the import alone takes seconds)

    from harness import dense, hub

    for var in ("HF_HUB_OFFLINE", "HARNESS_OFFLINE", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    hub._reachable.cache_clear()
    start = time.time()
    with pytest.raises(HarnessError) as err:
        dense.load_encoder("no-such-org/no-such-model", device="cpu")
    assert time.time() - start < 20  # hub retries took over a minute
    msg = str(err.value)
    assert "the Hugging Face hub (127.0.0.1) cannot be reached" in msg and "--set model=" in msg and "\n" not in msg
    from harness.gpl.qgen import Seq2SeqGenerator
    from harness.gpl.teacher import CrossEncoderTeacher

    start = time.time()
    for load, setting in ((CrossEncoderTeacher, "teacher"), (Seq2SeqGenerator, "generator")):
        with pytest.raises(HarnessError, match="no-such-org/no-such-model") as err:  # no wait for retries either
            load("no-such-org/no-such-model", device="cpu")
        msg = str(err.value)  # and they say how to pass a local model, or what needs none
        assert "(127.0.0.1) cannot be reached" in msg and f"--set {setting}=/path/to/model" in msg, msg
        assert "--preset offline" in msg and "\n" not in msg
    assert time.time() - start < 20
    monkeypatch.setenv("HARNESS_OFFLINE", "1")
    with pytest.raises(HarnessError, match=r"HARNESS_OFFLINE is set \(or --no-download was given\); pass a local model"):
        dense.load_encoder("no-such-org/no-such-model", device="cpu")
    hub._reachable.cache_clear()


# ------------------------------------------------------------------------------- 7: noise and silence
def test_faiss_avx512_notice_is_silenced():
    code = ("import logging, sys\n"
            "if sys.argv[1] == 'cli':\n"
            "    from harness.cli import _configure_logging; _configure_logging(False)\n"
            "else:\n"
            "    logging.basicConfig(level=logging.INFO)\n"
            "import faiss\n")
    ours = subprocess.run([sys.executable, "-c", code, "cli"], capture_output=True, text=True, cwd=REPO)
    assert ours.returncode == 0 and "Could not load library" not in ours.stderr + ours.stdout, ours.stderr
    plain = subprocess.run([sys.executable, "-c", code, "plain"], capture_output=True, text=True, cwd=REPO)
    if "Could not load library" not in plain.stderr:
        pytest.skip("this faiss build announces nothing here (it found the library it looked for)")


class CountingModel:
    """Stands in for a SentenceTransformer's ``encode``: a text's vector depends on the text only."""

    def __init__(self):
        self.calls = []

    def encode(self, texts, batch_size, convert_to_numpy=True, show_progress_bar=False):
        self.calls.append(len(texts))
        return np.array([[len(t), sum(map(ord, t)) % 97, 1.0] for t in texts], dtype=np.float32)


def test_corpus_encoding_bar_counts_passages(monkeypatch):
    from harness import dense
    from harness.datasets import Corpus

    texts = [f"passage {'x' * (i % 13)} {i}" for i in range(300)]
    corpus = Corpus(ids=[str(i) for i in range(300)], titles=[""] * 300, texts=texts)
    quiet_model = CountingModel()
    monkeypatch.setattr(dense, "_inference_mode", lambda *a, **k: __import__("contextlib").nullcontext())
    reference = dense.encode_corpus(quiet_model, corpus, batch_size=4)
    step = dense.GROUP_BATCHES * 4
    assert quiet_model.calls == [step] * (300 // step) + [300 % step]  # with progress off, the same calls

    seen = {}

    class Recorder:
        def __init__(self, desc, total, unit, completed=0, console=None):
            seen.update(desc=desc, total=total, unit=unit, advances=[])

        def __enter__(self):
            return seen["advances"].append

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(dense, "counter", Recorder)
    model = CountingModel()
    emb = dense.encode_corpus(model, corpus, batch_size=4)
    assert seen["desc"] == "Encoding corpus" and seen["total"] == 300 and seen["unit"] == "passages"
    assert sum(seen["advances"]) == 300 and len(seen["advances"]) > 5  # moves within a single chunk
    assert all(n % (dense.GROUP_BATCHES * 4) == 0 for n in seen["advances"][:-1])  # whole batches per call
    np.testing.assert_array_equal(emb, reference)


def test_progress_counter_shows_rate_and_eta():
    import io

    from rich.console import Console

    from harness.progress import counter

    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=120)
    with counter("Encoding corpus", total=1000, unit="passages", console=console) as advance:
        advance(250)
        time.sleep(0.2)
        advance(250)
        time.sleep(0.2)
    out = buf.getvalue()
    assert "Encoding corpus" in out and "passages/s" in out and "ETA" in out


def test_progress_without_a_terminal_is_a_log_line_at_a_steady_interval(monkeypatch, caplog):
    """stderr redirected (Slurm, nohup, CI): no transient bar that prints nothing, but a plain line every
    HARNESS_PROGRESS_SECONDS with done/total, rate, elapsed time and ETA, and one when the long step ends."""
    from harness import progress

    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])  # the clock the progress lines read
    monkeypatch.delenv("HARNESS_NO_PROGRESS", raising=False)
    monkeypatch.setenv("HARNESS_PROGRESS_SECONDS", "60")
    caplog.set_level(logging.INFO, logger="harness")
    with progress.counter("Encoding corpus", total=10_000, unit="passages", completed=1000) as advance:
        for _ in range(9):  # 1,000 passages every 25 s
            now[0] += 25
            advance(1000)
    assert [r.getMessage() for r in caplog.records] == [
        "Encoding corpus: 4,000/10,000 passages (40.0%), 40 passages/s, 1:15 elapsed, ETA 2:30",
        "Encoding corpus: 7,000/10,000 passages (70.0%), 40 passages/s, 2:30 elapsed, ETA 1:15",
        "Encoding corpus: 10,000/10,000 passages (100.0%) done in 3:45, 40 passages/s"]
    caplog.clear()
    with progress.counter("Encoding texts", total=5, unit="texts") as advance:  # shorter than the interval: silent
        now[0] += 10
        advance(5)
    assert caplog.records == []
    monkeypatch.undo()  # the real clock again
    monkeypatch.delenv("HARNESS_NO_PROGRESS", raising=False)
    monkeypatch.setenv("HARNESS_PROGRESS_SECONDS", "soon")
    with pytest.raises(HarnessError, match="HARNESS_PROGRESS_SECONDS='soon' is not a number of seconds"):
        with progress.counter("x", total=1, unit=None):
            pass


def test_runs_write_only_their_own_lines_to_a_redirected_stderr(tmp_path, capsys, monkeypatch):
    """A run whose stderr is a file holds the harness's own lines only: no third-party bars ("Loading weights"), no
    bm25s debug line ("Building index from IDs objects"), no blank lines, no torch "NumPy array is not writable"
    warning; with HARNESS_PROGRESS_SECONDS=0 long steps show up as plain progress lines."""
    from tiny_models import build_tiny_bert_encoder

    write_beir(tmp_path / "data" / "tiny", DOCS, QUERIES, QRELS)
    model = build_tiny_bert_encoder(tmp_path / "model", [d["text"] for d in DOCS] * 20, seed=0)
    env = {k: v for k, v in os.environ.items() if k != "HARNESS_NO_PROGRESS"}  # as a user's run: progress on
    env.update(HARNESS_CACHE=str(tmp_path / "cache"), OMP_NUM_THREADS="1")

    def run(system: str, *sets: str, **extra_env: str) -> list[str]:
        err = tmp_path / f"{system}.err"
        with open(err, "w", encoding="utf-8") as fh:
            r = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--system", system, "--datasets", "tiny",
                                "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "runs"), "--force",
                                *sets], stdout=subprocess.PIPE, stderr=fh, text=True, env={**env, **extra_env},
                               timeout=300)
        lines = err.read_text(encoding="utf-8").splitlines()
        assert r.returncode == 0, lines
        return lines

    monkeypatch.delenv("HARNESS_NO_PROGRESS")
    capsys.readouterr()  # what building the model printed
    code, _, err = harness(capsys, "run", "--system", "bm25", "--datasets", "tiny", "--data-dir", str(tmp_path / "data"),
                           "--out", str(tmp_path / "runs"))  # in this process: bm25s logs, no warning to catch
    lines = err.splitlines()
    assert code == 0 and len(lines) == 1, lines
    assert re.fullmatch(r"beir/tiny: bm25 wrote 3 queries in [\d.]+ s -> .*", lines[0]), lines
    lines = run("base", "--set", f"model={model}", "--set", "device=cpu", "--set", "num_threads=1",
                HARNESS_PROGRESS_SECONDS="0")  # every step long enough to report
    done = r"(\d+)/\1 {unit} \(100\.0%\) done in 0:0\d, [\d.,]+ {unit}/s"
    assert len(lines) == 3, lines
    assert re.fullmatch("Encoding corpus: " + done.format(unit="passages"), lines[0]) and lines[0].startswith(
        "Encoding corpus: 8/8"), lines
    assert re.fullmatch("Encoding texts: " + done.format(unit="texts"), lines[1]), lines
    assert re.fullmatch(r"beir/tiny: base wrote 3 queries in [\d.]+ s -> .*", lines[2]), lines


# ---------------------------------------------------------------------------------------- 8: file modes
@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_written_files_follow_the_umask(tmp_path, umask, mode):
    from harness.fileio import atomic_open, write_json
    from harness.runs import write_run

    old = os.umask(umask)
    try:
        write_json(tmp_path / "m.json", {"a": 1})
        write_run(tmp_path / "r.trec", {"q": {"d": 1.0}}, tag="x")
        with atomic_open(tmp_path / "t.tex") as fh:
            fh.write("x")
    finally:
        os.umask(old)
    for name in ("m.json", "r.trec", "t.tex"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode, name


# --------------------------------------------------------------------------------------- 9: systems
def test_systems_shows_presets_and_resolves_one(capsys):
    from harness.gpl.settings import RGPLSettings
    from harness.systems import build_settings

    code, out, err = harness(capsys, "systems", "rgpl", "--verbose")
    assert code == 0, err
    flat = " ".join(out.split())
    assert "--preset paper" in flat
    steps_row = next(ln for ln in out.splitlines() if ln.strip().startswith("steps "))
    assert "140000" in steps_row  # the default and the paper preset agree; another preset shows its own value
    paper = build_settings(RGPLSettings, {}, "paper")
    code, out, err = harness(capsys, "systems", "rgpl", "--preset", "paper")
    assert code == 0, err
    rows = dict(ln.split(None, 1) for ln in out.splitlines()[1:])
    assert rows["steps"] == str(paper.steps) == "140000" and rows["remine_every"] == "30000"
    assert rows["miners"] == ",".join(paper.miners) and rows["teacher"] == paper.teacher
    code, out, _ = harness(capsys, "systems", "rgpl", "--preset", "paper", "--set", "remine_every=10000")
    assert dict(ln.split(None, 1) for ln in out.splitlines()[1:])["remine_every"] == "10000"
    code, _, err = harness(capsys, "systems", "rgpl", "--preset", "nope")
    assert code == 2 and "unknown preset 'nope'" in err


def test_readme_systems_examples_and_their_hints_run(capsys):
    """Each ``harness systems`` line of the README runs, and so does a ``--set`` its comment suggests adding (the
    hint's shape once was ``--set steps=5``-like, which R-GPL's paper preset refuses)."""
    lines = [ln for ln in README.splitlines() if ln.startswith("harness systems")]
    assert len(lines) >= 2
    for line in lines:
        cmd, _, comment = line.partition("#")
        args = shlex.split(cmd)[1:]
        for extra in [[]] + [s.split() for s in re.findall(r"--set \S+", comment)]:
            code, out, err = harness(capsys, *args, *extra)
            assert code == 0 and out, (line, extra, err)


def test_systems_is_compact_unless_verbose(capsys):
    """Piped, ``harness systems`` is a line or two per system (it was 434 lines of 160-column tables); ``systems
    NAME`` is one line per setting; ``--verbose`` keeps the full tables (help, each preset's values)."""
    import dataclasses

    from harness.gpl.settings import RGPLSettings

    code, out, err = harness(capsys, "systems")
    lines = out.splitlines()
    assert code == 0, err
    assert len(lines) <= 12 and max(map(len, lines)) <= 120, out
    assert [ln.split(":")[0] for ln in lines if ln[:1].isalpha()] == ["bm25", "base", "gpl", "rgpl"]
    assert "presets: paper, controlled, offline, cpu (= offline)" in out
    code, out, err = harness(capsys, "systems", "rgpl")
    assert code == 0, err
    settings = [ln.split()[0] for ln in out.splitlines() if ln.startswith("  ") and "presets:" not in ln]
    assert settings == [f.name for f in dataclasses.fields(RGPLSettings)]
    assert max(map(len, out.splitlines())) <= 120
    steps = next(ln for ln in out.splitlines() if ln.split()[:1] == ["steps"])
    assert steps.split()[1:3] == ["int", "140000"]
    code, out, err = harness(capsys, "systems", "--verbose")
    assert code == 0, err
    assert len(out.splitlines()) > 200 and "--preset controlled" in out and "remine_every" in out
