"""Render a dashboard page to PNG in Debian's headless Chromium (the README's screenshot).

make screenshot            # after `make demo`: docs/img/trading.png
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def main(page: str = "trading", out: Path = REPO / "docs" / "img" / "trading.png") -> Path:
    import os

    from playwright.sync_api import sync_playwright

    from aaiti.config import load_settings
    from aaiti.stack import down, up

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        os.environ["AAITI_DASHBOARD_PORT"] = str(s.getsockname()[1])
    settings = load_settings()
    try:
        urls = up(settings, repo=REPO, only=["dashboard"], timeout_s=90)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            pg = browser.new_page(viewport={"width": 1400, "height": 900})
            pg.goto(f"{urls['dashboard']}/{page}", wait_until="networkidle")
            pg.wait_for_selector("h1", timeout=60_000)
            pg.wait_for_function(
                "!document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000
            )
            pg.wait_for_timeout(1500)  # the charts draw after the last script run
            pg.screenshot(path=str(out))
            browser.close()
    finally:
        down(settings)
    return out


if __name__ == "__main__":
    print(main(*sys.argv[1:2]))
