"""The explorer page in headless Chromium (Selenium): it redraws the API's numbers as a control moves,
switches to the heatmap, runs a simulation as a job and overlays it, and a shared link restores it all.

Screenshots are left in test-artifacts/ (tests/browser_support.py). Skipped without Chromium, except in
CI, where a skipped browser test fails the run (tests/conftest.py).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from browser_support import browser, console_errors, missing, screenshot
from test_service_support import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.skipif(missing() is not None, reason=str(missing()))]

PROBLEM = {"student": "tanh", "teacher": "sin", "alpha0": 20, "ridge": 0.1}


def spaced(low: float, high: float, count: int) -> list[float]:
    """The page's α grid: evenly spaced, 6 significant digits (as explore.js rounds them)."""
    return [float(f"{low + i * (high - low) / (count - 1):.6g}") for i in range(count)]


def numbers(text: str | None) -> list[float | None]:
    return [float(v) if v else None for v in (text or "").split(",")]


def close(a: list[float | None], b: list[float | None], rel: float = 1e-9) -> bool:
    return len(a) == len(b) and all(
        (x is None and y is None) or (x is not None and y is not None and math.isclose(x, y, rel_tol=rel))
        for x, y in zip(a, b, strict=True)
    )


def wait(condition: Callable[[], Any], timeout: float = 60, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    # Four computing slots: a request the page abandoned may still be stopping while the next one runs.
    with LiveServer(tmp_path_factory.mktemp("explore") / "cache.sqlite3", SRF_MAX_CONCURRENT="4") as live:
        yield live


def ready(driver: Any, key: str | None = None) -> str:
    """Wait until the page has drawn a result (the one stored under ``key``, if given); its key."""

    def drawn() -> str | None:
        status, shown = driver.execute_script(
            "return [document.body.dataset.status, document.getElementById('plot').dataset.key]"
        )
        return shown if status == "ready" and shown and (key is None or shown == key) else None

    return wait(drawn, what=f"the page to draw {key or 'a result'}")


def series(driver: Any, name: str) -> tuple[list[float | None], list[float | None], str]:
    element = driver.find_element("css selector", f'#plot [data-series="{name}"]')
    return (
        numbers(element.get_attribute("data-x")),
        numbers(element.get_attribute("data-y")),
        (element.get_attribute("d") or ""),
    )


def test_explorer_redraws_the_apis_numbers_runs_a_simulation_and_shares_its_state(server: LiveServer) -> None:
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    http = server.http
    alphas = spaced(0.1, 4, 50)
    with browser(1280, 800) as driver:
        driver.get(f"{server.url}/explore")
        first = ready(driver)
        assert driver.title.startswith("srf explorer")
        x0, y0, d0 = series(driver, "theory-test")
        expected = http.post("/theory/curve", json={**PROBLEM, "learning_rate": 3, "alphas": alphas}).json()
        assert x0 == alphas and close(y0, [p["test_error"] for p in expected["points"]])
        _, base, _ = series(driver, "baseline-test")
        assert close(base, [p["test_error"] for p in expected["baseline"]])
        shown = {
            e.get_attribute("data-name"): e.text for e in driver.find_elements("css selector", "#srf dd")
        }
        assert math.isclose(float(shown["c"]), expected["srf"]["c"], rel_tol=1e-3)
        assert math.isclose(float(shown["γ"]), expected["srf"]["gamma"], rel_tol=1e-3)
        assert len(driver.find_elements("css selector", "#warnings li")) == max(1, len(expected["warnings"]))
        screenshot(driver, "explore-curve")

        # η̃ typed in: the curve is redrawn with the API's numbers for the new η̃.
        rate = driver.find_element("id", "learning_rate")
        rate.clear()
        rate.send_keys("1.5")
        fresh = http.post("/theory/curve", json={**PROBLEM, "learning_rate": 1.5, "alphas": alphas}).json()
        second = ready(driver, fresh["key"])
        assert second != first
        _, y1, d1 = series(driver, "theory-test")
        assert close(y1, [p["test_error"] for p in fresh["points"]]) and d1 != d0
        assert max(abs(a - b) / b for a, b in zip(y1, y0, strict=True)) > 0.01  # it did change
        timings = driver.execute_script("return window.srfExplorer.timings")
        assert timings[-1]["draw_ms"] < 100, timings[-1]  # drawing 50 points; the request is the server's

        # The keyboard moves a slider, and the page follows.
        slider = driver.find_element("id", "alpha0-slider")
        slider.send_keys(Keys.ARROW_RIGHT)
        wait(
            lambda: float(driver.find_element("id", "alpha0").get_attribute("value")) != 20, what="α0 to move"
        )
        moved = float(driver.find_element("id", "alpha0").get_attribute("value"))
        assert moved > 20 and f"alpha0={moved:g}" in driver.current_url
        rate_body = {**PROBLEM, "alpha0": moved, "learning_rate": 1.5, "alphas": alphas}
        third = ready(driver, http.post("/theory/curve", json=rate_body).json()["key"])

        # The equivalent curl command and Python call ask for the very result drawn.
        curl = driver.find_element("id", "curl").get_attribute("textContent")
        assert curl.startswith(f"curl -s {server.url}/theory/curve ")
        sent = json.loads(curl.split(" -d '", 1)[1].rsplit("'", 1)[0])
        assert http.post("/theory/curve", json=sent).json()["key"] == third
        namespace: dict[str, Any] = {}
        exec(
            driver.find_element("id", "python").get_attribute("textContent"), namespace
        )  # the page's own text
        assert namespace["result"]["key"] == third

        # Downloads: the API's own formats of the current view.
        for kind in ("csv", "png"):
            driver.find_element("css selector", f'[data-download="{kind}"]').click()
            wait(
                lambda kind=kind: f"{kind.upper()} downloaded" in driver.find_element("id", "status").text,
                what=f"the {kind} download",
            )

        # The heatmap: same data as ?x=alpha&y=learning_rate, with the optimum line.
        driver.find_element("css selector", '[data-view="heatmap"]').click()
        grid = http.post(
            "/theory/curve",
            json={
                **PROBLEM,
                "alpha0": moved,
                "alphas": spaced(0.1, 4, 16),
                "learning_rate": [float(f"{0.25 * 32 ** (i / 15):.6g}") for i in range(16)],
            },
        ).json()
        heat = ready(driver, grid["key"])
        assert heat != third and driver.find_element("id", "plot").get_attribute("data-view") == "heatmap"
        cells = driver.find_elements("css selector", '#plot [data-series="heatmap"] rect')
        assert len(cells) == 16 * 16
        rates = grid["grid"]["axes"][0]["values"]
        best = [
            min(range(16), key=lambda j, i=i: grid["points"][j * 16 + i]["test_error"]) for i in range(16)
        ]
        optimum = numbers(
            driver.find_element("css selector", '#plot [data-series="optimum"]').get_attribute("data-y")
        )
        assert close(optimum, [rates[j] for j in best])
        screenshot(driver, "explore-heatmap")

        # The learned function along κ.
        driver.find_element("css selector", '[data-view="function"]').click()
        function = http.post(
            "/theory/function", json={**PROBLEM, "alpha0": moved, "learning_rate": 1.5, "alphas": [1]}
        ).json()
        ready(driver, function["key"])
        kappa, after, _ = series(driver, "after-step")
        assert kappa == function["points"][0]["kappa"] and close(after, function["points"][0]["after_step"])

        # A small simulation: the estimate first, then a job with its progress, then its points.
        driver.find_element("css selector", '[data-view="curve"]').click()
        ready(driver, third)
        for field, value in (("dimension", "200"), ("seeds", "2"), ("simn", "3")):
            box = driver.find_element("id", field)
            box.clear()
            box.send_keys(value)
        Select(driver.find_element("id", "model")).select_by_value("srf")
        wait(
            lambda: "200" in driver.current_url and "estimates" in driver.find_element("id", "estimate").text,
            what="the estimate",
        )
        driver.find_element("id", "run").click()
        wait(
            lambda: driver.execute_script("return document.body.dataset.simulation") == "done",
            timeout=120,
            what="the simulation job",
        )
        wait(
            lambda: driver.find_elements("css selector", '#plot [data-series="simulation-test"]'),
            what="the simulation's points",
        )
        points = driver.find_element("css selector", '#plot [data-series="simulation-test"]')
        sim_x, sim_y = numbers(points.get_attribute("data-x")), numbers(points.get_attribute("data-y"))
        sem = numbers(points.get_attribute("data-sem"))
        assert (
            sim_x == spaced(0.1, 4, 3) and len(driver.find_elements("css selector", "#plot .sim-point")) == 3
        )
        compare = http.post(
            "/compare",
            json={
                **PROBLEM,
                "alpha0": moved,
                "learning_rate": 1.5,
                "alphas": sim_x,
                "model": "srf",
                "dimension": 200,
                "seeds": 2,
            },
        ).json()
        assert compare["cached"] is True  # the job stored it
        assert close(sim_y, [p["simulation_mean"] for p in compare["points"]])
        assert close(sem, [p["simulation_sem"] for p in compare["points"]])
        assert float(driver.find_element("id", "progress").get_attribute("value")) == 1
        assert "sim=1" in driver.current_url
        screenshot(driver, "explore-simulation")
        assert not console_errors(driver)

        # A shared link reproduces the view: controls, curve and simulation.
        shared = driver.current_url
        driver.get("about:blank")
        driver.get(shared)
        wait(
            lambda: driver.execute_script("return document.body.dataset.simulation") == "done",
            what="the stored simulation to come back",
        )
        ready(driver, third)
        assert driver.find_element("id", "learning_rate").get_attribute("value") == "1.5"
        assert driver.find_element("id", "dimension").get_attribute("value") == "200"
        _, again, _ = series(driver, "theory-test")
        assert close(
            again, [p["test_error"] for p in http.post("/theory/curve", json=rate_body).json()["points"]]
        )
        again_sim = numbers(
            wait(lambda: driver.find_elements("css selector", '#plot [data-series="simulation-test"]'))[
                0
            ].get_attribute("data-y")
        )
        assert close(again_sim, sim_y)
        assert not console_errors(driver)

        # An error of the API is shown next to the field it names.
        rate = driver.find_element("id", "learning_rate")
        rate.clear()
        rate.send_keys("20000")
        message = wait(lambda: driver.find_element("id", "err-learning_rate").text, what="the error")
        assert "learning_rate" in message
        assert driver.execute_script("return document.body.dataset.status") == "error"
        # … and a limit of the operator (a 413 of the estimate) next to the simulation's field.
        rate.clear()
        rate.send_keys("1.5")
        box = driver.find_element("id", "dimension")
        box.clear()
        box.send_keys("5000")
        limit = wait(lambda: driver.find_element("id", "err-dimension").text, what="the limit's message")
        assert "dimension" in limit and "SRF_MAX_DIMENSION" in limit


def test_explorer_is_labelled_and_fits_a_phone(server: LiveServer) -> None:
    from selenium.webdriver.support.ui import Select

    with browser(390, 844) as driver:
        driver.get(f"{server.url}/explore?view=curve&train=1")
        ready(driver)
        unlabelled = driver.execute_script(
            "return [...document.querySelectorAll('input, select, button')]"
            ".filter(e => !e.closest('[hidden]'))"
            ".filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))"
            ".filter(e => !e.textContent.trim())"
            ".map(e => e.id || e.outerHTML.slice(0, 60))"
        )
        assert not unlabelled, unlabelled
        assert driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1")
        assert driver.find_elements("css selector", '#plot [data-series="theory-train"]')
        screenshot(driver, "explore-phone")

        # The Hermite editor: a coefficient typed in is the activation sent.
        Select(driver.find_element("id", "student")).select_by_value("hermite")
        coefficient = wait(lambda: driver.find_elements("id", "student-c2"), what="the Hermite editor")[0]
        coefficient.clear()
        coefficient.send_keys("0.3")
        body = {
            **PROBLEM,
            "student": {"hermite": [0, 1, 0.3]},
            "learning_rate": 3,
            "alphas": spaced(0.1, 4, 50),
        }
        ready(driver, server.http.post("/theory/curve", json=body).json()["key"])
        assert "student=hermite%3A0%2C1%2C0.3" in driver.current_url
        assert not console_errors(driver)


def _blobs(driver: Any) -> None:
    """Keep every blob the page hands to a download link, to read what was downloaded."""
    driver.execute_script(
        "window.__blobs = []; const make = URL.createObjectURL;"
        "URL.createObjectURL = (blob) => { window.__blobs.push(blob); return make(blob); };"
    )


def _last_blob(driver: Any) -> tuple[str, str]:
    """The type and first bytes (as Latin-1 text) of the last downloaded blob."""
    return tuple(
        driver.execute_async_script(
            "const done = arguments[arguments.length - 1]; const blob = window.__blobs.at(-1);"
            "blob.slice(0, 64).arrayBuffer().then((b) => done([blob.type,"
            " String.fromCharCode(...new Uint8Array(b))]));"
        )
    )


def test_explorer_downloads_every_format_cancels_a_job_and_drops_a_superseded_request(
    server: LiveServer,
) -> None:
    from selenium.webdriver.support.ui import Select

    http = server.http
    with browser(1280, 800) as driver:
        # A slow view (the sampled bulk takes seconds), superseded while the server computes it.
        driver.get(f"{server.url}/explore?bulk=one_step_sampled&learning_rate=2.25")
        wait(
            lambda: driver.execute_script("return document.body.dataset.status") == "loading", what="loading"
        )
        time.sleep(0.3)
        default = driver.execute_script("return window.srfExplorer.config.choices.bulk.default")
        Select(driver.find_element("id", "bulk")).select_by_value(default)
        expected = http.post(
            "/theory/curve", json={**PROBLEM, "learning_rate": 2.25, "alphas": spaced(0.1, 4, 50)}
        ).json()
        ready(driver, expected["key"])
        assert "bulk=" not in driver.current_url
        # The server heard the page leave: the abandoned request is logged as 499, and stops.
        wait(
            lambda: '"status": 499' in server.log.read_text(),
            timeout=10,
            what="the 499 of the superseded request",
        )
        wait(
            lambda: "srf_computations_running 0.0" in http.get("/metrics").text,
            timeout=10,
            what="the superseded computation to stop",
        )
        sampled = {**PROBLEM, "learning_rate": 2.25, "bulk": "one_step_sampled", "alphas": spaced(0.1, 4, 50)}
        assert http.post("/explore/estimate", json=sampled).json()["stored"] is False

        # Every download format is the API's own answer for the view.
        _blobs(driver)
        signatures = {
            "csv": ("text/csv", "alpha"),
            "png": ("image/png", "\x89PNG"),
            "svg": ("image/svg", "<?xml"),
            "pdf": ("application/pdf", "%PDF"),
        }
        for kind, (media, start) in signatures.items():
            driver.find_element("css selector", f'[data-download="{kind}"]').click()
            wait(
                lambda kind=kind: f"{kind.upper()} downloaded" in driver.find_element("id", "status").text,
                what=f"the {kind} download",
            )
            media_type, head = _last_blob(driver)
            assert media_type.startswith(media) and head.startswith(start), (kind, media_type, head[:20])

        # A long simulation job, cancelled from the page: the server stops it and keeps nothing.
        for field, value in (("dimension", "1500"), ("seeds", "10"), ("simn", "10")):
            box = driver.find_element("id", field)
            box.clear()
            box.send_keys(value)
        Select(driver.find_element("id", "model")).select_by_value("network")
        wait(lambda: "estimates" in driver.find_element("id", "estimate").text, what="the estimate")
        driver.find_element("id", "run").click()
        job = wait(lambda: driver.execute_script("return window.srfExplorer.job()"), what="the job's id")
        wait(lambda: not driver.find_element("id", "cancel").get_attribute("disabled"), what="Cancel enabled")
        driver.find_element("id", "cancel").click()
        wait(
            lambda: driver.find_element("id", "sim-status").text == "cancelled", timeout=30, what="cancelled"
        )
        assert http.get(f"/jobs/{job}").json()["status"] == "cancelled"
        assert not driver.find_element("id", "run").get_attribute("disabled")
        assert driver.execute_script("return document.body.dataset.simulation") != "done"
        assert not driver.find_elements("css selector", '#plot [data-series="simulation-test"]')
        screenshot(driver, "explore-cancelled")
        assert not console_errors(driver)
