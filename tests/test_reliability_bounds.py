"""Issue 18, second hostile round: bounds on answers, jobs and figures, owners of jobs, smaller edges.

Each test fails on the code before the fix: κ uncounted in the point limit and the time model, answers
without a size bound, stored answers parsed and re-encoded whole, …
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_service_support import THEORY, client

from service.render import respond


def _function(alphas: int, kappas: int) -> dict[str, Any]:
    return {
        **THEORY,
        "alphas": [round(0.1 + 0.05 * i, 6) for i in range(alphas)],
        "kappa": [round(-4 + 8 * i / max(kappas - 1, 1), 6) for i in range(kappas)],
    }


# ------------------------------------------------------------------------------------------------
# item 2: answers with a size bound
# ------------------------------------------------------------------------------------------------
def test_kappa_counts_in_the_point_limit(tmp_path: Path) -> None:
    with client(tmp_path) as http:
        r = http.post("/theory/function", json=_function(200, 10_000))
    assert r.status_code == 413, r.text[:300]
    assert r.json()["limit"] == "SRF_MAX_POINTS" and "kappa 10000" in r.json()["detail"]


def test_kappa_counts_in_the_time_model(tmp_path: Path) -> None:
    with client(tmp_path, max_points=10**8, max_response_bytes=10**10, max_sync_seconds=2) as http:
        r = http.post("/theory/function", json=_function(200, 10_000))
    assert r.status_code == 413 and r.json()["limit"] == "SRF_MAX_SYNC_SECONDS", r.text[:300]


def test_the_answer_size_is_refused_before_any_work(tmp_path: Path) -> None:
    with client(tmp_path, max_points=10**6, max_response_bytes=1_000_000) as http:
        r = http.post("/theory/function", json=_function(20, 2000))
        assert r.status_code == 413 and r.json()["limit"] == "SRF_MAX_RESPONSE_BYTES", r.text[:300]
        assert "MiB" in r.json()["detail"]
        assert http.app.state.services.runner.computations == 0


def test_a_large_stored_answer_is_bounded_in_every_text_format(tmp_path: Path) -> None:
    body = _function(4, 2000)
    with client(tmp_path) as http:
        first = http.post("/theory/function", json=body)
        assert first.status_code == 200
    key, size = first.json()["key"], len(first.content)
    assert 500_000 < size < 1_000_000
    with client(tmp_path, max_response_bytes=size // 2) as http:
        for answer in (
            http.get(f"/results/{key}"),
            http.get(f"/results/{key}/table"),
            http.post("/theory/function", json=body),
        ):
            assert answer.status_code == 413, answer.text[:300]
            assert answer.json()["limit"] == "SRF_MAX_RESPONSE_BYTES"
    with client(tmp_path, max_response_bytes=int(size * 1.5)) as http:
        assert http.get(f"/results/{key}").status_code == 200
        table = http.get(f"/results/{key}/table")  # its CSV is about 2.5 times its JSON
        assert table.status_code == 413 and "CSV" in table.json()["detail"]


def test_a_stored_answer_is_served_as_stored_with_its_envelope(tmp_path: Path) -> None:
    with client(tmp_path) as http:
        computed = http.post("/theory/curve", json=THEORY)
        again = http.post("/theory/curve", json=THEORY)
        by_key = http.get(f"/results/{computed.json()['key']}")
    assert again.headers["x-cache"] == "hit" and again.headers["content-type"] == "application/json"
    assert int(again.headers["content-length"]) == len(again.content)
    first, second, third = computed.json(), again.json(), by_key.json()
    assert first["cached"] is False and second["cached"] is True and third["cached"] is True
    assert list(second) == list(first) == list(third)  # key, cached first; elapsed_seconds last
    same = {k: v for k, v in first.items() if k not in ("cached", "elapsed_seconds")}
    assert same == {k: v for k, v in second.items() if k not in ("cached", "elapsed_seconds")}
    assert 0 < third["elapsed_seconds"] <= first["elapsed_seconds"]  # by key: the computing time as stored
    assert second["elapsed_seconds"] < 1.0


def test_serving_a_large_stored_answer_takes_a_computing_slot(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(respond, "LARGE_ANSWER_BYTES", 1000)
    with client(tmp_path, max_concurrent=1) as http:
        key = http.post("/theory/curve", json=THEORY).json()["key"]
        runner = http.app.state.services.runner
        assert http.get(f"/results/{key}/table").status_code == 200
        runner._free = 0  # every slot busy (as while computing)
        try:
            busy = http.get(f"/results/{key}/table")
            json_answer = http.get(f"/results/{key}")  # served as stored: no parsing, no slot
        finally:
            runner._free = 1
    assert busy.status_code == 429 and "retry-after" in busy.headers, busy.text
    assert json_answer.status_code == 200


@pytest.mark.parametrize(
    "text", [b'{"key":"ab","cached":false}', b'{"cached":false,"x":1,"elapsed_seconds":1}']
)
def test_a_text_not_in_the_stores_shape_is_parsed_instead(text: bytes) -> None:
    assert respond._splice(text, lambda body: body) is None


# ------------------------------------------------------------------------------------------------
# item 3: a ceiling for jobs, a memory model for the theory, memory given back after a cancel
# ------------------------------------------------------------------------------------------------
ASYNC = {"Prefer": "respond-async"}


def test_a_job_beyond_the_job_ceiling_is_refused(tmp_path: Path) -> None:
    grid = {**THEORY, "learning_rate": [0.5 * i for i in range(64)]}
    with client(tmp_path, max_job_seconds=0.05) as http:
        job = http.post("/theory/curve", json=grid, headers=ASYNC)
        small = http.post("/theory/curve", json=THEORY, headers=ASYNC)
    assert job.status_code == 413 and job.json()["limit"] == "SRF_MAX_JOB_SECONDS", job.text
    assert "even as a job" in job.json()["detail"]
    assert small.status_code == 202


def test_the_sampled_bulk_is_priced_in_memory(tmp_path: Path) -> None:
    body = {**THEORY, "bulk": "one_step_sampled", "width": 20.0, "alpha0": 2.0, "alphas": [0.5]}
    with client(tmp_path, max_memory_bytes=200 * 2**20) as http:
        sync = http.post("/theory/curve", json=body)
        job = http.post("/theory/curve", json=body, headers=ASYNC)
        narrow = http.post("/theory/curve", json={**body, "width": 1.0})
        assert http.app.state.services.runner.computations == 1  # only the narrow one ran
    for r in (sync, job):
        assert r.status_code == 413 and r.json()["limit"] == "SRF_MAX_MEMORY_BYTES", r.text
        assert "width" in r.json()["detail"]
    assert narrow.status_code == 200, narrow.text


@pytest.mark.parametrize(("width", "dimension"), [(4.0, 500), (1.0, 1000)])
def test_the_sampled_bulk_memory_model_against_its_measured_peak(width: float, dimension: int) -> None:
    import tracemalloc

    from srf_engine import Problem
    from srf_engine.theory.cost import estimate_sampled_bulk_bytes
    from srf_engine.theory.sampled_bulk import SampledOneStepBulk, first_batch

    problem = Problem("tanh", "sin", learning_rate=3.0, alpha0=2.0, width=width)
    tracemalloc.start()
    try:
        SampledOneStepBulk(problem, first_batch(problem, dimension))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    modelled = estimate_sampled_bulk_bytes(problem, dimension)
    assert 0.8 < modelled / peak < 1.5, (modelled / 2**20, peak / 2**20)


def test_a_cancelled_job_gives_its_memory_back(tmp_path: Path, monkeypatch) -> None:
    import time
    import weakref

    import numpy as np
    from test_service_support import replace_run, wait_job

    arrays: list[weakref.ref] = []

    def run(prepared: Any, progress: Any = None, **_: Any) -> dict[str, Any]:
        big = np.ones(2**20)  # what a first batch's W0 would be
        arrays.append(weakref.ref(big))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            progress(0.5)  # raises Cancelled once the job is deleted
            time.sleep(0.01)
        raise AssertionError("never cancelled")

    replace_run(monkeypatch, "theory/curve", run)
    with client(tmp_path) as http:
        job_id = http.post("/theory/curve", json=THEORY, headers=ASYNC).json()["id"]
        wait_job(http, job_id, until=("running",))
        deadline = time.monotonic() + 10
        while not arrays and time.monotonic() < deadline:
            time.sleep(0.01)
        assert http.delete(f"/jobs/{job_id}").status_code == 200
        assert wait_job(http, job_id)["status"] == "cancelled"
        deadline = time.monotonic() + 5
        while arrays[0]() is not None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert arrays[0]() is None, "the cancelled computation's arrays are still referenced"


# ------------------------------------------------------------------------------------------------
# item 4: per-key limits count jobs and figures; a job belongs to its key
# ------------------------------------------------------------------------------------------------
KEYS = {"api_keys": "key-a,key-b", "api_key_max_concurrent": 1, "max_concurrent": 2}
A = {"Authorization": "Bearer key-a"}
B = {"Authorization": "Bearer key-b"}


def test_a_job_answers_only_the_key_that_submitted_it(tmp_path: Path) -> None:
    with client(tmp_path, **KEYS) as http:
        job_id = http.post("/theory/curve", json=THEORY, headers={**A, **ASYNC}).json()["id"]
        assert http.get(f"/jobs/{job_id}", headers=B).status_code == 404
        assert http.delete(f"/jobs/{job_id}", headers=B).status_code == 404
        from test_service_support import wait_job

        class AsA:  # wait_job polls with key A
            def get(self, path: str) -> Any:
                return http.get(path, headers=A)

        job = wait_job(AsA(), job_id)  # type: ignore[arg-type]
        assert job["status"] == "done"  # B's DELETE did not cancel it
        key = job["key"]
        assert http.get(f"/results/{key}", headers=B).status_code == 200  # results stay shared by key


def test_a_keys_running_jobs_count_against_its_share(tmp_path: Path, monkeypatch) -> None:
    import threading
    import time

    from test_service_support import replace_run

    release = threading.Event()
    real = __import__("service.work.pipeline", fromlist=["ENDPOINTS"]).ENDPOINTS["theory/curve"].run

    def run(prepared: Any, progress: Any = None, **options: Any) -> dict[str, Any]:
        if prepared.normal["ridge"] != 0.1:  # the slow ones: until released
            deadline = time.monotonic() + 20
            while not release.is_set() and time.monotonic() < deadline:
                progress(0.5)
                time.sleep(0.01)
        return real(prepared, progress, **options)

    replace_run(monkeypatch, "theory/curve", run)
    with client(tmp_path, **KEYS) as http:
        try:
            first = http.post("/theory/curve", json={**THEORY, "ridge": 0.2}, headers={**A, **ASYNC})
            second = http.post("/theory/curve", json={**THEORY, "ridge": 0.3}, headers={**A, **ASYNC})
            ids = [first.json()["id"], second.json()["id"]]
            deadline = time.monotonic() + 10
            while http.get(f"/jobs/{ids[0]}", headers=A).json()["status"] != "running":
                assert time.monotonic() < deadline
                time.sleep(0.01)
            time.sleep(0.2)
            assert http.get(f"/jobs/{ids[1]}", headers=A).json()["status"] == "queued"  # A's turn is taken
            a_sync = http.post("/theory/curve", json=THEORY, headers=A)
            b_sync = http.post("/theory/curve", json=THEORY, headers=B)  # the second slot is free for B
        finally:
            release.set()
    assert a_sync.status_code == 429 and "API key" in a_sync.json()["detail"], a_sync.text
    assert b_sync.status_code == 200, b_sync.text


# ------------------------------------------------------------------------------------------------
# item 9: smaller edges
# ------------------------------------------------------------------------------------------------
JSON = {"content-type": "application/json"}


def test_a_repeated_key_in_a_body_is_refused_naming_it(tmp_path: Path) -> None:
    text = '{"student": "tanh", "teacher": "sin", "learning_rate": 3, "alpha0": 20, "ridge": 0.1, ' \
        '"ridge": 5, "alphas": [0.5]}'
    with client(tmp_path) as http:
        r = http.post("/theory/curve", content=text, headers=JSON)
    assert r.status_code == 422, r.text
    assert "ridge" in r.json()["message"] and "twice" in r.json()["message"]


def test_a_huge_integer_is_reported_as_such(tmp_path: Path) -> None:
    text = '{"student": "tanh", "teacher": "sin", "learning_rate": ' + "9" * 5000 + ', "alpha0": 1}'
    with client(tmp_path) as http:
        huge = http.post("/theory/curve", content=text, headers=JSON)
        broken = http.post("/theory/curve", content='{"student": "tanh",, }', headers=JSON)
    assert huge.status_code == 422 and "integer" in huge.json()["message"], huge.text[:300]
    assert broken.status_code == 422 and "at character" in broken.json()["message"], broken.text


def test_extrapolate_dimensions_must_be_distinct(tmp_path: Path) -> None:
    from test_service_support import COMPARE

    with client(tmp_path) as http:
        r = http.post("/compare", json={**COMPARE, "extrapolate_dimensions": [200, 200]})
    assert r.status_code == 422 and "distinct" in r.json()["message"], r.text


def test_the_access_log_caps_a_long_path(tmp_path: Path, caplog) -> None:
    import logging

    with caplog.at_level(logging.INFO, logger="srf.access"), client(tmp_path) as http:
        http.get("/results/" + "a" * 60_000)
    paths = [r.fields["path"] for r in caplog.records if hasattr(r, "fields") and "path" in r.fields]
    assert paths and all(len(p) < 1000 for p in paths), [len(p) for p in paths]
    assert "characters)" in paths[-1]


def test_metrics_can_require_a_key(tmp_path: Path) -> None:
    with client(tmp_path, api_keys="key-a") as http:
        assert http.get("/metrics").status_code == 200  # open by default, as documented
    with client(tmp_path, api_keys="key-a", metrics_require_key=True) as http:
        assert http.get("/metrics").status_code == 401
        assert http.get("/metrics", headers=A).status_code == 200


def test_a_413_on_a_chunked_body_closes_the_connection(tmp_path: Path) -> None:
    def chunks():
        for _ in range(64):
            yield b"x" * 65536

    with client(tmp_path, max_body_bytes=100_000) as http:
        r = http.post("/theory/curve", content=chunks(), headers=JSON)
    assert r.status_code == 413 and r.headers.get("connection") == "close", r.headers


# ------------------------------------------------------------------------------------------------
# item 5: figures of a stored result have the budget of a POST's
# ------------------------------------------------------------------------------------------------
def test_a_stored_results_figure_is_priced_like_the_posts(tmp_path: Path, monkeypatch) -> None:
    from service.render import figure_cost

    with client(tmp_path) as http:
        key = http.post("/theory/curve", json=THEORY).json()["key"]
        monkeypatch.setattr(figure_cost, "PIXEL_SECONDS", 1e-3)  # a default PNG: ~300 s to draw
        answers = (http.get(f"/results/{key}", params={"format": "png"}), http.get(f"/results/{key}/figure"))
        for answer in answers:
            assert answer.status_code == 413 and "SRF_MAX_SYNC_SECONDS" in answer.text, answer.text
        assert http.app.state.services.runner.tasks == 0  # nothing was drawn


# ------------------------------------------------------------------------------------------------
# item 6: a synchronous request gets its budget back when the job that joined it is deleted
# ------------------------------------------------------------------------------------------------
def test_a_deleted_joining_job_gives_the_synchronous_request_its_budget_back(tmp_path, monkeypatch) -> None:
    import concurrent.futures as cf
    import time

    from test_service_support import replace_run

    def run(prepared: Any, progress: Any = None, **_: Any) -> dict[str, Any]:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            progress(0.5)  # past the budget: SyncBudgetExceeded
            time.sleep(0.01)
        raise AssertionError("ran on past its budget")

    replace_run(monkeypatch, "theory/curve", run)
    with client(tmp_path, max_sync_seconds=1.0) as http, cf.ThreadPoolExecutor(1) as pool:
        started = time.monotonic()
        sync = pool.submit(http.post, "/theory/curve", json=THEORY)
        while http.app.state.services.runner.flight(_key(THEORY)) is None:
            assert time.monotonic() - started < 5
            time.sleep(0.01)
        job_id = http.post("/theory/curve", json=THEORY, headers=ASYNC).json()["id"]
        time.sleep(1.2)  # past the budget: the job holds it lifted
        assert http.delete(f"/jobs/{job_id}").status_code == 200
        answer = sync.result(timeout=20)
        took = time.monotonic() - started
    assert answer.status_code == 413 and answer.json()["limit"] == "SRF_MAX_SYNC_SECONDS", answer.text
    assert took < 5, took


def _key(body: dict[str, Any]) -> str:
    from service.schemas import TheoryRequest
    from service.work.prepare import prepare

    return prepare(TheoryRequest.model_validate(body)).key


# ------------------------------------------------------------------------------------------------
# item 8: rendered figures count in SRF_CACHE_MAX_BYTES
# ------------------------------------------------------------------------------------------------
def test_figures_count_in_the_cache_size(tmp_path: Path) -> None:
    from service.render import figure_cache

    with client(tmp_path) as http:  # sizes first: one result, one figure
        key = http.post("/theory/curve", json=THEORY).json()["key"]
        one = len(http.get(f"/results/{key}/figure", params={"dpi": 100}).content)
        result = http.app.state.services.store.stats()["result_bytes"]
    limit = result + int(2.5 * one)
    with client(tmp_path, cache_max_bytes=limit) as http:
        for dpi in (100, 110, 120, 130, 140, 150):
            assert http.get(f"/results/{key}/figure", params={"dpi": dpi}).status_code == 200
        store = http.app.state.services.store
        figures = figure_cache.total_bytes(store)
        results = store.stats()["result_bytes"]
        assert results + figures <= limit, (results, figures, limit)
        assert figure_cache.count(store) >= 1  # the newest are kept
        assert http.get(f"/results/{key}").status_code == 200  # the result itself stays


def test_two_figures_of_one_result_compute_its_smooth_theory_once(tmp_path: Path, monkeypatch) -> None:
    import concurrent.futures as cf
    import time

    from service.work import pipeline

    real = pipeline.compute_body
    computed: list[str] = []

    def counted(prepared: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        computed.append(prepared.key)
        time.sleep(0.5)  # long enough for the two figures to overlap
        return real(prepared, *args, **kwargs)

    with client(tmp_path) as http:
        key = http.post("/theory/curve", json=THEORY).json()["key"]
        monkeypatch.setattr(pipeline, "compute_body", counted)
        with cf.ThreadPoolExecutor(2) as pool:
            draw = lambda fmt: http.get(f"/results/{key}/figure", params={"format": fmt})  # noqa: E731
            answers = list(pool.map(draw, ["png", "svg"]))
    assert [a.status_code for a in answers] == [200, 200], [a.text[:200] for a in answers]
    assert computed and len(computed) == len(set(computed)), computed
