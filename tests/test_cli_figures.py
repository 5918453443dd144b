"""``srf … --plot FILE`` (format from the extension), figure options, ``--csv``, and grid options."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from test_cli_main import PROBLEM, TINY_SIMULATION, run_cli

from service.cli import parse

MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "svg": b"<?xml", "pdf": b"%PDF-"}
ALPHAS = ["--alphas", "0.5,1,2"]


@pytest.mark.parametrize("ext", ["png", "svg", "pdf"])
def test_plot_format_follows_the_extension(tmp_path: Path, capsys, ext: str) -> None:
    path = tmp_path / f"figure.{ext.upper() if ext == 'pdf' else ext}"
    code, _, err = run_cli(capsys, "theory", *PROBLEM, *ALPHAS, "--plot", str(path), "--errors", "test,train")
    assert code == 0, err
    assert path.read_bytes().startswith(MAGIC[ext])


def test_simulation_plot_and_csv(tmp_path: Path, capsys) -> None:
    plot, table = tmp_path / "sim.svg", tmp_path / "sim.csv"
    code, _, err = run_cli(
        capsys, "compare", *PROBLEM, *TINY_SIMULATION, "--plot", str(plot), "--csv", str(table)
    )
    assert code == 0, err
    assert plot.read_bytes().startswith(MAGIC["svg"])
    rows = list(csv.DictReader(io.StringIO(table.read_text())))
    assert len(rows) == 2 and {"alpha", "learning_rate", "theory", "simulation_mean", "z"} <= set(rows[0])


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--plot", "figure.jpg"], "--plot: the file name must end in .png, .svg or .pdf"),
        (["--plot", "figure.png", "--dpi", "5"], "--dpi:"),
        (["--plot", "figure.png", "--size", "big"], "--size:"),
        (["--plot", "figure.png", "--x", "learning_rate"], "--x: learning_rate has a single value"),
        (["--dpi", "100"], "--dpi: figure options need --plot FILE"),
    ],
)
def test_bad_figure_options_fail_before_computing(
    tmp_path: Path, capsys, extra: list[str], words: str
) -> None:
    extra = [str(tmp_path / e) if e.startswith("figure") else e for e in extra]
    code, out, err = run_cli(capsys, "theory", *PROBLEM, *ALPHAS, *extra)
    assert code == 2 and words in err and out == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3", 3.0),
        ("0.5,1,2", [0.5, 1.0, 2.0]),
        ("1:3:3", [1.0, 2.0, 3.0]),
        ("[0.5, 2]", [0.5, 2]),
    ],
)
def test_grid_axis_syntax(text: str, expected) -> None:
    assert parse.parse_axis(text) == expected
    assert parse.parse_optimisable_axis(text) == expected
    assert parse.parse_optimisable_axis("optimal") == "optimal"


def test_grid_options_and_the_function_command(tmp_path: Path, capsys) -> None:
    table = tmp_path / "grid.csv"
    code, _out, err = run_cli(
        capsys,
        "theory",
        *PROBLEM[:4],
        "--learning-rate",
        "1,3",
        "--alpha0",
        "20",
        *ALPHAS,
        "--csv",
        str(table),
    )
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(table.read_text())))
    assert [float(r["learning_rate"]) for r in rows] == [1.0] * 3 + [3.0] * 3
    plot = tmp_path / "function.pdf"
    code, _, err = run_cli(  # a value starting with '-' is given as --kappa=…
        capsys, "function", *PROBLEM, "--alphas", "0.5,2", "--kappa=-2:2:9", "--plot", str(plot)
    )
    assert code == 0, err
    assert plot.read_bytes().startswith(MAGIC["pdf"])
