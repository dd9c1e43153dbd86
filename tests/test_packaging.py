"""A non-editable install renders tables: the wheel ships leaderboards/ (templates, published results) inside the
package, and the installed package finds them from any working directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import SHARED_DATA

REPO = Path(__file__).resolve().parents[1]


def test_wheel_holds_leaderboards_and_renders_the_published_tables_from_elsewhere(tmp_path):
    src = tmp_path / "src"  # build from a copy: an in-tree build would leave build/ and *.egg-info in the checkout
    for name in ("pyproject.toml", "README.md", "harness", "adapters", "leaderboards"):
        f = REPO / name
        (shutil.copytree(f, src / name, ignore=shutil.ignore_patterns("__pycache__")) if f.is_dir()
         else (src.mkdir(exist_ok=True), shutil.copy(f, src / name)))
    dist = tmp_path / "dist"
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(src)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    (wheel,) = dist.glob("harness-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = [p for sub in ("templates", "published") for p in (REPO / "leaderboards" / sub).rglob("*") if p.is_file()]
    assert {"table.tex.j2", "table.md.j2", "rgpl2025.json", "index.html.j2", "site.js", "site.css"} <= {p.name for p in shipped}
    for p in shipped:  # every template, the site's templates and assets (templates/site/...) too
        assert f"harness/leaderboards/{p.relative_to(REPO / 'leaderboards').as_posix()}" in names, p
    assert not any(n.startswith("leaderboards/") for n in names)  # nothing top-level besides the packages

    site = tmp_path / "site"  # a pure-Python wheel installs by unpacking it into a site folder
    zipfile.ZipFile(wheel).extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("HARNESS_TEMPLATES", "HARNESS_PUBLISHED")}
    env["PYTHONPATH"] = str(site)
    code = ("import harness, harness.tables as t, harness.published as p; "
            "print(harness.__file__); print(t.templates_dir()); print(p.published_dir())")
    r = subprocess.run([sys.executable, "-c", code], cwd=elsewhere, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert all(line.startswith(str(site)) for line in r.stdout.split()), r.stdout  # the installed copy, not the repo
    r = subprocess.run([sys.executable, "-m", "harness.cli", "table", "--published", "rgpl2025", "--format", "latex"],
                       cwd=elsewhere, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count(r"\begin{table}") == 3 and r"\textbf{65.2}$^{+0.6}$" in r.stdout
    # and builds a leaderboard site from the installed templates and assets
    runs = REPO / "leaderboards" / "results" / "offline-scifact" / "runs"
    if (SHARED_DATA / "scifact").is_dir():  # (its qrels; without them the rest of this test still runs)
        r = subprocess.run([sys.executable, "-m", "harness.cli", "leaderboard", "--runs", str(runs), "--data-dir",
                            str(SHARED_DATA), "--out", "site", "--n-boot", "100"],
                           cwd=elsewhere, env=env, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert (elsewhere / "site" / "assets" / "site.js").read_bytes() == \
            (REPO / "leaderboards" / "templates" / "site" / "assets" / "site.js").read_bytes()
