"""Headless Chromium for browser tests, with the network cut and the console and requests recorded.

The Debian ``chromium`` and ``chromium-driver`` packages are driven by selenium, with the network cut
(offline emulation plus a resolver that resolves nothing but loopback), the browser console and every
request the page makes recorded::

    with headless_chromium() as browser:
        browser.get(path.as_uri())
        assert not console_errors(browser)
        assert not external_requests(browser)
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from inseason.errors import InseasonError

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

#: Schemes a self-contained page may load from without touching the network.
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:", "chrome:", "chrome-extension:", "devtools:")

_ARGUMENTS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--metrics-recording-only",
    "--disable-features=NetworkTimeServiceQuerying,OptimizationHints,MediaRouter,Translate",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1",
)


class BrowserMissing(InseasonError):
    """Chromium or its driver is not installed."""


def browser_paths() -> tuple[str, str]:
    """Paths of Chromium and chromedriver.

    ``INSEASON_CHROMIUM`` and ``INSEASON_CHROMEDRIVER`` override the Debian locations.

    Returns:
        (Chromium, chromedriver).

    Raises:
        BrowserMissing: either is not installed (the message names the packages to install).
    """
    paths = (os.environ.get("INSEASON_CHROMIUM", CHROMIUM), os.environ.get("INSEASON_CHROMEDRIVER", CHROMEDRIVER))
    missing = [path for path in paths if not (Path(path).is_file() or shutil.which(path))]
    if missing:
        raise BrowserMissing(
            f"{', '.join(missing)} not found: install the Debian packages with "
            "`sudo apt-get install -y chromium chromium-driver` (make test does it)"
        )
    return paths


@contextmanager
def headless_chromium(*, width: int = 1366, height: int = 900) -> Iterator[Any]:
    """A selenium WebDriver on headless Chromium with the network disabled and console and network logs on.

    Args:
        width: the window's width, pixels.
        height: the window's height, pixels.

    Yields:
        The driver; the browser quits on exit.

    Raises:
        BrowserMissing: Chromium or chromedriver is not installed.
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, chromedriver = browser_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (*_ARGUMENTS, f"--window-size={width},{height}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    try:
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd(
            "Network.emulateNetworkConditions",
            {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
        )
        yield driver
    finally:
        driver.quit()


def console_errors(driver: Any) -> list[str]:
    """Messages of the severe (error-level) browser console entries since the last call.

    Args:
        driver: a driver of :func:`headless_chromium`.

    Returns:
        The messages, oldest first.
    """
    return [entry["message"] for entry in driver.get_log("browser") if entry.get("level") == "SEVERE"]


def requested_urls(driver: Any) -> list[str]:
    """URLs of every request the page started since the last call (from the DevTools network log).

    Args:
        driver: a driver of :func:`headless_chromium`.

    Returns:
        The URLs, in the order the requests started.
    """
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def external_requests(driver: Any) -> list[str]:
    """Requests since the last call that would have left the machine.

    Args:
        driver: a driver of :func:`headless_chromium`.

    Returns:
        The URLs of every scheme but the local ones (`LOCAL_SCHEMES`: file, data, blob...).
    """
    return [url for url in requested_urls(driver) if not url.startswith(LOCAL_SCHEMES)]
