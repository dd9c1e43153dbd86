"""The leaderboard site in a real browser: Debian's chromium driven by selenium through Debian's chromedriver.

The site is built from the committed offline SciFact runs (leaderboards/results/offline-scifact/runs: BM25, Base,
GPL, R-GPL) with the published rgpl2025 tables. Checked: the pages load from file:// with no request that fails or
leaves the machine (Chrome's DevTools network events), a header click sorts, a filter hides rows, a dataset page's
per-query rows are `harness evaluate`'s numbers, and the reproduction view shows the paper's SciFact BM25 (69.1)
beside ours.

Without chromium, chromedriver or selenium the tests skip and say what is missing; CI installs them (.ci/run) and
sets HARNESS_REQUIRE_BROWSER=1, which turns the skip into a failure.
"""

from __future__ import annotations

import json
import os

import pytest

from conftest import REPO, run_cli

RUNS = REPO / "leaderboards" / "results" / "offline-scifact" / "runs"


@pytest.fixture(scope="module")
def browser():
    from harness.leaderboard.browser import chromium, missing

    why = missing()
    if why:
        if os.environ.get("HARNESS_REQUIRE_BROWSER", "").strip() not in ("", "0"):
            pytest.fail(why + "; HARNESS_REQUIRE_BROWSER is set")
        pytest.skip(why)
    with chromium(network_log=True) as driver:
        yield driver


@pytest.fixture(scope="module")
def site(shared_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("site") / "site"
    r = run_cli("leaderboard", "--runs", str(RUNS), "--data-dir", str(shared_data), "--published", "rgpl2025",
                "--out", str(out), "--n-boot", "1000")
    assert r.returncode == 0, r.stderr
    return out


def _open(driver, path):
    """Load a page; its DevTools events, from its own request on (the browser's start page may still be logging)."""
    driver.get_log("performance")
    driver.get(path.as_uri())
    events = [json.loads(e["message"])["message"] for e in driver.get_log("performance")]
    start = next((i for i, e in enumerate(events) if e["method"] == "Network.requestWillBeSent"
                  and e["params"]["request"]["url"] == path.as_uri()), None)
    assert start is not None, f"no request for {path.as_uri()} in the browser's network events"
    loader = events[start]["params"]["loaderId"]  # the page and everything it loads (not the browser's start page)
    ours = {e["params"]["requestId"] for e in events[start:] if e["method"] == "Network.requestWillBeSent"
            and e["params"].get("loaderId") == loader}
    return [e for e in events[start:] if e["params"].get("requestId") in ours]


def test_pages_load_from_file_with_no_failed_or_external_request(browser, site):
    pages = [site / "index.html", site / "statistics.html", site / "reproduction.html", site / "provenance.html",
             site / "downloads.html", site / "datasets" / "beir-scifact.html"]
    for page in pages:
        events = _open(browser, page)
        urls = [e["params"]["request"]["url"] for e in events if e["method"] == "Network.requestWillBeSent"]
        failed = [e["params"] for e in events if e["method"] == "Network.loadingFailed"]
        assert any(u.endswith("/assets/site.js") for u in urls) and any(u.endswith("/assets/site.css") for u in urls)
        assert all(u.startswith(("file://", "data:")) for u in urls), f"{page.name}: {urls}"
        assert not failed, f"{page.name}: {failed}"
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, f"{page.name}: {errors}"
    # the figures found beside the runs are offered (and loaded) by the downloads page
    figures = sorted(p.name for p in (RUNS.parent / "figures").glob("*.png"))
    assert sorted(p.name for p in (site / "figures").iterdir()) == figures


def test_header_click_sorts_and_filter_hides_rows(browser, site):
    from selenium.webdriver.common.by import By

    _open(browser, site / "index.html")
    table = browser.find_element(By.ID, "main-beir")

    def column(index):
        rows = table.find_elements(By.CSS_SELECTOR, "tbody tr")
        return [r.get_attribute("data-system") for r in rows], [
            float(r.find_elements(By.CSS_SELECTOR, "th, td")[index].get_attribute("data-value")) for r in rows]

    header = table.find_element(By.CSS_SELECTOR, 'th[data-col="beir-scifact"]')
    index = int(header.get_attribute("data-sort-index"))
    before, values = column(index)
    header.click()
    names, values = column(index)
    assert values == sorted(values, reverse=True) and header.get_attribute("aria-sort") == "descending"
    header.click()
    names_up, values_up = column(index)
    assert values_up == sorted(values_up) and names_up == names[::-1]
    assert set(names) == set(before) == {"bm25", "base", "gpl", "rgpl"}

    box = browser.find_element(By.CSS_SELECTOR, "input[data-filter-rows]")
    box.send_keys("gpl")  # matches gpl and rgpl (names and display names)
    shown = [r.get_attribute("data-system") for r in table.find_elements(By.CSS_SELECTOR, "tbody tr") if r.is_displayed()]
    assert sorted(shown) == ["gpl", "rgpl"]
    box.clear()
    box.send_keys("r-gpl")
    shown = [r.get_attribute("data-system") for r in table.find_elements(By.CSS_SELECTOR, "tbody tr") if r.is_displayed()]
    assert shown == ["rgpl"]

    toggle = browser.find_element(By.CSS_SELECTOR, 'input[data-col-toggle="beir-scifact"]')
    toggle.click()  # a column toggle hides the column's header and cells
    assert not header.is_displayed()
    assert not any(c.is_displayed() for c in table.find_elements(By.CSS_SELECTOR, 'td[data-col="beir-scifact"]'))


def test_dataset_page_per_query_rows_are_harness_evaluates_numbers(browser, site, shared_data, tmp_path):
    from selenium.webdriver.common.by import By

    expected = {}
    for system in ("bm25", "base", "gpl", "rgpl"):
        out = tmp_path / f"{system}.json"
        r = run_cli("evaluate", str(RUNS / "beir" / "scifact" / f"{system}.trec"), "--dataset", "scifact",
                    "--data-dir", str(shared_data), "--per-query", str(out))
        assert r.returncode == 0, r.stderr
        pq = json.loads(out.read_text())
        expected[system] = dict(zip(pq["qids"], pq["scores"]["ndcg_cut_10"]))
    _open(browser, site / "datasets" / "beir-scifact.html")
    rows = browser.find_elements(By.CSS_SELECTOR, "#per-query tbody tr")
    assert len(rows) == len(expected["bm25"]) == 300
    shown = browser.execute_script("""
        return Array.from(document.querySelectorAll('#per-query tbody tr')).map(r => [r.dataset.qid,
            Array.from(r.querySelectorAll('td[data-system]')).map(c => [c.dataset.system, c.dataset.value, c.textContent])]);
    """)
    for qid, cells in shown:
        assert {s for s, _, _ in cells} == set(expected)
        for system, value, text in cells:
            assert float(value) == expected[system][qid] and text == f"{expected[system][qid]:.4f}"

    # choosing a query shows every system's top 10 with the judged documents marked
    qrels = {}
    for line in (shared_data / "scifact" / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        q, d, g = line.split("\t")
        qrels.setdefault(q, {})[d] = int(g)
    qid = next(q for q in expected["bm25"] if expected["bm25"][q] > 0 and expected["base"][q] == 0)
    browser.find_element(By.CSS_SELECTOR, f'#per-query tr[data-qid="{qid}"]').click()
    assert browser.find_element(By.ID, "top-qid").text == qid
    bm25 = browser.find_element(By.CSS_SELECTOR, '#toplists .toplist[data-system="bm25"]')
    items = bm25.find_elements(By.CSS_SELECTOR, "li")
    assert len(items) == 10
    marked = {li.find_element(By.TAG_NAME, "code").text for li in items if "rel" in li.get_attribute("class").split()}
    listed = {li.find_element(By.TAG_NAME, "code").text for li in items}
    assert marked == {d for d in listed if qrels[qid].get(d, 0) > 0} and marked  # bm25 found one (NDCG > 0)


def test_reproduction_view_shows_the_papers_scifact_beside_ours(browser, site, shared_data):
    from selenium.webdriver.common.by import By

    from harness.evaluate import evaluate_dataset
    from harness.registry import resolve_dataset

    ours = 100 * evaluate_dataset(resolve_dataset("beir", "scifact"), "bm25", RUNS, shared_data).mean("ndcg_cut_10")
    _open(browser, site / "reproduction.html")
    row = browser.find_element(By.CSS_SELECTOR, '#repro-table1 tr[data-key="scifact"]')
    paper = row.find_element(By.CSS_SELECTOR, 'td[data-col-key="bm25:paper"]').text
    mine = row.find_element(By.CSS_SELECTOR, 'td[data-col-key="bm25:ours"]')
    assert paper == "69.1"
    assert mine.text.startswith(f"{ours:.1f}")
    mark = mine.find_element(By.CSS_SELECTOR, "sup.mark").text  # the paper does not say which BM25 it ran
    notes = browser.find_element(By.CSS_SELECTOR, "#table1 ul.footnotes").text
    assert f"{mark} BM25, ours on SciFact (setting not known)" in notes


def test_suite_filter_and_group_toggle_on_a_two_suite_site(browser, tmp_path):
    """BEIR and LoTTE on one page: the suite menu shows one suite's section, a group box hides its columns."""
    import random

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from harness.runs import write_run
    from test_leaderboard import _tiny_lotte
    from test_tables import _system_run, _tiny_beir

    rng = random.Random(2)
    data, runs = tmp_path / "data", tmp_path / "runs"
    for suite, ds, case in (("beir", "scifact", _tiny_beir(data, "scifact", 30, rng)),
                            ("lotte", "lifestyle.search", _tiny_lotte(data, rng))):
        for name, quality in (("gpl", 0.3), ("rgpl", 0.6)):
            write_run(runs / suite / ds / f"{name}.trec", _system_run(case, quality, rng), tag=name)
    r = run_cli("leaderboard", "--runs", str(runs), "--data-dir", str(data), "--out", str(tmp_path / "site"),
                "--n-boot", "100")
    assert r.returncode == 0, r.stderr
    _open(browser, tmp_path / "site" / "index.html")
    beir, lotte = (browser.find_element(By.ID, f"suite-{s}") for s in ("beir", "lotte"))
    assert beir.is_displayed() and lotte.is_displayed()
    Select(browser.find_element(By.CSS_SELECTOR, "select[data-suite-filter]")).select_by_value("lotte")
    assert lotte.is_displayed() and not beir.is_displayed()
    box = browser.find_element(By.CSS_SELECTOR, 'input[data-group-toggle="lotte"][value="Search"]')
    cells = browser.find_elements(By.CSS_SELECTOR, '#main-lotte td[data-group="Search"]')
    assert cells and all(c.is_displayed() for c in cells)
    box.click()
    assert not any(c.is_displayed() for c in cells)
    assert not browser.find_element(By.CSS_SELECTOR, '#main-lotte th[data-group-head="Search"]').is_displayed()
