"""A headless chromium for the site, driven by selenium through chromedriver (Debian's ``chromium`` and
``chromium-driver``): used by the browser tests and by ``bench/leaderboard_site.py`` for the screenshots.

The driver is started from the given paths (selenium's own driver download, selenium-manager, never runs) with the
flags a machine without network and a root user need.
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
from contextlib import contextmanager
from typing import Iterator

# --no-sandbox: chromium refuses to run as root without it; the others keep it from calling Google's services
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-default-apps",
         "--hide-scrollbars")


def find() -> tuple[str | None, str | None]:
    """(chromium, chromedriver) on PATH."""
    return shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver")


def missing() -> str:
    """Why no browser can be started here ("" when it can)."""
    chromium, driver = find()
    if chromium is None or driver is None:
        return "chromium and chromedriver are not installed (Debian: apt-get install chromium chromium-driver)"
    if importlib.util.find_spec("selenium") is None:
        return "selenium is not installed (pip install -e '.[test]')"
    return ""


@contextmanager
def chromium(width: int = 1400, height: int = 1000, network_log: bool = False) -> Iterator:
    """A selenium Chrome driver on a fresh profile; ``network_log``: keep DevTools' network events (performance log)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = find()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in FLAGS + (f"--window-size={width},{height}",):
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="harness-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    if network_log:
        options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        driver.set_page_load_timeout(60)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
