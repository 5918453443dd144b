"""scripts/make_figures.py: the gallery script runs and writes PNGs (its cheap figures, small)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from test_service_support import ROOT


def _script():
    spec = importlib.util.spec_from_file_location("make_figures", ROOT / "scripts" / "make_figures.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def test_gallery_script_draws_its_figures(tmp_path: Path, capsys) -> None:
    script = _script()
    assert (
        script.main(["--quick", "--only", "learned_function", "section7_compare", "--out", str(tmp_path)])
        == 0
    )
    for name in ("learned_function", "section7_compare"):
        assert (tmp_path / f"{name}.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert "total" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        script.main(["--only", "no_such_figure"])


def test_gallery_is_committed_and_shown_in_the_gallery_page() -> None:
    gallery = (ROOT / "docs" / "gallery.md").read_text()
    assert "docs/gallery.md" in (ROOT / "README.md").read_text()
    for name in _script().figures(quick=True):
        assert (ROOT / "docs" / "figures" / f"{name}.png").is_file()
        assert f"(figures/{name}.png)" in gallery
