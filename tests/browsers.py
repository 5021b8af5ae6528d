"""Headless Chromium for the live page (the browser test and `bench_run`'s page-open row): the system's
`chromium` driven by Selenium through the system's `chromedriver`, so nothing is downloaded."""

from __future__ import annotations

import os
import shutil

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")


def chromium_missing() -> str:
    """Why no headless Chromium can be driven here ('' when it can)."""
    if not any(shutil.which(name) for name in CHROMIUM):
        return "Chromium is not installed (Debian: apt-get install chromium chromium-driver)"
    if not shutil.which("chromedriver"):
        return "Chromium's chromedriver is not installed (Debian: apt-get install chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install selenium), needed to drive Chromium"
    return ""


def headless_chromium(width: int = 1280, height: int = 900):  # -> selenium.webdriver.Chrome
    """A headless Chromium window of `width` x `height` CSS pixels."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = next(shutil.which(name) for name in CHROMIUM if shutil.which(name))
    for argument in ("--headless=new", "--disable-gpu", "--disable-dev-shm-usage", f"--window-size={width},{height}"):
        options.add_argument(argument)
    if os.geteuid() == 0:
        options.add_argument("--no-sandbox")  # Chromium refuses to run as root with its sandbox
    return webdriver.Chrome(options=options, service=Service(executable_path=shutil.which("chromedriver")))
