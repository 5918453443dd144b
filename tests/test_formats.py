"""Content negotiation and figure options (service/render/formats.py): 406 and 422 naming the field."""

from __future__ import annotations

import pytest

from service.render.formats import (
    ALL_FORMATS,
    MAX_PANELS,
    FigureOptions,
    InvalidOption,
    NotAcceptable,
    check_axes,
    choose_format,
    parse_output,
)


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "json"),
        ("", "json"),
        ("*/*", "json"),
        ("application/json", "json"),
        ("text/csv", "csv"),
        ("image/png", "png"),
        ("image/svg+xml", "svg"),
        ("application/pdf", "pdf"),
        ("image/*", "png"),
        ("text/*", "csv"),
        ("image/png;q=0.5, application/pdf", "pdf"),
        ("application/json;q=0.1, image/svg+xml;q=0.9", "svg"),
        # A browser's default: anything, JSON first.
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "json"),
        # q=0 excludes a type even under a wildcard.
        ("*/*, application/json;q=0", "csv"),
    ],
)
def test_accept_header_picks_the_best_offered_type(accept: str | None, expected: str) -> None:
    assert choose_format(None, accept, ALL_FORMATS) == expected


@pytest.mark.parametrize("accept", ["text/html", "application/xml", "image/jpeg", "image/png;q=0", "*/*;q=0"])
def test_accept_without_an_offered_type_is_406(accept: str) -> None:
    with pytest.raises(NotAcceptable) as caught:
        choose_format(None, accept, ALL_FORMATS)
    assert caught.value.status_code == 406 and "available" in caught.value.detail


def test_query_format_wins_over_accept_and_unknown_is_406() -> None:
    assert choose_format("CSV", "image/png", ALL_FORMATS) == "csv"
    with pytest.raises(NotAcceptable) as caught:
        choose_format("xml", None, ALL_FORMATS)
    assert "'xml'" in caught.value.detail and "png (image/png)" in caught.value.detail
    with pytest.raises(NotAcceptable) as long_name:
        choose_format("x" * 10_000, None, ALL_FORMATS)
    assert len(long_name.value.detail) < 300  # client text is not echoed at length
    with pytest.raises(NotAcceptable):
        choose_format("png", None, ("json", "csv"))


def test_figure_options_parse_and_default() -> None:
    out = parse_output(ALL_FORMATS, "svg", None, errors="test,train", dpi=150, size="8x5")
    assert out.is_figure and out.media_type == "image/svg+xml"
    assert out.figure == FigureOptions(None, None, ("test", "train"), 150, (8.0, 5.0))
    heat = parse_output(ALL_FORMATS, "png", None, y="learning_rate")
    assert heat.figure.x == "alpha" and heat.figure.y == "learning_rate"
    assert parse_output(ALL_FORMATS, None, None).figure == FigureOptions()
    # Equal options give equal cache texts; different ones differ.
    assert (
        out.figure.canonical()
        == parse_output(
            ALL_FORMATS, "pdf", None, errors="test,train", dpi=150, size="8.0x5"
        ).figure.canonical()
    )
    assert out.figure.canonical() != heat.figure.canonical()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"format": "png", "dpi": 5}, "dpi"),
        ({"format": "png", "dpi": 10_000}, "dpi"),
        ({"format": "png", "size": "big"}, "size"),
        ({"format": "png", "size": "8x0.1"}, "size"),
        ({"format": "png", "size": "40x40", "dpi": 600}, "size"),
        ({"format": "png", "errors": "test,bogus"}, "errors"),
        ({"format": "png", "errors": "test,test"}, "errors"),
        ({"format": "png", "errors": ","}, "errors"),
        ({"format": "png", "x": "learning_rate", "y": "learning_rate"}, "y"),
        ({"format": "json", "x": "learning_rate"}, "x"),
        ({"format": "csv", "dpi": 100}, "dpi"),
        ({"format": None, "size": "4x3"}, "size"),
    ],
)
def test_bad_or_misplaced_figure_options_are_422_naming_the_field(kwargs: dict, field: str) -> None:
    fmt = kwargs.pop("format")
    with pytest.raises(InvalidOption) as caught:
        parse_output(ALL_FORMATS, fmt, None, **kwargs)
    assert caught.value.status_code == 422 and caught.value.field == field
    assert caught.value.detail.startswith(f"{field}: ")


def test_axes_must_be_list_valued_and_panels_bounded() -> None:
    axes = {"learning_rate": 5, "alpha": 20}
    check_axes(FigureOptions(x="learning_rate"), axes, "theory")
    check_axes(FigureOptions(x="alpha", y="learning_rate"), axes, "theory")
    with pytest.raises(InvalidOption) as single:
        check_axes(FigureOptions(x="ridge"), axes, "theory")
    assert single.value.field == "x" and "learning_rate, alpha" in single.value.detail
    with pytest.raises(InvalidOption) as heat:
        check_axes(FigureOptions(x="alpha", y="noise"), axes, "simulate")
    assert heat.value.field == "y"
    many = {"alpha": 4, "learning_rate": 4, "alpha0": MAX_PANELS["heatmap"] + 1}
    with pytest.raises(InvalidOption) as panels:
        check_axes(FigureOptions(x="alpha", y="learning_rate"), many, "theory")
    assert panels.value.field == "y" and "at most" in panels.value.detail
    with pytest.raises(InvalidOption) as function_x:
        check_axes(FigureOptions(x="alpha"), {"alpha": 3}, "function", 3)
    assert function_x.value.field == "x"
    with pytest.raises(InvalidOption) as function_panels:
        check_axes(FigureOptions(), {}, "function", MAX_PANELS["function"] + 1)
    assert function_panels.value.field == "alphas"
