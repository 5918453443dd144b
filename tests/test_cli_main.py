"""The ``srf`` command line: same numbers as HTTP, smoke runs, clear errors, ``srf serve``.

Parameters are tiny (d = 100, one seed) so that the file runs in seconds.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_service_support import free_port, stop_process

from service.cli import main as cli
from service.cli import parse

ROOT = Path(__file__).resolve().parents[1]

PROBLEM = [
    "--student",
    "tanh",
    "--teacher",
    "sin",
    "--learning-rate",
    "3",
    "--alpha0",
    "20",
    "--ridge",
    "0.1",
]
PROBLEM_BODY: dict[str, Any] = {
    "student": "tanh",
    "teacher": "sin",
    "learning_rate": 3.0,
    "alpha0": 20.0,
    "ridge": 0.1,
}
TINY_SIMULATION = ["--dimension", "100", "--seeds", "1", "--test-samples", "500", "--alphas", "0.5,1.5"]

# Fields that describe one response rather than the result: they may differ between two calls.
VOLATILE = {"cached", "elapsed_seconds"}


def strip_volatile(body: Any) -> Any:
    if isinstance(body, dict):
        return {k: strip_volatile(v) for k, v in body.items() if k not in VOLATILE}
    if isinstance(body, list):
        return [strip_volatile(v) for v in body]
    return body


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh cache file per test, for the CLI and the in-process app alike."""
    path = tmp_path / "cache.sqlite3"
    monkeypatch.setenv("SRF_CACHE_PATH", str(path))
    from service.settings import get_settings

    get_settings.cache_clear()
    yield path
    get_settings.cache_clear()


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``srf argv…`` in-process: exit code, stdout, stderr."""
    try:
        code = cli.main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def run_cli_process(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m service argv…`` as a user runs it (no stdin)."""
    return subprocess.run(
        [sys.executable, "-m", "service", *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        timeout=300,
    )


def http_post(path: str, body: dict[str, Any]) -> dict[str, Any]:
    """``POST path`` against the service in-process (httpx through Starlette's TestClient)."""
    from fastapi.testclient import TestClient

    from service.app import create_app
    from service.settings import Settings

    app = create_app(Settings(cache_path=os.environ["SRF_CACHE_PATH"]))
    with TestClient(app) as client:
        response = client.post(path, json=body)
    assert response.status_code == 200, response.text
    assert response.headers["x-cache"] == "miss"  # computed by the service, not read back from the CLI's
    return response.json()


# ----------------------------------------------------------------------------- same numbers as HTTP


def test_theory_prints_the_same_numbers_as_post_theory_curve(capsys: pytest.CaptureFixture[str]) -> None:
    alphas = [0.2, 0.9, 1.6, 2.3, 3.0]
    code, out, err = run_cli(capsys, "theory", *PROBLEM, "--alphas", "0.2:3:5", "--bulk", "marchenko_pastur")
    assert code == 0, err
    from_cli = json.loads(out)
    from_http = http_post("/theory/curve", {**PROBLEM_BODY, "alphas": alphas, "bulk": "marchenko_pastur"})
    assert strip_volatile(from_cli) == strip_volatile(from_http)
    assert [p["alpha"] for p in from_cli["points"]] == alphas
    # docs/theory.md §7: the §5 limit at α = 0.2 is 0.04848290.
    assert from_cli["points"][0]["test_error"] == pytest.approx(0.04848290, rel=1e-4)


def test_theory_subprocess_matches_http_with_hermite_and_srf_options(tmp_path: Path) -> None:
    """Through the real entry point, with the JSON and c,r,gamma forms of the options."""
    result = run_cli_process(
        "theory",
        "--student",
        '{"hermite": [0, 1, 0.5]}',
        "--teacher",
        "tanh",
        "--srf",
        "1.0189732,1.13405551,0.97185444",
        "--learning-rate",
        "3",
        "--alpha0",
        "20",
        "--alphas",
        "0.5,2",
        "--noise",
        "0.01",
        "--output",
        str(tmp_path / "theory.json"),
        env={"SRF_CACHE_PATH": str(tmp_path / "cli-cache.sqlite3")},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""  # --output: nothing on stdout
    from_cli = json.loads((tmp_path / "theory.json").read_text())
    from_http = http_post(
        "/theory/curve",
        {
            "student": {"hermite": [0, 1, 0.5]},
            "teacher": "tanh",
            "srf": {"c": 1.0189732, "r": 1.13405551, "gamma": 0.97185444},
            "learning_rate": 3,
            "alpha0": 20,
            "alphas": [0.5, 2],
            "noise": 0.01,
        },
    )
    assert strip_volatile(from_cli) == strip_volatile(from_http)


def test_request_file_with_overriding_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    request = tmp_path / "request.json"
    request.write_text(json.dumps({**PROBLEM_BODY, "alphas": [1.0], "ridge": 5.0}))
    code, out, err = run_cli(capsys, "theory", "--request", str(request), "--ridge", "0.1")
    assert code == 0, err
    from_http = http_post("/theory/curve", {**PROBLEM_BODY, "alphas": [1.0]})
    assert strip_volatile(json.loads(out)) == strip_volatile(from_http)


# ----------------------------------------------------------------------------- smoke runs


def test_simulate_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "simulate", *PROBLEM, *TINY_SIMULATION, "--model", "srf")
    assert code == 0, err
    body = json.loads(out)
    assert body["model"] == "srf" and body["dimension"] == 100
    assert [p["alpha"] for p in body["points"]] == [0.5, 1.5]
    for point in body["points"]:
        assert len(point["test_error"]["values"]) == 1
        assert 0 < point["test_error"]["mean"] < 1


def test_simulate_progress_bar_goes_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "simulate", *PROBLEM, *TINY_SIMULATION, "--progress")
    assert code == 0, err
    json.loads(out)  # stdout stays pure JSON
    assert "simulate" in err and "%" in err


def test_compare_smoke_with_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plot = tmp_path / "compare.png"
    code, out, err = run_cli(capsys, "compare", *PROBLEM, *TINY_SIMULATION, "--plot", str(plot))
    assert code == 0, err
    body = json.loads(out)
    assert {"theory", "simulation", "points", "summary"} <= set(body)
    assert [p["alpha"] for p in body["points"]] == [0.5, 1.5]
    assert plot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("command", "argv", "option"),
    [
        ("theory", ["--learning-rate", "-1"], "--learning-rate"),
        ("theory", ["--learning-rate", "abc"], "--learning-rate"),
        ("theory", ["--width", "nan"], "--width"),
        ("theory", ["--student", "not_an_activation"], "--student"),
        ("theory", ["--teacher", '{"hermite": [0, 1'], "--teacher"),
        ("theory", ["--alphas", "0.5,abc"], "--alphas"),
        ("theory", ["--alphas", "0,1"], "--alphas"),
        ("theory", ["--srf", "1,2"], "--srf"),
        ("theory", ["--srf", "1,0.5,2"], "--srf"),
        ("theory", ["--ridge", "best"], "--ridge"),
        ("simulate", ["--ridge", "optimal"], "--ridge"),
        ("simulate", ["--seeds", "0"], "--seeds"),
        ("simulate", ["--seeds", "1,1"], "--seeds"),
        ("simulate", ["--model", "transformer"], "--model"),
        ("simulate", ["--dimension", "1.5"], "--dimension"),
        ("simulate", ["--dimension", "100000000"], "--dimension"),
    ],
)
def test_bad_input_exits_2_naming_the_option(
    command: str, argv: list[str], option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    base = {"--student": "tanh", "--teacher": "sin", "--alphas": "1"}
    for i in range(0, len(argv), 2):
        base[argv[i]] = argv[i + 1]
    code, out, err = run_cli(capsys, command, *[word for pair in base.items() for word in pair])
    assert code == 2
    assert out == ""
    assert option in err, err
    assert "Traceback" not in err


def test_missing_required_option_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "theory", "--student", "tanh", "--alphas", "1")
    assert code == 2
    assert "--teacher" in err


def test_bad_input_in_a_real_process_has_no_traceback() -> None:
    result = run_cli_process(
        "simulate",
        "--student",
        "tanh",
        "--teacher",
        "sin",
        "--learning-rate",
        "1",
        "--alpha0",
        "1",
        "--alphas",
        "-1",
    )
    assert result.returncode == 2
    assert re.search(r"srf simulate: error: --alphas .*greater than 0", result.stderr), result.stderr
    assert "Traceback" not in result.stderr


# ----------------------------------------------------------------------------- option syntax


def test_every_api_field_is_an_option(capsys: pytest.CaptureFixture[str]) -> None:
    """The options are generated from the service's request models, so none can be forgotten."""
    for command in parse.COMMANDS:
        code, out, _ = run_cli(capsys, command, "--help")
        assert code == 0
        for field in parse.request_model(command).model_fields:
            assert parse.option_name(field) in out, (command, field)


# ----------------------------------------------------------------------------- srf serve


def test_serve_prints_swagger_ui_and_serves(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "service", "serve", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT,
        env={**os.environ, "SRF_CACHE_PATH": str(tmp_path / "cache.sqlite3")},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = []
        while not any(line.startswith("Cache:") for line in lines):
            line = proc.stdout.readline()
            assert line, f"srf serve exited: {''.join(lines)}"
            lines.append(line)
        assert f"http://127.0.0.1:{port}/docs" in "".join(lines)
        assert str(tmp_path / "cache.sqlite3") in "".join(lines)
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "srf serve did not come up"
                time.sleep(0.1)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/docs", timeout=5) as response:
            assert response.status == 200
    finally:
        stop_process(proc, timeout=10)


# ----------------------------------------------------------------------------- usability


def test_warnings_go_to_stderr_also_with_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "relu.json"
    code, out, err = run_cli(
        capsys, "theory", "--student", "relu", "--teacher", "tanh", "--learning-rate", "1", "--alpha0", "2",
        "--alphas", "1", "-o", str(out_file),
    )  # fmt: skip
    assert code == 0 and out == ""
    warnings = json.loads(out_file.read_text())["warnings"]
    assert warnings and all(f"srf: warning: {w}" in err for w in warnings)


@pytest.mark.parametrize("option", ["-o", "--plot"])
def test_missing_folder_is_refused_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str
) -> None:
    target = tmp_path / "missing" / ("result.png" if option == "--plot" else "result.json")
    code, out, err = run_cli(capsys, "theory", *PROBLEM, "--alphas", "1", option, str(target))
    assert code == 2 and out == ""
    assert f"{'--output' if option == '-o' else '--plot'}: the folder" in err and "does not exist" in err
    assert not target.parent.exists()  # not created silently
    assert "Traceback" not in err


@pytest.mark.parametrize("option", ["-o", "--plot"])
def test_unwritable_path_exits_2_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str
) -> None:
    suffix = ".png" if option == "--plot" else ".json"
    folder = tmp_path / f"a-folder{suffix}"
    folder.mkdir()
    code, _, err = run_cli(capsys, "theory", *PROBLEM, "--alphas", "1", option, str(folder))  # a folder
    assert code == 2 and "is a folder" in err
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        # root writes anywhere: then the failure comes at the write itself, in /proc
        writable = os.access(locked, os.W_OK)
        target = Path(f"/proc/srf-cannot-write{suffix}") if writable else locked / f"result{suffix}"
        code, _, err = run_cli(capsys, "theory", *PROBLEM, "--alphas", "1", option, str(target))
    finally:
        locked.chmod(0o700)
    assert code == 2 and "cannot write" in err and "Traceback" not in err


def test_activations_command_lists_the_names(capsys: pytest.CaptureFixture[str]) -> None:
    from srf_engine import ACTIVATION_NAMES

    code, out, _ = run_cli(capsys, "activations")
    assert code == 0
    for name in ACTIVATION_NAMES:
        assert re.search(rf"^{name}\s+(yes|no)\s", out, re.M), name
    assert "hermite" in out
    code, out, _ = run_cli(capsys, "activations", "--json")
    listed = json.loads(out)
    assert [a["name"] for a in listed["activations"]] == list(ACTIVATION_NAMES)
    code, out, _ = run_cli(capsys, "theory", "--help")
    assert "srf activations" in out  # the help that refers to it


def test_alphas_help_shows_the_range_syntax(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "simulate", "--help")
    assert code == 0
    alphas_help = " ".join(out.split("\n  --alphas LIST", 1)[1].split("\n  --")[0].split())
    assert "start:stop:num" in alphas_help


def test_underscore_option_suggests_the_dashed_name(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "theory", "--student", "tanh", "--learning_rate", "3", "--alphas", "1")
    assert code == 2 and "did you mean --learning-rate?" in err
    code, _, err = run_cli(capsys, "simulate", "--sedes", "3")
    assert code == 2 and "did you mean --seeds" in err
    code, _, err = run_cli(capsys, "theory", *PROBLEM, "--alphas", "1", "--learn", "3")  # an abbreviation
    assert code == 0, err


def test_serve_reports_a_port_in_use(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, out, err = run_cli(capsys, "serve", "--port", str(port))
    assert code == 2
    assert f"127.0.0.1:{port} is already in use" in err and "--port" in err
    assert "Swagger UI" not in out  # it did not pretend to serve


def test_output_into_a_closed_pipe_stops_quietly() -> None:
    """``srf activations | head -1``: no traceback when the reader has gone away."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written
    try:
        result = subprocess.run(
            [sys.executable, "-m", "service", "activations"],
            cwd=ROOT,
            stdout=write_end,
            stderr=subprocess.PIPE,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert b"Traceback" not in result.stderr and b"BrokenPipe" not in result.stderr, result.stderr
    assert result.returncode == 141


def test_theory_with_a_readout_law_prints_the_class_by_class_numbers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    relu = ["--student", "relu", "--teacher", "tanh", "--learning-rate", "2", "--alpha0", "2"]
    relu += ["--ridge", "0.05"]
    code, out, err = run_cli(capsys, "theory", *relu, "--alphas", "2", "--readout", "rademacher")
    assert code == 0, err
    from_cli = json.loads(out)
    body = {"student": "relu", "teacher": "tanh", "learning_rate": 2.0, "alpha0": 2.0, "ridge": 0.05}
    from_http = http_post("/theory/curve", {**body, "alphas": [2.0], "readout": "rademacher"})
    assert strip_volatile(from_cli) == strip_volatile(from_http)
    assert from_cli["readout"] == "rademacher" and [c["u"] for c in from_cli["srf_classes"]] == [1.0, -1.0]
