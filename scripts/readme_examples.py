"""Write (or check) the answers the README shows: every example is a real answer of the service.

Each example in README.md sits between ``<!-- example: NAME -->`` and ``<!-- /example -->``; this script
sends the example's request to an in-process app on a throw-away cache, and writes the curl command
and the answer, abridged (lists cut to their first items, floats to 4 significant digits, the key to
its first 8 characters). ``--check`` compares instead of writing: the text must be the same, and every
number equal within a relative 2e-3 (4 significant digits), so the check passes on any processor and
BLAS kernel. The README's Python API block is checked the same way against what it prints.

    python scripts/readme_examples.py          # rewrite README.md's answers
    python scripts/readme_examples.py --check  # exit 1 (with the first difference) if they drifted
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BASE = "http://127.0.0.1:8000"

SECTION7 = {"student": "tanh", "teacher": "sin", "learning_rate": 3, "alpha0": 20, "ridge": 0.1}


@dataclass(frozen=True)
class Example:
    """One request of the README and how its answer is abridged."""

    method: str
    path: str
    body: dict[str, Any] | None = None
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    show: Callable[[Any], str] | None = None  # the answer's text; default: the abridged JSON
    drop: tuple[str, ...] = ("request",)  # keys shown as {…}
    comment: str = ""


def _round(x: float) -> float | int:
    if isinstance(x, bool) or not isinstance(x, float):
        return x
    return float(f"{x:.4g}")


def _abridge(value: Any, *, items: int = 1, depth: int = 0) -> Any:
    """Floats to 4 significant digits; lists of objects cut to ``items`` entries and an ellipsis."""
    if isinstance(value, dict):
        return {k: _abridge(v, items=items, depth=depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        if value and isinstance(value[0], dict) and len(value) > items:
            return [*(_abridge(v, items=items, depth=depth + 1) for v in value[:items]), "…"]
        if len(value) > 6:
            return [*(_abridge(v, depth=depth + 1) for v in value[:3]), "…"]
        return [_abridge(v, depth=depth + 1) for v in value]
    return _round(value)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False).replace('"…"', "…")


def _json_answer(body: dict[str, Any], *, drop: tuple[str, ...] = ("request",), items: int = 1) -> str:
    """Top-level keys one per line; a list of objects one object per line."""
    lines = []
    for key, value in body.items():
        if key in drop:
            lines.append(f'"{key}": {{…}}')
            continue
        if key == "key":
            lines.append(f'"key": "{value[:8]}…"')
            continue
        if key == "elapsed_seconds":
            lines.append('"elapsed_seconds": …')
            continue
        shown = _abridge(value, items=items)
        if isinstance(shown, list) and shown and isinstance(shown[0], dict):
            inner = ",\n   ".join(_dumps(v) if v != "…" else "…" for v in shown)
            lines.append(f'"{key}": [\n   {inner}]')
        else:
            lines.append(f'"{key}": {_dumps(shown)}')
    return "{" + ",\n ".join(lines) + "}"


def _csv_answer(text: str) -> str:
    rows = text.strip().splitlines()
    head = rows[0].split(",")
    cells = [",".join(head[:12]) + ",…"]
    for row in rows[1:3]:
        values = row.split(",")[:12]
        cells.append(
            ",".join(str(_round(float(v))) if re.fullmatch(r"-?[\d.e+-]+", v) else v for v in values)
        )
    return "\n".join([*cells, "…"])


def _job_answer(body: dict[str, Any]) -> str:
    return _dumps({"id": "…", "status": body["status"]})


EXAMPLES: dict[str, Example] = {
    "theory": Example("POST", "/theory/curve", {**SECTION7, "alphas": [0.2, 0.9, 1.6, 2.3, 3.0]}),
    "simulate": Example(
        "POST",
        "/simulate",
        {**SECTION7, "alphas": [0.5, 1.5, 3.0], "model": "network", "dimension": 400, "seeds": 3},
    ),
    "compare": Example(
        "POST",
        "/compare",
        {**SECTION7, "alphas": [0.5, 1.5, 3.0], "dimension": 400, "seeds": 3},
        drop=("request", "theory", "simulation"),
    ),
    "function": Example(
        "POST",
        "/theory/function",
        {**SECTION7, "alphas": [1.0], "kappa": [-2, -1, 0, 1, 2]},
    ),
    "csv": Example(
        "POST",
        "/theory/curve",
        {**SECTION7, "alphas": [0.5, 1, 2]},
        params={"format": "csv"},
        show=lambda r: _csv_answer(r.text),
    ),
    "job": Example(
        "POST",
        "/theory/curve",
        {**SECTION7, "learning_rate": [1, 2, 3], "alphas": [0.5, 1, 2]},
        headers={"Prefer": "respond-async"},
        show=lambda r: f"HTTP/1.1 {r.status_code} Accepted\nlocation: /jobs/…\n{_job_answer(r.json())}",
    ),
    "staircase": Example(
        "POST",
        "/simulate",
        {
            "student": "relu",
            "teacher": {
                "multi_index": {
                    "hermite_terms": [
                        {"coefficient": 1, "orders": [1, 0]},
                        {"coefficient": 1, "orders": [1, 1]},
                    ]
                }
            },
            "learning_rate": 3,
            "alpha0": 2,
            "ridge": 0.05,
            "alphas": [4],
            "readout": "rademacher",
            "steps": [1, 2, 3],
            "model": "network",
            "dimension": 300,
            "seeds": 2,
        },
        show=lambda r: _staircase_answer(r.json()),
    ),
    "version": Example("GET", "/version"),
}


def _staircase_answer(body: dict[str, Any]) -> str:
    """Per step count: the test error and the best overlap of the learned directions with θ1 and θ2."""
    lines = ["steps  test error (± sem)   overlap with θ1   with θ2"]
    for point in body["points"]:
        overlaps = point["first_layer"][-1]["overlaps"]["mean"]
        best = [max(row[j] for row in overlaps) for j in range(2)]
        error = point["test_error"]
        lines.append(
            f"{point['steps']:>5}  {_round(error['mean'])} ± {_round(error['sem'])}"
            f"   {_round(best[0])}   {_round(best[1])}"
        )
    return "\n".join(lines)


def curl(example: Example) -> str:
    """The curl command of ``example``, as the README prints it."""
    url = (
        BASE
        + example.path
        + ("?" + "&".join(f"{k}={v}" for k, v in example.params.items()) if example.params else "")
    )
    words = ["curl -s" + ("i" if example.headers else ""), f"'{url}'" if example.params else url]
    for name, value in example.headers.items():
        words.append(f"-H '{name}: {value}'")
    if example.body is None:
        return " ".join(words)
    words.append("-H 'Content-Type: application/json'")
    return " ".join(words) + " -d '" + json.dumps(example.body) + "'"


def answers() -> dict[str, str]:
    """Every example's answer, abridged, from a fresh in-process service."""
    from fastapi.testclient import TestClient

    from service.app import create_app
    from service.settings import Settings

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(Settings(cache_path=Path(tmp) / "cache.sqlite3", log_level="WARNING"))
        with TestClient(app) as http:
            for name, ex in EXAMPLES.items():
                response = http.request(
                    ex.method, ex.path, json=ex.body, params=ex.params, headers=ex.headers
                )
                assert response.status_code < 300, (name, response.status_code, response.text[:500])
                out[name] = ex.show(response) if ex.show else _json_answer(response.json(), drop=ex.drop)
    return out


def render(name: str, answer: str) -> str:
    lang = "text" if EXAMPLES[name].show else "json"
    request = f"```bash\n{curl(EXAMPLES[name])}\n```"
    return f"<!-- example: {name} -->\n{request}\n\n```{lang}\n{answer}\n```\n<!-- /example -->"


EXAMPLE_BLOCK = re.compile(r"<!-- example: (\w+) -->\n.*?<!-- /example -->", re.S)
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def same_up_to_rounding(shown: str, real: str, rel: float = 2e-3) -> str | None:
    """``None`` when the texts agree but for numbers within ``rel``; else the first difference."""
    shown_words, real_words = NUMBER.split(shown), NUMBER.split(real)
    shown_numbers, real_numbers = NUMBER.findall(shown), NUMBER.findall(real)
    if shown_words != real_words or len(shown_numbers) != len(real_numbers):
        for i, (a, b) in enumerate(zip(shown.splitlines(), real.splitlines(), strict=False)):
            if NUMBER.sub("#", a) != NUMBER.sub("#", b):
                return f"line {i + 1}: shown {a!r}, real {b!r}"
        return f"shown {len(shown.splitlines())} lines, real {len(real.splitlines())}"
    for a, b in zip(shown_numbers, real_numbers, strict=True):
        x, y = float(a), float(b)
        if abs(x - y) > rel * max(abs(x), abs(y)) + 1e-12:
            return f"number {a} shown, {b} computed"
    return None


def python_api_output() -> tuple[str, str]:
    """(what the README's Python API section says it prints, what it prints)."""
    text = README.read_text(encoding="utf-8")
    section = re.search(r"^## Python API\n(.*?)(?=^## )", text, re.S | re.M)
    assert section, "README has no '## Python API' section"
    (code,) = re.findall(r"```python\n(.*?)```", section.group(1), re.S)
    (shown,) = re.findall(r"```text\n(.*?)```", section.group(1), re.S)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})  # the README's own example, as a user runs it
    return shown, out.getvalue()


def check() -> list[str]:
    """Every difference between the README and the service's answers (empty: all agree)."""
    text = README.read_text(encoding="utf-8")
    real = answers()
    found = {m.group(1): m.group(0) for m in EXAMPLE_BLOCK.finditer(text)}
    problems = [f"README has no example block {name!r}" for name in EXAMPLES if name not in found]
    for name, block in found.items():
        if name not in EXAMPLES:
            problems.append(f"README example {name!r} is not generated by this script")
            continue
        if (why := same_up_to_rounding(block, render(name, real[name]))) is not None:
            problems.append(f"example {name!r}: {why}")
    shown, printed = python_api_output()
    if (why := same_up_to_rounding(shown, printed)) is not None:
        problems.append(f"Python API section: {why}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    if args.check:
        problems = check()
        for problem in problems:
            print(problem, file=sys.stderr)
        print("README examples: " + ("differ" if problems else "agree with the service"))
        return 1 if problems else 0
    real = answers()
    text = README.read_text(encoding="utf-8")
    new = EXAMPLE_BLOCK.sub(
        lambda m: render(m.group(1), real[m.group(1)]) if m.group(1) in real else m.group(0), text
    )
    README.write_text(new, encoding="utf-8")
    _, printed = python_api_output()
    text = README.read_text(encoding="utf-8")
    start = text.index("## Python API")
    block = re.compile(r"```text\n.*?```", re.S)
    text = text[:start] + block.sub(lambda _: f"```text\n{printed}```", text[start:], count=1)
    README.write_text(text, encoding="utf-8")
    print("README examples written")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
