"""Rebuild the committed example leaderboard site and its two README screenshots in one command.

    python bench/leaderboard_site.py [--runs leaderboards/results/offline-scifact/runs] [--data-dir ../shared/data]
                                     [--out leaderboards/site] [--shots docs/img]

It runs ``harness leaderboard --runs RUNS --data-dir DATA --published rgpl2025 --out OUT`` (the same command the
README shows), prints the site's size, then opens the main page and the first dataset page in headless chromium
(Debian's ``chromium`` + ``chromium-driver``, driven by selenium: ``harness.leaderboard.browser``) and saves
``leaderboard-main.png`` and ``leaderboard-dataset.png`` in SHOTS. Run it from the repository root after replacing
the runs (e.g. new GPL/R-GPL runs in leaderboards/results/offline-scifact/runs), then commit OUT and SHOTS.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.cli import main as harness  # noqa: E402
from harness.leaderboard.browser import chromium, missing  # noqa: E402


def screenshot(driver, page: Path, out: Path, max_height: int) -> None:
    driver.get(page.resolve().as_uri())
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1400, min(height, max_height))
    driver.save_screenshot(str(out))
    print(f"{out}  ({out.stat().st_size / 1e3:.0f} kB)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", default="leaderboards/results/offline-scifact/runs")
    ap.add_argument("--data-dir", default="../shared/data")
    ap.add_argument("--out", default="leaderboards/site")
    ap.add_argument("--shots", default="docs/img")
    args = ap.parse_args()
    start = time.perf_counter()
    try:
        harness(["leaderboard", "--runs", args.runs, "--data-dir", args.data_dir, "--published", "rgpl2025",
                 "--out", args.out])
    except SystemExit as e:
        if e.code:
            raise
    print(f"built in {time.perf_counter() - start:.1f} s; "
          f"{sum(p.stat().st_size for p in Path(args.out).rglob('*') if p.is_file()) / 1e6:.2f} MB")
    why = missing()
    if why:
        sys.exit(f"no screenshots: {why}")
    shots = Path(args.shots)
    shots.mkdir(parents=True, exist_ok=True)
    dataset = sorted((Path(args.out) / "datasets").glob("*.html"))[0]
    with chromium() as driver:
        screenshot(driver, Path(args.out) / "index.html", shots / "leaderboard-main.png", 1000)
        screenshot(driver, dataset, shots / "leaderboard-dataset.png", 1700)


if __name__ == "__main__":
    main()
