"""Write docs/figures/explorer.png, the README's picture of GET /explore: the §7 problem's curve with a
small simulation overlaid, in headless Chromium at 1280 × 800.

Run: ``python scripts/explorer_screenshot.py`` (needs Chromium, chromedriver and Selenium, as the
browser tests; about 20 s).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser_support import browser, missing  # noqa: E402
from tests.test_service_support import LiveServer  # noqa: E402

OUT = ROOT / "docs" / "figures" / "explorer.png"
VIEW = "?train=1&dim=800&seeds=4&simn=8&model=network"


def main() -> None:
    if (why := missing()) is not None:
        sys.exit(why)
    with (
        tempfile.TemporaryDirectory() as tmp,
        LiveServer(Path(tmp) / "cache.sqlite3") as server,
        browser(1280, 800) as driver,
    ):
        driver.get(f"{server.url}/explore{VIEW}")
        deadline = time.monotonic() + 600
        while "estimates" not in driver.find_element("id", "estimate").text:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        driver.find_element("id", "run").click()
        while driver.execute_script("return document.body.dataset.simulation") != "done":
            assert time.monotonic() < deadline, "the simulation did not finish"
            time.sleep(0.2)
        driver.execute_script("window.scrollTo(0, 0)")  # the Run button scrolled the page down
        time.sleep(0.5)
        OUT.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(OUT))
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
