"""Screenshots of the signing pages at phone and desktop sizes, in Debian's Chromium.

Runs the demo on a scratch SQLite database, walks one member through signing, and saves PNGs
beside this file:  python docs/screenshots/take.py
"""

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from playwright.sync_api import sync_playwright

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PORT = 5097
BASE = f"http://127.0.0.1:{PORT}"
SIZES = {"phone": (390, 844), "desktop": (1280, 800)}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _wait_for(url: str) -> None:
    for _ in range(100):
        try:
            if requests.get(url, timeout=1).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    sys.exit(f"{url} did not come up")


def _latest_link(page) -> str:
    page.goto(f"{BASE}/dev/mail")
    return re.search(r"http://[^\s\"<>]+/confirm\?token=[\w.-]+", page.content()).group(0)


def main() -> None:
    """Take the screenshots."""
    with tempfile.TemporaryDirectory() as scratch:
        env = dict(os.environ, DATABASE_URL=f"sqlite:///{scratch}/demo.db")
        server = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "app", "demo", "--port", str(PORT)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_for(f"{BASE}/healthz")
            roll = (ROOT / "instance" / "sample_roll.csv").read_text().splitlines()[1:]
            active = [line.split(",")[1] for line in roll if ",active," in line]
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
                )
                for index, (size, (width, height)) in enumerate(SIZES.items()):
                    page = browser.new_page(viewport={"width": width, "height": height})
                    page.goto(f"{BASE}/p/demo")
                    page.screenshot(path=HERE / f"sign-form-{size}.png", full_page=True)
                    page.fill("#email", "not an address")
                    page.click("button[type=submit]")
                    page.screenshot(path=HERE / f"sign-error-{size}.png", full_page=True)
                    page.fill("#email", active[index])
                    page.click("button[type=submit]")
                    page.screenshot(path=HERE / f"check-email-{size}.png", full_page=True)
                    time.sleep(1.5)
                    link = _latest_link(page)
                    page.screenshot(path=HERE / f"dev-mail-{size}.png")
                    page.goto(link)
                    page.screenshot(path=HERE / f"confirm-{size}.png", full_page=True)
                    page.click("button[type=submit]")
                    page.screenshot(path=HERE / f"confirmed-{size}.png", full_page=True)
                    page.goto(link.replace("token=", "token=x"))
                    page.screenshot(path=HERE / f"invalid-link-{size}.png", full_page=True)
                    page.close()
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    main()
