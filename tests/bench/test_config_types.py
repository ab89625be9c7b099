"""Every config value is type-checked before any work: one line naming the file (or ``--set key=value``), the key,
the expected type and the value, for suites, protocols, ablation recipes, TrainConfig and ``--set``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest
from click.testing import CliRunner

import bench.suite
import bench.train.wiring
from bench.cli import main
from bench.protocols import load_protocol
from bench.suite import load_suite
from bench.train.recipe import load_recipe
from pftryon.config_types import ConfigTypeError, check_setting, check_value, describe
from pftryon.train.config import load_config


@dataclass(frozen=True)
class _Inner:
    n: int = 0


@dataclass(frozen=True)
class _Outer:
    inner: _Inner | None = None
    items: tuple[_Inner, ...] = ()
    sizes: tuple[tuple[int, int], ...] = ()


# (value, annotation, the message after "f.yaml: ", or None when the value is accepted)
CHECKS: list[tuple[Any, Any, str | None]] = [
    (3, int, None),
    (True, int, "expected an integer, got True"),
    (3, float, None),
    (2.5, int, "expected an integer, got 2.5"),
    (float("nan"), float, "expected a number, got nan"),
    (False, float, "expected a number, got False"),
    (1, bool, "expected true or false, got 1"),
    ("abc", tuple[str, ...], "expected a list of strings, got 'abc'"),
    (["a"], tuple[str, ...], None),
    (["a"], str, "expected a string, got ['a']"),
    ([1, 2], tuple[int, int], None),
    ([1], tuple[int, int], "expected a list of 2 integers, got [1]"),
    ("64", tuple[int, int], "expected a list of 2 integers, got '64'"),
    ("x", Literal["a", "b"], "expected one of 'a', 'b', got 'x'"),
    (1, Literal["1"], "expected '1', got 1"),
    (None, int | None, None),
    ("x", int | None, "expected an integer or null, got 'x'"),
    ({"a": 1}, dict[str, int], None),
    ({"a": "x"}, dict[str, int], "a: expected an integer, got 'x'"),
    ({"a": 1}, dict[str, Any], None),
    ({"inner": {"n": 2}, "items": [{"n": 1}], "other": "left to the builder"}, _Outer, None),
    ({"inner": {"n": "two"}}, _Outer, "inner.n: expected an integer, got 'two'"),
    ({"items": [{"n": 1}, {"n": []}]}, _Outer, "items[1].n: expected an integer, got []"),
    ({"items": {"n": 1}}, _Outer, "items: expected a list of mappings, got {'n': 1}"),
    ({"sizes": [[1, 2], [3, "4"]]}, _Outer, "sizes[1][1]: expected an integer, got '4'"),
    ("text", _Outer, "expected a mapping, got 'text'"),
]


@pytest.mark.parametrize(("value", "hint", "message"), CHECKS, ids=[f"{describe(c[1])}:{c[0]!r}" for c in CHECKS])
def test_the_checker(value: Any, hint: Any, message: str | None) -> None:
    if message is None:
        check_value(value, hint, "f.yaml")
        return
    with pytest.raises(ConfigTypeError) as caught:
        check_value(value, hint, "f.yaml")
    assert str(caught.value) == f"f.yaml: {message}"


def test_settings_resolve_through_nested_dataclasses_and_lists() -> None:
    check_setting(_Outer, "items.n", 3, "--set items.n=3")
    check_setting(_Outer, "nosuch.n", "x", "--set nosuch.n=x")  # unknown: the caller names it
    with pytest.raises(ConfigTypeError, match=r"^--set inner\.n=x: expected an integer, got 'x'$"):
        check_setting(_Outer, "inner.n", "x", "--set inner.n=x")


# --- each config kind: a file that includes a shipped config and changes one key ------------------------------------

# kind: (loader, the file's first lines)
KINDS: dict[str, tuple[Callable[[str], Any], str]] = {
    "suite": (load_suite, "include: synthetic\nname: mine\n"),
    "protocol": (load_protocol, "include: pfafn\nname: mine\n"),
    "recipe": (load_recipe, "include: smoke\nname: mine\n"),
    "train": (lambda path: load_config(path, stage="pb-warp"), ""),
}

BAD = [
    # suites
    ("suite", "batch_size: many", "batch_size: expected an integer, got 'many'"),
    ("suite", "version: true", "version: expected an integer, got True"),
    ("suite", "metrics: ssim", "metrics: expected a list of strings, got 'ssim'"),
    ("suite", "description: [a, b]", "description: expected a string, got ['a', 'b']"),
    ("suite", "latency: {devices: [tpu]}", "latency.devices[0]: expected one of 'cpu', 'cuda', got 'tpu'"),
    ("suite", "qualitative: {pairs: 2.5}", "qualitative.pairs: expected an integer, got 2.5"),
    ("suite", "methods: [{name: pf_afn, train: {recipe: [smoke], run: tutor}}]",
     "methods[0].train.recipe: expected a string, got ['smoke']"),
    ("suite", "datasets: [{name: viton, size: 256}]",
     "datasets[0].size: expected a list of 2 integers or null, got 256"),
    # protocols
    ("protocol", "version: '3'", "version: expected an integer, got '3'"),
    ("protocol", "metrics: ssim", "metrics: expected a list of strings, got 'ssim'"),
    ("protocol", "dataset: [viton]", "dataset: expected a string, got ['viton']"),
    ("protocol", "ssim: {variant: matlab}", "ssim.variant: expected one of 'pytorch_ssim', 'skimage_gaussian', "
     "'torchmetrics_cropped', 'torchmetrics', got 'matlab'"),
    ("protocol", "resize: {choices: [[512, wide]]}", "resize.choices[0][1]: expected an integer, got 'wide'"),
    ("protocol", "kid: {scale: true}", "kid.scale: expected a number, got True"),
    # ablation recipes
    ("recipe", "width: wide", "width: expected a number, got 'wide'"),
    ("recipe", "seed: true", "seed: expected an integer, got True"),
    ("recipe", "baselines: cp_vton", "baselines: expected a list of strings or null, got 'cp_vton'"),
    ("recipe", "description: [a]", "description: expected a string, got ['a']"),
    ("recipe", "perceptual: vgg16", "perceptual: expected one of 'vgg19', 'none', got 'vgg16'"),
    ("recipe", "variants: [{name: x, knowledge: parser, distill: none}]",
     "variants[0].knowledge: expected one of 'teacher+tutor', 'tutor', got 'parser'"),
    ("recipe", "stages: {pb-warp: {lr: fast}}", "stages.pb-warp.lr: expected a number, got 'fast'"),
    ("recipe", "data: {size: [64, sixty-four]}", "data.size[1]: expected an integer, got 'sixty-four'"),
    # training configs (--config)
    ("train", "batch_size: many", "batch_size: expected an integer, got 'many'"),
    ("train", "amp: 1", "amp: expected true or false, got 1"),
    ("train", "size: 64", "size: expected a list of 2 integers, got 64"),
    ("train", "vgg_weights: [a]", "vgg_weights: expected a string or null, got ['a']"),
    ("train", "knowledge: parser", "knowledge: expected one of 'teacher+tutor', 'tutor', got 'parser'"),
    ("train", "lr: .nan", "lr: expected a number, got nan"),
]  # fmt: skip


def _write(tmp_path: Path, kind: str, text: str) -> Path:
    path = tmp_path / "mine.yaml"
    path.write_text(KINDS[kind][1] + text + "\n")
    return path


@pytest.mark.parametrize(("kind", "text", "message"), BAD, ids=[f"{k}:{t}" for k, t, _ in BAD])
def test_a_value_of_the_wrong_type_is_one_line_naming_file_key_and_type(tmp_path, kind, text, message) -> None:
    path = _write(tmp_path, kind, text)
    with pytest.raises(ValueError) as caught:
        KINDS[kind][0](str(path))
    assert str(caught.value) == f"{path}: {message}"


def test_valid_values_and_the_documented_tolerances_still_load(tmp_path) -> None:
    shipped = load_suite("synthetic").to_dict()
    assert load_suite(str(_write(tmp_path, "suite", ""))).to_dict() == {**shipped, "name": "mine"}
    # an int where a float belongs, 1e-4 (text to PyYAML's YAML 1.1) as a number
    recipe = load_recipe(_write(tmp_path, "recipe", "budget_s: 60\nstages: {pb-warp: {lr: 1e-4}}"))
    assert recipe.budget_s == 60 and recipe.stages["pb-warp"].lr == 1e-4
    assert load_protocol(str(_write(tmp_path, "protocol", "kid: {scale: 1000}"))).kid.scale == 1000
    config = load_config(_write(tmp_path, "train", "lr: 1e-4\nwidth: 1\nsize: [64, 64]"), stage="pb-warp")
    assert (config.lr, config.width, config.size) == (1e-4, 1.0, (64, 64)) and isinstance(config.width, float)
    # one latency sweep as a single mapping (documented), a key under it set in every sweep
    sweeps = load_suite("quality-speed").override(settings={"latency.iters": 2}).latency
    assert len(sweeps) > 1 and {s.iters for s in sweeps} == {2}


def test_an_error_in_an_included_file_names_that_file(tmp_path) -> None:
    base = tmp_path / "base.yaml"
    base.write_text("include: synthetic\nname: base\nbatch_size: many\n")
    mine = tmp_path / "mine.yaml"
    mine.write_text(f"include: {base}\nname: mine\n")
    with pytest.raises(ValueError, match=rf"^{base}: batch_size: expected an integer, got 'many'$"):
        load_suite(str(mine))
    mine.write_text("include: [synthetic]\n")
    with pytest.raises(ValueError, match=rf"^{mine}: include: expected a string or null, got \['synthetic'\]$"):
        load_suite(str(mine))


# --- --set through the real command line ----------------------------------------------------------------------------

SETTINGS = [
    ("bench", "batch_size=abc", "expected an integer, got 'abc'"),
    ("bench", "latency.iters=many", "expected an integer, got 'many'"),
    ("bench", "metrics=ssim", "expected a list of strings, got 'ssim'"),
    ("bench", "qualitative.pairs=2.5", "expected an integer, got 2.5"),
    ("train", "batch_size=abc", "expected an integer, got 'abc'"),
    ("train", "amp=maybe", "expected true or false, got 'maybe'"),
    ("train", "size=64", "expected a list of 2 integers, got 64"),
    ("train", "knowledge=parser", "expected one of 'teacher+tutor', 'tutor', got 'parser'"),
]


@pytest.mark.parametrize(("command", "setting", "message"), SETTINGS, ids=[f"{c}:{s}" for c, s, _ in SETTINGS])
def test_set_of_the_wrong_type_stops_before_any_work(tmp_path, monkeypatch, command, setting, message) -> None:
    def no_work(*args: object, **kwargs: object) -> None:
        raise AssertionError("work started")

    monkeypatch.setattr(bench.suite, "run_suite", no_work)
    monkeypatch.setattr(bench.train.wiring, "train_on_dataset", no_work)
    out, work = tmp_path / "out", tmp_path / "work"
    argv = {
        "bench": ["bench", "--suite", "synthetic", "--out", str(out), "--work", str(work)],
        "train": ["train", "--stage", "pb-warp", "--dataset", "viton", "--root", str(tmp_path), "--out", str(out)],
    }[command]
    result = CliRunner().invoke(main, [*argv, "--set", setting])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines()[-1] == f"Error: --set {setting}: {message}"
    assert [line for line in result.stderr.splitlines() if setting in line] == [f"Error: --set {setting}: {message}"]
    assert not out.exists() and not work.exists()
