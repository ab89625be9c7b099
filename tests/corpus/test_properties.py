"""Property tests of the parsers behind the commands: for any input, a result or the module's documented
one-line error, never another exception; and every layout's synthetic output passes ``data check``."""

from __future__ import annotations

import io
import math
import tempfile
import typing
import warnings
from dataclasses import fields
from pathlib import Path
from types import UnionType

import click
import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from bench.cli.options import _parse_settings
from bench.data.base import read_pair_list
from bench.data.check import check_dataset
from bench.data.readers import InputError, read_labels, read_mask, read_rgb
from bench.data.synthetic import LAYOUTS, synthesize
from bench.train.recipe import load_recipe
from pftryon.train.config import TrainConfig

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Text made of what pair lists hold: names, separators, line breaks, and some of everything else.
_LIST_TEXT = st.text(alphabet=st.sampled_from(list("ab_0.jpg \t\r\n\ufeff\x00é")) | st.characters(), max_size=80)


def _file(tmp_path: Path, data: bytes, name: str) -> Path:
    path = Path(tempfile.mkdtemp(dir=tmp_path)) / name
    path.write_bytes(data)
    return path


@FAST
@given(data=st.one_of(_LIST_TEXT.map(lambda t: t.encode("utf-8", "surrogatepass")), st.binary(max_size=80)),
       columns=st.integers(1, 3))  # fmt: skip
def test_pair_lists_parse_or_raise_input_error(tmp_path: Path, data: bytes, columns: int) -> None:
    path = _file(tmp_path, data, "pairs.txt")
    try:
        rows = read_pair_list(path, columns=columns)
    except InputError as err:
        assert str(path) in str(err) and "\n" not in str(err)
        return
    assert rows and all(len(row) == columns and all(row) for row in rows)
    assert not rows[0][0].startswith("\ufeff")


_SETTING_VALUE = st.one_of(
    st.sampled_from(["1e-4", "5e-5", "1.5", "-1", "0", "true", "maybe", "[64, 64]", "[64]", "null", ".nan", "x: 1"]),
    st.text(max_size=12),
)


@FAST
@given(key=st.sampled_from([f.name for f in fields(TrainConfig)] + ["nosuch"]), value=_SETTING_VALUE)
def test_set_values_give_a_typed_config_or_one_line(key: str, value: str) -> None:
    try:
        config = TrainConfig.from_dict({"stage": "pb-warp", **_parse_settings((f"{key}={value}",))})
    except (click.UsageError, ValueError) as err:
        assert "\n" not in str(err.message if isinstance(err, click.UsageError) else err)
        return
    for item, hint in typing.get_type_hints(TrainConfig).items():
        assert _conforms(getattr(config, item), hint), (item, getattr(config, item))


def _conforms(value: object, hint: object) -> bool:
    """Whether ``value`` is of the annotated type (``X | None``, ``tuple[int, int]``, ``Literal``; a bool is no int)."""
    if isinstance(hint, UnionType):
        return any(_conforms(value, kind) for kind in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if typing.get_origin(hint) is typing.Literal:
        return isinstance(value, str) and value in typing.get_args(hint)
    if typing.get_origin(hint) is tuple:
        return isinstance(value, tuple) and len(value) == len(typing.get_args(hint)) and all(map(_is_int, value))
    if hint is float:
        return isinstance(value, float) and math.isfinite(value)
    return _is_int(value) if hint is int else isinstance(value, hint)  # type: ignore[arg-type]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_YAML_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 300) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
_RECIPE_KEYS = ["name", "description", "data", "width", "stages", "variants", "parse_noise", "budget_s", "evaluation"]


@FAST
@given(document=st.one_of(
    st.dictionaries(st.sampled_from(_RECIPE_KEYS), _YAML_VALUE, max_size=9).map(yaml.safe_dump),
    _YAML_VALUE.map(yaml.safe_dump),
    st.text(max_size=60),
))  # fmt: skip
def test_recipe_yaml_loads_or_raises_value_error(tmp_path: Path, document: str) -> None:
    path = _file(tmp_path, document.encode("utf-8", "surrogatepass"), "recipe.yaml")
    try:
        load_recipe(path)
    except ValueError as err:
        assert "\n" not in str(err)


_MODES = ["1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "YCbCr", "I", "I;16", "F"]
_FORMATS = ["PNG", "JPEG", "TIFF", "BMP", "GIF", "WEBP"]


def _encoded(mode: str, size: tuple[int, int], fmt: str, seed: int) -> bytes | None:
    """An image of ``mode`` and ``size`` in ``fmt``, or None where PIL cannot write that combination."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randint(0, 256, (size[1], size[0], 3), generator=generator, dtype=torch.uint8).numpy()
    image = Image.fromarray(noise, "RGB").convert(mode)
    buffer = io.BytesIO()
    try:
        image.save(buffer, fmt)
    except (OSError, ValueError, KeyError):
        return None
    return buffer.getvalue()


@FAST
@given(mode=st.sampled_from(_MODES), width=st.integers(1, 40), height=st.integers(1, 40),
       fmt=st.sampled_from(_FORMATS), seed=st.integers(0, 99), cut=st.integers(0, 4))  # fmt: skip
def test_images_decode_or_raise_input_error(
    tmp_path: Path, mode: str, width: int, height: int, fmt: str, seed: int, cut: int
) -> None:
    data = _encoded(mode, (width, height), fmt, seed)
    if data is None:
        return
    if cut:  # truncated files
        data = data[: len(data) * cut // 5]
    path = _file(tmp_path, data, f"image.{fmt.lower()}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for reader in (read_rgb, read_mask, lambda p: read_labels(p, 256)):
            try:
                tensor = reader(path)
            except InputError as err:
                assert str(path) in str(err) and "\n" not in str(err)
                continue
            assert tensor.shape[-2:] == (height, width) and torch.isfinite(tensor.float()).all()
            assert reader is not read_rgb or (tensor.min() >= -1 and tensor.max() <= 1)


@FAST
@given(data=st.binary(max_size=200))
def test_random_bytes_are_never_an_image(tmp_path: Path, data: bytes) -> None:
    path = _file(tmp_path, data, "image.png")
    with pytest.raises(InputError, match="not a readable image"):
        read_rgb(path)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(layout=st.sampled_from(sorted(LAYOUTS)), n=st.integers(6, 9), seed=st.integers(0, 2**16))
def test_every_synthetic_layout_passes_check(tmp_path: Path, layout: str, n: int, seed: int) -> None:
    root = Path(tempfile.mkdtemp(dir=tmp_path))
    synthesize(layout, root, n=n, size=(64, 64), seed=seed, frames=2, progress=False)
    report = check_dataset(layout, root, progress=False)
    assert report.ok, report.problems
    assert all(count > 0 for count in report.counts.values()), report.counts
