"""The README's screenshots: the demo served, the main pages of each role saved in English and Chinese.

    flock /tmp/sc-bench.lock python bench/screenshots.py            # into docs/screenshots/
    python bench/screenshots.py --declarations 500 --out /tmp/shots  # quicker, elsewhere

Loads the demo (simulated declarations through the real lodging path, CBEC parcels) into a temporary
SQLite database, starts ``smartcustoms serve`` on a loopback port and drives Debian's chromium with
Playwright: each page is saved as ``NAME.png`` (English) and ``NAME-zh.png`` (Chinese). Chinese needs a
CJK font (``make browser`` installs fonts-wqy-microhei); without one the script stops rather than save
pages of empty boxes.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _support import served  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "demo-password"  # noqa: S105 - the published demo credential
LANGUAGES = ("en", "zh")


def cjk_font() -> str | None:
    """The family of an installed CJK font, or None."""
    out = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True, check=False).stdout
    return out.splitlines()[0] if out.strip() else None


def load(data_dir: Path, declarations: int, parcels: int) -> None:
    """The demo data: enterprises, users, a replayed history of declarations and CBEC parcels."""
    os.environ["SMARTCUSTOMS_CBEC_ACCEPT_UNSIGNED"] = "1"  # the simulated parcels are unsigned
    from smartcustoms.core.config import Settings
    from smartcustoms.platform import build_platform
    from smartcustoms.simulate.demo import load_demo

    platform = build_platform(Settings(data_dir=data_dir))
    load_demo(platform, declarations=declarations, parcels=parcels)
    platform.engine.dispose()


def shoot(url: str, out: Path) -> list[Path]:
    """Every page, signed in as its role's demo user, in each language; returns the files saved."""
    from playwright.sync_api import sync_playwright

    saved: list[Path] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        try:
            for lang in LANGUAGES:
                context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="en-GB")
                page = context.new_page()
                suffix = "" if lang == "en" else f"-{lang}"

                def save(name: str, full_page: bool = False, page=page, suffix=suffix) -> None:
                    path = out / f"{name}{suffix}.png"
                    page.screenshot(path=str(path), full_page=full_page)
                    saved.append(path)

                def sign_in(user: str, page=page, lang=lang) -> None:
                    page.context.clear_cookies()
                    page.goto(f"{url}/lang/{lang}?next=/login")
                    page.fill("input[name=username]", user)
                    page.fill("input[name=password]", PASSWORD)
                    page.click("form[action='/login'] button[type=submit]")
                    page.wait_for_selector("[data-testid=user]")

                sign_in("trader1")
                page.goto(f"{url}/declarations/new")
                page.fill("input[name='items[0].hs_code']", "9999")
                page.press("input[name='items[0].hs_code']", "Tab")
                page.wait_for_timeout(600)  # the form checks the code against the code lists as one types
                save("lodge-form-error")
                page.goto(f"{url}/declarations")
                first = page.locator("table a[href^='/declarations/']:not([href='/declarations/new'])").first
                if first.count():
                    first.click()
                    save("trader-declaration")
                page.goto(f"{url}/inbox")
                save("trader-inbox")
                sign_in("officer1")
                page.goto(f"{url}/queue")
                save("officer-queue")
                held = page.locator("table a[href^='/declarations/']").first
                if held.count():
                    held.click()
                    save("officer-declaration", full_page=True)
                page.goto(f"{url}/parcels")
                save("officer-parcels")
                sign_in("analyst1")
                page.goto(f"{url}/dashboard")
                page.wait_for_load_state("networkidle")
                save("analyst-dashboard")
                sign_in("admin")
                page.goto(f"{url}/admin")
                save("admin")
                context.close()
        finally:
            browser.close()
    return saved


def main() -> None:
    """Load the demo, serve it, save the screenshots."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--declarations", type=int, default=1500, help="simulated declarations in the demo history")
    ap.add_argument("--parcels", type=int, default=300, help="simulated CBEC parcels")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = ap.parse_args()
    if not CHROMIUM.exists():
        sys.exit("Debian's chromium is missing (make browser installs it)")
    font = cjk_font()
    if font is None:
        sys.exit("no CJK font installed: the Chinese pages would show boxes (make browser installs fonts-wqy-microhei)")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sc-shots-") as tmp:
        data_dir = Path(tmp)
        started = time.perf_counter()
        load(data_dir, args.declarations, args.parcels)
        print(f"demo loaded: {args.declarations} declarations, {args.parcels} parcels "
              f"({time.perf_counter() - started:.0f} s); CJK font: {font}")
        with served(data_dir, env={"SMARTCUSTOMS_CBEC_ACCEPT_UNSIGNED": "1"}) as url:
            saved = shoot(url, args.out)
    for path in saved:
        print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}  {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
