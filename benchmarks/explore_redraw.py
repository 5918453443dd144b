"""How fast the explorer redraws (GET /explore, headless Chromium): a change of η̃ to the new curve drawn.

For each of ``--changes`` fresh values of η̃ (never computed before, so the server computes each), the
page's time from the change to the drawn curve (debounce + request + drawing, measured by the page
itself: ``window.srfExplorer.timings``), against the baseline measured in the same run: the same kind
of request (another fresh η̃, the same α's) sent by Python straight to ``POST /theory/curve``. Then the
same changes again, now answered from the page's own cache (a control moved back and forth). Prints
medians and the ratios; the drawing alone is ``draw``. Run (about 30 s):
``python benchmarks/explore_redraw.py --points 100 --changes 8``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.browser_support import browser, missing
from tests.test_service_support import LiveServer

PROBLEM = {"student": "tanh", "teacher": "sin", "alpha0": 20, "ridge": 0.1}


def set_rate(driver, value: float) -> dict:
    """Type η̃ into its field as a user would (an input event) and wait for that curve to be drawn."""
    count = driver.execute_script("return window.srfExplorer.timings.length")
    driver.execute_script(
        "const box = document.getElementById('learning_rate'); box.value = arguments[0];"
        "box.dispatchEvent(new Event('input', {bubbles: true}));",
        str(value),
    )
    deadline = time.monotonic() + 60
    while True:
        timings = driver.execute_script("return window.srfExplorer.timings")
        ready = driver.execute_script("return document.body.dataset.status") == "ready"
        if ready and len(timings) > count and f"learning_rate={value:g}" in driver.current_url:
            return timings[-1]
        if time.monotonic() > deadline:
            raise RuntimeError(f"no redraw for η̃ = {value}")
        time.sleep(0.005)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100, help="α's of the curve")
    parser.add_argument("--changes", type=int, default=8)
    args = parser.parse_args()
    if (why := missing()) is not None:
        sys.exit(why)
    alphas = [float(f"{0.1 + i * 3.9 / (args.points - 1):.6g}") for i in range(args.points)]
    with (
        tempfile.TemporaryDirectory() as tmp,
        LiveServer(Path(tmp) / "cache.sqlite3") as server,
        browser(1280, 800) as driver,
    ):
        driver.get(f"{server.url}/explore?n={args.points}")
        set_rate(driver, 2.9)  # warm: the page, the server's first request
        api, page, cached, draw = [], [], [], []
        for i in range(args.changes):
            rate_api, rate_page = round(1.01 + 0.1 * i, 2), round(1.06 + 0.1 * i, 2)
            started = time.perf_counter()
            response = server.http.post(
                "/theory/curve", json={**PROBLEM, "learning_rate": rate_api, "alphas": alphas}
            )
            api.append(1000 * (time.perf_counter() - started))
            assert response.status_code == 200 and not response.json()["cached"]
            timing = set_rate(driver, rate_page)
            assert not timing["cached"] and timing["points"] == args.points, timing
            page.append(timing["since_change_ms"])
            draw.append(timing["draw_ms"])
        for i in range(args.changes):  # back over the same values: the page's cache answers
            cached.append(set_rate(driver, round(1.06 + 0.1 * i, 2))["since_change_ms"])
    med = statistics.median
    print(f"{args.points}-point curve, {args.changes} changes of η̃ (medians, ms)")
    print(f"  {'baseline: POST /theory/curve from Python':47}{med(api):8.1f}")
    for what, values in (("computed now", page), ("page's cache", cached)):
        ratio = med(values) / med(api)
        label = f"page: change → curve drawn ({what})"
        print(f"  {label:47}{med(values):8.1f}   ratio {ratio:.2f}")
    print(f"  {'page: drawing alone':47}{med(draw):8.1f}")


if __name__ == "__main__":
    main()
