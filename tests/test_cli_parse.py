"""The option syntax of the ``srf`` command (service/cli/parse.py)."""

from __future__ import annotations

import argparse

import pytest

from service.cli import parse


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.2:3:5", [0.2, 0.9, 1.6, 2.3, 3.0]),
        ("1:1:1", [1.0]),
        ("0.5,1,2", [0.5, 1.0, 2.0]),
        ("2", [2.0]),
        ("[0.5, 1]", [0.5, 1]),
    ],
)
def test_alphas_syntax(text: str, expected: list[float]) -> None:
    assert parse.parse_alphas(text) == expected


def test_other_option_syntax() -> None:
    assert parse.parse_seeds("3") == 3
    assert parse.parse_seeds("4,7") == [4, 7]
    assert parse.parse_seeds("[5]") == [5]
    assert parse.parse_srf("1,0.5,-0.2") == {"c": 1.0, "r": 0.5, "gamma": -0.2}
    assert parse.parse_srf('{"c": 1, "r": 0, "gamma": 0}') == {"c": 1, "r": 0, "gamma": 0}
    assert parse.parse_activation("tanh") == "tanh"
    assert parse.parse_activation('{"hermite": [0, 1]}') == {"hermite": [0, 1]}
    assert parse.parse_ridge("optimal") == "optimal"
    assert parse.parse_ridge("0.25") == 0.25


@pytest.mark.parametrize(
    ("parser", "text"),
    [
        (parse.parse_alphas, "1:2"),
        (parse.parse_alphas, "1:2:x"),
        (parse.parse_alphas, "1:2:0"),
        (parse.parse_number, "nan"),
        (parse.parse_srf, "1,2"),
        (parse.parse_seeds, "a,b"),
        (parse.parse_activation, "[1, 2]"),
    ],
)
def test_bad_option_values_are_refused_with_a_message(parser, text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as excinfo:
        parser(text)
    assert str(excinfo.value)


def test_option_names_are_the_api_fields_with_dashes() -> None:
    assert parse.option_name("learning_rate") == "--learning-rate"
    assert parse.option_name("extrapolate_dimensions") == "--extrapolate-dimensions"


def test_every_command_mirrors_an_endpoint_model() -> None:
    for command, endpoint in parse.COMMANDS.items():
        model = parse.request_model(command)
        assert "alphas" in model.model_fields, (command, endpoint)
    assert "dimension" not in parse.request_model("theory").model_fields
    assert "z_threshold" in parse.request_model("compare").model_fields
