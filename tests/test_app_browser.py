"""The app in a real browser: upload, move the rate slider, see the readouts change.

Drives Debian's Chromium (/usr/bin/chromium) through Playwright; every wait is on a
condition in the page. Saves the screenshot used in the README to assets/.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from conftest import REPO

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
IMAGE = REPO / "assets" / "examples" / "kodim23.png"
SCREENSHOT = REPO / "assets" / "app_screenshot.png"
TIMEOUT_MS = 60_000
BPP = re.compile(r"^\d+\.\d{4}$")


@pytest.mark.browser
@pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium)"
)
def test_moving_the_rate_slider_updates_the_bpp_readout(app_url, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.goto(app_url)
            page.locator("#image-input input[type=file]").set_input_files(str(IMAGE))
            bpp = page.locator("#readouts td").first
            decode = page.locator("#readouts td").last
            expect(bpp).to_have_text(BPP, timeout=TIMEOUT_MS)
            first = bpp.inner_text()

            # Typing a rate and leaving the box: input + release, the exact coding.
            number = page.get_by_label("number input for Rate", exact=True)
            number.fill("8")
            number.press("Tab")
            expect(bpp).not_to_have_text(first, timeout=TIMEOUT_MS)
            expect(page.locator("#readouts")).to_contain_text("Rate 8.00 · exact", timeout=TIMEOUT_MS)
            expect(decode).to_have_text(re.compile(r"^\d+\.\d\d s$"), timeout=TIMEOUT_MS)  # decoded, checked
            at_8 = bpp.inner_text()
            assert float(at_8) > float(first)

            # Keys on the range fire input events only: the nearest cached result is shown
            # ("Rate 11.00 · exact" once the grid has it, else "… release the slider to code 11.00").
            page.get_by_label("range slider for Rate", exact=True).press("End")
            expect(page.locator("#readouts")).to_contain_text("11.00", timeout=TIMEOUT_MS)

            number.fill("8")
            number.press("Tab")
            expect(bpp).to_have_text(at_8, timeout=TIMEOUT_MS)
            expect(decode).to_have_text(re.compile(r"^\d+\.\d\d s$"), timeout=TIMEOUT_MS)
            expect(page.locator("#rd-plot img")).to_be_visible(timeout=TIMEOUT_MS)
            page.screenshot(path=tmp_path / "app.png", full_page=True)
        finally:
            browser.close()
    shutil.copyfile(tmp_path / "app.png", SCREENSHOT)
