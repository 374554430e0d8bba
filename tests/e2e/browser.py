"""A headless Chromium for the dashboard's browser tests (Selenium with the system's
browser and driver: nothing is downloaded), and where screenshots go.

Screenshots are test artifacts: under ``$KEYARK_TEST_ARTIFACTS`` when set, else a
temporary directory; the directory is printed so a run's log says where they are.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
#: The desktop window the tests use (and the README screenshot's width).
WINDOW = (1280, 900)
#: How long a test waits for something to appear in the page.
WAIT = 30.0

T = TypeVar("T")


def artifacts_dir(default: Path) -> Path:
    """``$KEYARK_TEST_ARTIFACTS/dashboard`` when set, else ``default``; made and printed."""
    given = os.environ.get("KEYARK_TEST_ARTIFACTS")
    directory = Path(given) / "dashboard" if given else default
    directory.mkdir(parents=True, exist_ok=True)
    print(f"dashboard screenshots: {directory}")
    return directory


@contextmanager
def chromium(download_dir: Path) -> Iterator[webdriver.Chrome]:
    """A headless Chromium whose downloads land in ``download_dir``; quit afterwards."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
    ):
        options.add_argument(argument)
    options.add_experimental_option(
        "prefs",
        {
            "download.default_directory": str(download_dir),
            "download.prompt_for_download": False,
            "safebrowsing.enabled": False,
        },
    )
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        driver.execute_cdp_cmd(
            "Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(download_dir)}
        )
        yield driver
    finally:
        driver.quit()


def wait_for(driver: webdriver.Chrome, condition: Callable[[webdriver.Chrome], T]) -> T:
    """``condition``'s first true value (WebDriverWait, :data:`WAIT` seconds at most)."""
    found: T = WebDriverWait(driver, WAIT, poll_frequency=0.1).until(condition)
    return found


def text_of(driver: webdriver.Chrome, css: str) -> str:
    """The visible text of the first element matching ``css``."""
    return str(driver.find_element(By.CSS_SELECTOR, css).text)


def wait_for_file(directory: Path, name: str, timeout: float = WAIT) -> Path:
    """``directory/name`` once the browser has finished writing it."""
    target = directory / name
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        partial = list(directory.glob("*.crdownload"))
        if target.exists() and not partial:
            return target
        time.sleep(0.05)
    raise AssertionError(f"{name} was not downloaded into {directory}")


def screenshot(driver: webdriver.Chrome, directory: Path, name: str) -> Path:
    """A screenshot of the whole page (the window grown to the page's height)."""
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    width = driver.get_window_size()["width"]
    driver.set_window_size(width, max(WINDOW[1], height + 120))
    path = directory / f"{name}.png"
    driver.save_screenshot(str(path))
    driver.set_window_size(width, WINDOW[1])
    return path


#: Collects the page's layout shifts (Layout Instability API) from its start on.
LAYOUT_SHIFT_SCRIPT = """
if (window.__shift === undefined) {
  window.__shift = 0;
  window.__shifted = [];
  new PerformanceObserver(function (list) {
    list.getEntries().forEach(function (entry) {
      if (!entry.hadRecentInput) {
        window.__shift += entry.value;
        entry.sources.forEach(function (source) {
          var node = source.node;
          window.__shifted.push(node ? (node.id || node.className || node.nodeName) : "?");
        });
      }
    });
  }).observe({type: "layout-shift", buffered: true});
}
"""


def layout_shift(driver: webdriver.Chrome) -> tuple[float, list[str]]:
    """The page's cumulative layout shift so far and what moved (the observer is
    installed on the first call; earlier shifts are in its buffer)."""
    driver.execute_script(LAYOUT_SHIFT_SCRIPT)
    time.sleep(0.1)  # the buffered entries are delivered asynchronously
    value: Any = driver.execute_script("return [window.__shift, window.__shifted]")
    return float(value[0]), [str(name) for name in value[1]]


__all__ = [
    "WAIT",
    "WINDOW",
    "artifacts_dir",
    "chromium",
    "layout_shift",
    "screenshot",
    "text_of",
    "wait_for",
    "wait_for_file",
]
