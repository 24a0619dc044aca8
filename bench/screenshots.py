"""The README's screenshots: the demo served, the main pages of each role saved in English and Chinese.

    flock /tmp/sc-bench.lock python bench/screenshots.py            # into docs/screenshots/
    python bench/screenshots.py --declarations 500 --out /tmp/shots  # quicker, elsewhere

Loads the demo (simulated declarations through the real lodging path, CBEC parcels) into a temporary
SQLite database, starts ``smartcustoms serve`` on a loopback port, works one of trader1's held declarations
through the API as people would (the trader amends it, the officer asks for a certificate of origin, the
trader attaches a PDF and answers; a carrier files a consignment that is referred) and drives Debian's
chromium with Playwright: each page is saved as ``NAME.png`` (English) and ``NAME-zh.png`` (Chinese). Chinese
needs a CJK font (``make browser`` installs fonts-wqy-microhei); without one the script stops rather than save
pages of empty boxes.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _support import served  # noqa: E402
from smartcustoms.simulate.demo import DemoAccess  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "demo-password"  # noqa: S105 - the published demo credential
LANGUAGES = ("en", "zh")
MAX_HEIGHT = 2400  # a long page is cut here: the README shows its top


def cjk_font() -> str | None:
    """The family of an installed CJK font, or None."""
    out = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True, check=False).stdout
    return out.splitlines()[0] if out.strip() else None


def load(data_dir: Path, declarations: int, parcels: int) -> DemoAccess:
    """The demo data: enterprises, users, a replayed history of declarations and CBEC parcels; the API keys."""
    os.environ["SMARTCUSTOMS_CBEC_ACCEPT_UNSIGNED"] = "1"  # the simulated parcels are unsigned
    from smartcustoms.core.config import Settings
    from smartcustoms.platform import build_platform
    from smartcustoms.simulate.demo import load_demo

    platform = build_platform(Settings(data_dir=data_dir))
    access = load_demo(platform, declarations=declarations, parcels=parcels)
    platform.engine.dispose()
    return access


def shrink(path: Path) -> None:
    """Rewrite a screenshot as a 256-colour palette PNG (Pillow, no dithering): about a third of the size, and
    flat page colours and anti-aliased text stay readable."""
    from PIL import Image

    with Image.open(path) as im:
        small = im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    small.save(path, "PNG", optimize=True)


def _pdf() -> bytes:
    """A one-page PDF (what a scanned certificate of origin would be), made with pypdf."""
    from pypdf import PdfWriter

    out = io.BytesIO()
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.write(out)
    return out.getvalue()


def prepare(url: str, access: DemoAccess) -> dict[str, str]:
    """Work the demo as people would, through the API: returns the pages' subjects (declaration numbers)."""
    from smartcustoms.simulate.manifests import Cons, Item, message

    keys = access.keys

    def api(user: str) -> httpx.Client:
        return httpx.Client(base_url=f"{url}/api/v1", headers={"X-API-Key": keys[user]}, timeout=60)

    trader, officer = api("trader1"), api("officer1")
    held = [d for d in trader.get("/declarations", params={"status": "lane_assigned", "limit": 50}).json()
            if d["lane"] in ("yellow", "blue", "red")]
    released = trader.get("/declarations", params={"status": "released", "limit": 1}).json()
    for n in range(100):  # the history may leave trader1 none: lodge its example until one is held, one released
        if held and released:
            break
        lodged = trader.post("/declarations", json={**access.example_payload, "client_message_id": f"shots-{n}"})
        lodged.raise_for_status()
        d = lodged.json()
        (held if d["status"] == "lane_assigned" and d["lane"] != "green" else
         released if d["status"] == "released" else []).append(d)
    if not held or not released:
        sys.exit("trader1 has no held or no released declaration after 100 lodgings")
    no = held[0]["declaration_no"]
    d = trader.get(f"/declarations/{no}").json()
    body = {k: d[k] for k in ("declarant_code", "importer_code", "seller_name", "trade_mode", "transport_mode",
                              "office_code", "departure_country", "origin_country", "currency", "incoterm",
                              "freight", "insurance", "gross_mass_kg", "net_mass_kg", "packages", "total_value",
                              "declared_at")}
    items = [{k: i[k] for k in ("hs_code", "description", "model_spec", "quantity", "unit", "net_mass_kg",
                                "unit_price", "total_value", "origin_country")} for i in d["items"]]
    items[0]["model_spec"] = (items[0]["model_spec"] + " (corrected)").strip()
    body.update(items=items, client_message_id=f"shots-amend-{no}")
    r = trader.put(f"/declarations/{no}", json=body, params={"reason": "model and specification corrected"})
    r.raise_for_status()
    r = officer.post(f"/declarations/{no}/decision", json={
        "decision": "request_documents", "reason_code": "origin_certificate",
        "reason": "send the certificate of origin for the first item"})
    r.raise_for_status()
    r = trader.post(f"/declarations/{no}/documents", data={"kind": "origin_certificate"},
                    files={"file": ("certificate-of-origin.pdf", _pdf(), "application/pdf")})
    r.raise_for_status()
    trader.post(f"/declarations/{no}/documents/provided", json={"note": "certificate attached"}).raise_for_status()
    loading = datetime.now() + timedelta(days=3)
    xml = message([Cons(doc="COSU6123456780", loading_at=loading, items=[Item(description="LITHIUM BATTERIES")]),
                   Cons(doc="COSU6123456781", loading_at=loading)], message_id="SHOTS1")
    trader.post("/manifests/messages", content=xml, headers={"Content-Type": "application/xml"}).raise_for_status()
    return {"held": no, "released": released[0]["declaration_no"]}


def shoot(url: str, out: Path, subjects: dict[str, str]) -> list[Path]:
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
                    """The page as PNG: the window, or (``full_page``) the page down to ``MAX_HEIGHT`` pixels."""
                    path = out / f"{name}{suffix}.png"
                    height = page.evaluate("document.documentElement.scrollHeight") if full_page else 0
                    clip = {"x": 0, "y": 0, "width": 1280, "height": min(height, MAX_HEIGHT)} if full_page else None
                    page.screenshot(path=str(path), full_page=full_page, clip=clip)
                    shrink(path)
                    saved.append(path)

                def sign_in(user: str, page=page, lang=lang) -> None:
                    page.context.clear_cookies()
                    page.goto(f"{url}/lang/{lang}?next=/login")
                    page.fill("input[name=username]", user)
                    page.fill("input[name=password]", PASSWORD)
                    page.click("form[action='/login'] button[type=submit]")
                    page.wait_for_selector("[data-testid=user]", timeout=120_000)  # scrypt on a loaded machine

                sign_in("trader1")
                page.goto(f"{url}/declarations/new")
                page.fill("input[name='items[0].hs_code']", "9999")
                page.press("input[name='items[0].hs_code']", "Tab")
                page.wait_for_timeout(600)  # the form checks the code against the code lists as one types
                save("lodge-form-error")
                page.goto(f"{url}/declarations?status=released&sort=-total_value&size=25")
                save("trader-list-filtered")
                page.goto(f"{url}/declarations/{subjects['held']}")
                save("trader-declaration", full_page=True)  # documents asked and given, versions with the diff
                page.goto(f"{url}/inbox")
                save("trader-inbox")
                page.goto(f"{url}/declarations/{subjects['released']}/release-note")
                save("release-note", full_page=True)
                sign_in("officer1")
                page.goto(f"{url}/queue")
                save("officer-queue")
                page.goto(f"{url}/declarations/{subjects['held']}")
                save("officer-declaration", full_page=True)
                page.goto(f"{url}/parcels")
                save("officer-parcels")
                page.goto(f"{url}/manifests/referrals")
                save("officer-referrals")
                sign_in("analyst1")
                page.goto(f"{url}/dashboard")
                page.wait_for_load_state("networkidle")
                page.wait_for_timeout(800)  # the charts draw after load
                save("analyst-dashboard", full_page=True)
                page.goto(f"{url}/models")
                save("analyst-models")
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
        access = load(data_dir, args.declarations, args.parcels)
        print(f"demo loaded: {args.declarations} declarations, {args.parcels} parcels "
              f"({time.perf_counter() - started:.0f} s); CJK font: {font}")
        with served(data_dir, env={"SMARTCUSTOMS_CBEC_ACCEPT_UNSIGNED": "1"}) as url:
            subjects = prepare(url, access)
            saved = shoot(url, args.out, subjects)
    for path in saved:
        print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}  {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
