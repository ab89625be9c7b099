"""Bad input becomes one clear line or the value the user meant (the cases fixed so far)."""

from __future__ import annotations

import click
import pytest

from bench.cli.options import _parse_settings
from bench.data.base import read_pair_list
from bench.data.readers import InputError


@pytest.mark.parametrize(("text", "value"), [("1e-4", 1e-4), ("5e-5", 5e-5), ("1.0e-4", 1e-4), ("-2E3", -2000.0)])
def test_exponent_numbers_are_floats(text, value):
    assert _parse_settings((f"lr={text}",)) == {"lr": value}


@pytest.mark.parametrize(("text", "value"), [("none", "none"), ("e5", "e5"), ("[128, 96]", [128, 96]), ("0.5", 0.5)])
def test_other_values_keep_their_yaml_meaning(text, value):
    assert _parse_settings((f"key={text}",)) == {"key": value}


def test_a_malformed_setting_is_a_usage_error():
    with pytest.raises(click.UsageError, match="--set expects key=value"):
        _parse_settings(("lr",))
    with pytest.raises(click.UsageError, match="--set size: cannot read"):
        _parse_settings(("size=[128, 96",))


def test_pair_lists_with_a_bom_or_not_utf8(tmp_path):
    bom = tmp_path / "bom.txt"
    bom.write_bytes(b"\xef\xbb\xbf000001_0.jpg 000002_1.jpg\n")
    assert read_pair_list(bom) == [["000001_0.jpg", "000002_1.jpg"]]
    latin = tmp_path / "latin.txt"
    latin.write_bytes("personne_\xe9.jpg 000002_1.jpg\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"latin.txt: not UTF-8 text \(byte 9\)"):
        read_pair_list(latin)
