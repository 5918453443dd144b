"""Every format of every endpoint over HTTP: JSON, CSV, PNG, SVG, PDF; 406; /results/{key}; jobs in a
format; the figure cache; rendering within the compute capacity (429) and off the event loop."""

from __future__ import annotations

import csv
import io
import threading
import time
from pathlib import Path

import pytest
from test_service_support import COMPARE, SIMULATE, THEORY, client, wait_job

from service.render import figure_cache, figures
from service.render.tables import COORDINATES

MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "svg": b"<?xml", "pdf": b"%PDF-"}
MEDIA = {"csv": "text/csv", "png": "image/png", "svg": "image/svg+xml", "pdf": "application/pdf"}
ENDPOINTS = [("/theory/curve", THEORY), ("/simulate", SIMULATE), ("/compare", COMPARE)]
ERROR_COLUMNS = {
    "/theory/curve": {"test_error", "train_error", "baseline_test_error"},
    "/simulate": {"test_error_mean", "test_error_sem", "train_error_mean"},
    "/compare": {"theory", "simulation_mean", "simulation_sem", "z"},
}


@pytest.fixture(scope="module")
def http(tmp_path_factory):
    with client(tmp_path_factory.mktemp("formats")) as test_client:
        yield test_client


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _check(response, fmt: str, n_points: int, path: str) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(MEDIA[fmt])
    if fmt == "csv":
        rows = _rows(response.text)
        assert len(rows) == n_points
        assert list(rows[0])[:6] == list(COORDINATES)
        assert ERROR_COLUMNS[path] <= set(rows[0])
        assert all(float(r["alpha"]) == a for r, a in zip(rows, THEORY["alphas"], strict=True))
    else:
        assert response.content.startswith(MAGIC[fmt])


@pytest.mark.parametrize(("path", "body"), ENDPOINTS)
@pytest.mark.parametrize("fmt", ["csv", "png", "svg", "pdf"])
def test_every_format_of_every_post_by_query_and_by_accept(http, path: str, body: dict, fmt: str) -> None:
    by_query = http.post(path, params={"format": fmt}, json=body)
    _check(by_query, fmt, len(body["alphas"]), path)
    by_accept = http.post(path, json=body, headers={"Accept": MEDIA[fmt]})
    _check(by_accept, fmt, len(body["alphas"]), path)
    if fmt != "csv":
        assert by_accept.headers["x-figure-cache"] == "hit"  # same figure: drawn once
    json_body = http.post(path, json=body).json()
    assert json_body["request"]["alphas"] == body["alphas"]  # the normal form its key was made from
    # The CSV's numbers are the JSON's, exactly.
    if fmt == "csv" and path == "/theory/curve":
        rows = _rows(by_query.text)
        assert [float(r["test_error"]) for r in rows] == [p["test_error"] for p in json_body["points"]]


@pytest.mark.parametrize(
    ("path", "params", "headers"),
    [
        ("/theory/curve", {"format": "xml"}, {}),
        ("/theory/curve", {}, {"Accept": "text/html"}),
        ("/simulate", {}, {"Accept": "image/jpeg"}),
        ("/compare", {}, {"Accept": "application/json;q=0, text/csv;q=0, image/*;q=0, application/pdf;q=0"}),
    ],
)
def test_formats_that_cannot_be_given_are_406_never_json(http, path, params, headers) -> None:
    body = dict(ENDPOINTS)[path]
    r = http.post(path, params=params, json=body, headers=headers)
    assert r.status_code == 406, r.text
    assert r.json()["field"] == "format" and "available" in r.json()["detail"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"format": "png", "dpi": 5}, "dpi"),
        ({"format": "png", "size": "huge"}, "size"),
        ({"format": "png", "x": "learning_rate"}, "x"),  # a single value: nothing to draw along
        ({"format": "png", "x": "alpha", "y": "ridge"}, "y"),
        ({"format": "png", "x": "kappa"}, "x"),
        ({"format": "csv", "dpi": 100}, "dpi"),
    ],
)
def test_bad_figure_options_are_422_naming_the_field_before_any_work(http, params, field) -> None:
    before = http.app.state.services.runner.computations
    r = http.post("/theory/curve", params=params, json={**THEORY, "ridge": 0.77})
    assert r.status_code == 422, r.text
    detail = r.json()
    assert field in str(detail)
    assert http.app.state.services.runner.computations == before


def test_results_by_key_in_every_format(http) -> None:
    posted = http.post("/compare", json=COMPARE).json()
    key = posted["key"]
    got = http.get(f"/results/{key}")
    assert got.status_code == 200 and got.headers["x-cache"] == "hit"
    strip = {"cached", "elapsed_seconds"}
    assert {k: v for k, v in got.json().items() if k not in strip} == {
        k: v for k, v in posted.items() if k not in strip
    }
    for fmt in ("csv", "png", "svg", "pdf"):
        _check(http.get(f"/results/{key}", params={"format": fmt}), fmt, len(COMPARE["alphas"]), "/compare")
    # Its parts are results too, under their own keys.
    theory_key = posted["theory"]["key"]
    _check(http.get(f"/results/{theory_key}", headers={"Accept": "text/csv"}), "csv", 3, "/theory/curve")
    assert http.get(f"/results/{key}", headers={"Accept": "text/html"}).status_code == 406
    missing = http.get(f"/results/{'0' * 64}")
    assert missing.status_code == 404 and missing.json()["field"] == "key"
    assert http.get("/results/not-a-key").status_code == 422


def test_figure_and_table_paths_answer_only_their_format(http) -> None:
    key = http.post("/compare", json=COMPARE).json()["key"]
    n = len(COMPARE["alphas"])
    _check(http.get(f"/results/{key}/figure"), "png", n, "/compare")  # png by default
    for fmt in ("svg", "pdf"):
        _check(http.get(f"/results/{key}/figure", params={"format": fmt}), fmt, n, "/compare")
    # Accept does not turn the figure into JSON; the figure options are checked as on /results/{key}
    _check(http.get(f"/results/{key}/figure", headers={"Accept": "application/json"}), "png", n, "/compare")
    for params in ({"format": "json"}, {"format": "csv"}, {"x": "width"}, {"dpi": 5}):
        assert http.get(f"/results/{key}/figure", params=params).status_code == 422, params
    _check(http.get(f"/results/{key}/table"), "csv", n, "/compare")
    for tail in ("figure", "table"):
        missing = http.get(f"/results/{'0' * 64}/{tail}")
        assert missing.status_code == 404 and missing.json()["field"] == "key"


def test_a_job_asked_in_a_figure_format_is_fetched_in_it(http) -> None:
    body = {**COMPARE, "ridge": 0.31}
    r = http.post(
        "/compare", params={"format": "svg", "dpi": 80}, json=body, headers={"Prefer": "respond-async"}
    )
    assert r.status_code == 202
    location = r.headers["location"]
    assert (
        location.startswith(f"/jobs/{r.json()['id']}?") and "format=svg" in location and "dpi=80" in location
    )
    wait_job(http, r.json()["id"])
    figure = http.get(location)
    assert figure.status_code == 200 and figure.content.startswith(MAGIC["svg"])
    assert (
        http.get(f"/jobs/{r.json()['id']}", params={"format": "csv"})
        .headers["content-type"]
        .startswith("text/csv")
    )
    assert http.get(f"/jobs/{r.json()['id']}").json()["status"] == "done"  # JSON stays the default
    # The format is checked before the job is accepted.
    refused = http.post("/compare", params={"format": "gif"}, json=body, headers={"Prefer": "respond-async"})
    assert refused.status_code == 406


def test_figure_cache_hit_and_smooth_theory_kept_in_the_store(http) -> None:
    services = http.app.state.services
    body = {**THEORY, "ridge": 0.23}
    tasks, results = services.runner.tasks, services.store.count_results()
    first = http.post("/theory/curve", params={"format": "png", "errors": "test,train"}, json=body)
    assert first.status_code == 200 and first.headers["x-figure-cache"] == "miss"
    assert services.runner.tasks == tasks + 1
    # The result and the smooth theory (the same problem on a fine α grid) are both stored.
    assert services.store.count_results() == results + 2
    fine = figures.fine_request(
        first_request := http.post("/theory/curve", json=body).json()["request"], "alpha"
    )
    assert (
        fine is not None and len(fine["alphas"]) > 100 and set(first_request["alphas"]) <= set(fine["alphas"])
    )
    again = http.post("/theory/curve", params={"format": "png", "errors": "test,train"}, json=body)
    assert again.headers["x-figure-cache"] == "hit" and again.content == first.content
    assert services.runner.tasks == tasks + 1
    other = http.post("/theory/curve", params={"format": "png", "dpi": 60}, json=body)
    assert other.headers["x-figure-cache"] == "miss" and services.runner.tasks == tasks + 2
    assert figure_cache.count(services.store) >= 2


def test_rendering_takes_a_compute_slot_429_beyond_and_leaves_the_loop_free(
    tmp_path: Path, monkeypatch
) -> None:
    release, started = threading.Event(), threading.Event()
    real = figures.make_figure

    def held(*args, **kwargs):
        started.set()
        assert release.wait(20)
        return real(*args, **kwargs)

    monkeypatch.setattr(figures, "make_figure", held)
    with client(tmp_path, max_concurrent=1, retry_after_seconds=4) as http:
        key = http.post("/theory/curve", json=THEORY).json()["key"]
        answers: dict[str, object] = {}
        thread = threading.Thread(
            target=lambda: answers.setdefault("first", http.get(f"/results/{key}", params={"format": "png"}))
        )
        thread.start()
        try:
            assert started.wait(20)
            t0 = time.perf_counter()
            assert http.get("/healthz").status_code == 200
            assert time.perf_counter() - t0 < 2  # drawing does not hold the event loop
            busy = http.get(f"/results/{key}", params={"format": "pdf"})
            assert busy.status_code == 429 and busy.headers["retry-after"] == "4"
            # A computation cannot start either while the slot draws.
            assert http.post("/theory/curve", json={**THEORY, "ridge": 0.5}).status_code == 429
        finally:
            release.set()
            thread.join(30)
        assert answers["first"].status_code == 200
        assert http.get(f"/results/{key}", params={"format": "pdf"}).status_code == 200


def test_a_grid_answers_csv_rows_and_figures_along_any_axis(http) -> None:
    body = {**THEORY, "learning_rate": [1.0, 3.0], "ridge": 0.2}
    points = http.post("/theory/curve", json=body).json()["points"]
    rows = _rows(http.post("/theory/curve", params={"format": "csv"}, json=body).text)
    assert len(rows) == 2 * len(THEORY["alphas"]) == len(points)
    for row, point in zip(rows, points, strict=True):
        assert float(row["learning_rate"]) == point["learning_rate"] and float(row["alpha"]) == point["alpha"]
        assert float(row["test_error"]) == point["test_error"]
    for params in ({}, {"x": "learning_rate"}, {"x": "alpha", "y": "learning_rate"}):
        r = http.post("/theory/curve", params={"format": "png", **params}, json=body)
        assert r.status_code == 200 and r.content.startswith(MAGIC["png"]), (params, r.text)


@pytest.mark.parametrize("fmt", ["csv", "png", "svg", "pdf"])
def test_learned_function_in_every_format(http, fmt: str) -> None:
    body = {**THEORY, "alphas": [0.5, 2.0], "kappa": [-2.0, -1.0, 0.0, 1.0, 2.0]}
    r = http.post("/theory/function", params={"format": fmt}, json=body)
    assert r.status_code == 200, r.text
    if fmt == "csv":
        rows = _rows(r.text)
        assert len(rows) == 2 * 5 and {"kappa", "target", "after_step", "at_initialisation"} <= set(rows[0])
    else:
        assert r.content.startswith(MAGIC[fmt])
    assert http.post("/theory/function", json=body, headers={"Accept": "image/gif"}).status_code == 406
    assert http.post("/theory/function", params={"format": "png", "x": "alpha"}, json=body).status_code == 422
