"""A method of one's own, without editing pftryon: ``module:Class``, a suite's ``class:`` row, an entry point, and
latency through the adapter. The example is the one in docs/adding-a-method.md, run as the guide says."""

from __future__ import annotations

import json
import os
import re
import runpy
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import yaml
from click.testing import CliRunner

from bench.cli import main
from bench.data.readers import InputError
from bench.latency import build_latency_model, measure_latency
from bench.methods import _registry, create_method, list_methods, method_class, method_origin, register_method
from bench.suite import load_suite, run_suite

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "adding-a-method.md"
TARGET = "pose_paste:PosePaste"
_LEARNED = """
import dataclasses

import torch
from torch import nn

from bench.methods import MethodCard, TryOnMethod


class Net(nn.Module):
    def __init__(self, width: int = 4) -> None:
        super().__init__()
        self.config = {"width": width}
        self.body = nn.Sequential(nn.Conv2d(7, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, 3, 1))

    def forward(self, person, cloth, cloth_mask):
        return {"tryon": self.body(torch.cat([person, cloth, cloth_mask], 1)).tanh()}


class Learned(TryOnMethod):
    card = MethodCard(name="learned", title="learned", family="test", citation="none",
                      inputs=("person", "cloth", "cloth_mask"), resolution=(64, 48), official_files=("w.pth",),
                      weights_source="test", parser_free=True)
    model_class = Net

    def inputs(self, batch):
        return batch["person"], batch["cloth"], batch["cloth_mask"]


class NoModelClass(Learned):
    card = dataclasses.replace(Learned.card, name="no_model_class")
    model_class = None


class Abstract(TryOnMethod):
    card = Learned.card


class NoCard(TryOnMethod):
    def inputs(self, batch):
        return ()


class BadCard(Learned):
    card = dataclasses.replace(Learned.card, inputs=("person", "pose"))


class ParseNet(nn.Module):
    def forward(self, person, parse):
        assert parse.dtype == torch.int64, "label maps stay integers"
        return {"tryon": person * (parse[:, None] > 0)}


class WithParse(TryOnMethod):
    card = dataclasses.replace(Learned.card, name="with_parse", inputs=("person", "parse"), official_files=(),
                               weights_source="none", parser_free=False)

    @classmethod
    def build_weightless(cls):
        return ParseNet()

    def inputs(self, batch):
        return batch["person"], batch["parse"]


class Strings(Learned):
    card = dataclasses.replace(Learned.card, name="strings", inputs=("person", "dataset"))


def helper():
    pass
"""


def _blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", GUIDE.read_text(), flags=re.MULTILINE | re.DOTALL)


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder on sys.path holding the guide's ``pose_paste.py`` and a test module ``learned.py``; the registry's
    runtime registrations start empty and the modules are forgotten afterwards."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "pose_paste.py").write_text(_blocks("python")[0])
    (folder / "learned.py").write_text(_LEARNED)
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setattr(_registry.REGISTRY, "_registered", {})
    yield folder
    for name in ("pose_paste", "learned"):
        sys.modules.pop(name, None)


def _dist(site: Path, name: str, entries: dict[str, str]) -> None:
    """An installed distribution's metadata: ``<name>-0.1.dist-info`` with ``pftryon.methods`` entry points."""
    info = site / f"{name.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    lines = "".join(f"{key} = {value}\n" for key, value in entries.items())
    (info / "entry_points.txt").write_text(f"[pftryon.methods]\n{lines}")


def test_the_guide_example_runs_through_pftryon_predict_from_pythonpath(plugins, viton, tmp_path):
    demo = runpy.run_path(str(plugins / "pose_paste.py"), run_name="__main__")  # the guide's own check
    assert demo["PosePaste"].card.latency_model == "__main__:PosePaste"
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(plugins), os.environ.get("PYTHONPATH")]))}
    args = ["predict", "--method", TARGET, "--dataset", "viton", "--root", str(viton), "--pairs", "unpaired",
            "--out", str(out), "--device", "cpu"]  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "bench.cli", *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert len(list(out.glob("*.png"))) == 4
    card = json.loads((out / "predict.json").read_text())["method"]["card"]
    assert card["name"] == "pose_paste" and card["latency_model"] == TARGET and card["official_files"] == []


def test_the_guide_example_pastes_the_garment_fitted_to_the_keypoints(plugins):
    method = create_method(TARGET)
    batch = dict(zip(method.card.inputs, method.example_inputs(2, (64, 48)), strict=True))
    batch["keypoints"][1, :, 2] = 0  # no keypoints: the garment box fills the image
    tryon = method(batch)["tryon"]
    assert tryon.shape == (2, 3, 64, 48) and torch.isfinite(tryon).all() and tryon.abs().max() <= 1
    assert not torch.equal(tryon, batch["person"])
    assert method_origin(TARGET) == TARGET and method.checkpoints == {}


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("no_such_module:X", "no_such_module:X: module 'no_such_module' not found"),
        ("pose_paste:Missing", "pose_paste:Missing: module pose_paste has no attribute 'Missing'"),
        ("learned:helper", "learned:helper: a function is not a subclass of bench.methods.TryOnMethod"),
        ("learned:Net", "learned:Net: class Net is not a subclass of bench.methods.TryOnMethod"),
        ("learned:Abstract", "learned:Abstract: abstract: implement inputs"),
        ("learned:NoCard", "learned:NoCard: incomplete card: no card"),
        ("learned:BadCard", r"learned:BadCard: incomplete card: card.inputs \('person', 'pose'\)"),
        ("pose_paste", "Unknown method 'pose_paste'.*or an adapter class as module:Class"),
    ],
)
def test_a_bad_target_is_one_line_naming_it(plugins, target, message):
    with pytest.raises(InputError, match=message) as info:
        method_class(target)
    assert "\n" not in str(info.value)


def test_predict_refuses_a_bad_target_in_one_line(plugins, tmp_path):
    args = ["predict", "--method", "pose_paste:Nope", "--dataset", "viton", "--root", str(tmp_path), "--out",
            str(tmp_path / "out")]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "pose_paste:Nope: module pose_paste has no attribute 'Nope'" in result.output
    assert "Traceback" not in result.output


def test_register_method_refuses_a_second_target_and_ignores_the_same_one(plugins):
    register_method("mine", TARGET, source="suite a.yaml")
    register_method("mine", TARGET, source="suite b.yaml")  # the same target: nothing changes
    assert method_origin("mine") == "suite a.yaml" and method_class("mine") is method_class(TARGET)
    assert "mine" in list_methods()
    with pytest.raises(InputError, match=r"'mine' is registered twice: pose_paste:PosePaste \(suite a.yaml\) and "
                       r"bench.methods.lower_bounds:NoWarpMethod \(suite c.yaml\)"):  # fmt: skip
        register_method("mine", "bench.methods.lower_bounds:NoWarpMethod", source="suite c.yaml")
    with pytest.raises(InputError, match=r"'no_warp' is registered twice: .*NoWarpMethod \(built-in\) and "):
        register_method("no_warp", TARGET)
    with pytest.raises(InputError, match="method name 'My-Method'"):
        register_method("My-Method", TARGET)
    with pytest.raises(InputError, match="net = learned:Net: class Net is not a subclass"):
        register_method("net", "learned:Net")
    assert "net" not in list_methods()
    register_method("no_warp", "bench.methods.lower_bounds:NoWarpMethod")  # a built-in's own target: a no-op
    assert method_origin("no_warp") == "built-in"


def test_a_suite_class_row_registers_the_method_for_the_run(plugins, viton, tmp_path):
    (block,) = _blocks("yaml")
    data = yaml.safe_load(block)
    data["datasets"][0]["root"] = str(viton)
    path = tmp_path / "my-methods.yaml"
    path.write_text(yaml.safe_dump(data))
    suite = load_suite(str(path))
    assert suite.methods[0].class_ == TARGET
    assert method_class("pose_paste").__module__ == "pose_paste" and method_origin("pose_paste") == f"suite {path}"
    assert suite.to_dict()["methods"][0] == {**data["methods"][0], "checkpoints": None, "train": None,
                                             "label": None, "dtype": "fp32"}  # fmt: skip
    assert suite.override(limit=2).methods == suite.methods  # reloading registers the same target again: a no-op

    clash = {**data, "methods": [{"name": "pose_paste", "class": "bench.methods.lower_bounds:NoWarpMethod"}]}
    path.with_name("clash.yaml").write_text(yaml.safe_dump(clash))
    with pytest.raises(ValueError, match=r"clash.yaml: methods\[0\]: method 'pose_paste' is registered twice: "
                       rf"pose_paste:PosePaste \(suite {re.escape(str(path))}\) and .*NoWarpMethod \(suite "
                       r".*clash.yaml\)"):  # fmt: skip
        load_suite(str(path.with_name("clash.yaml")))
    typo = {**data, "methods": [{"name": "mine", "class": "pose_paste:Nope"}]}
    path.with_name("typo.yaml").write_text(yaml.safe_dump(typo))
    with pytest.raises(ValueError, match=r"methods\[0\]: mine = pose_paste:Nope \(suite .*typo.yaml\): module "):
        load_suite(str(path.with_name("typo.yaml")))

    result = run_suite(suite.override(limit=2, settings={"qualitative.pairs": 1}), work=tmp_path / "work")
    table = result.results
    for metric in ("ssim", "ms_per_image"):  # scored, and timed through its adapter
        rows = table[(table.source == "measured") & (table.method == "pose_paste") & (table.metric == metric)]
        assert len(rows) and rows.value.notna().all(), metric
    assert result.run["methods"]["pose_paste"]["title"] == "pose-fitted paste"


def test_entry_points_join_the_registry_lazily_and_clashes_are_refused(plugins, tmp_path, monkeypatch):
    site = tmp_path / "site"
    _dist(site, "pose-paste", {"pose_paste": TARGET})
    monkeypatch.syspath_prepend(str(site))
    assert "pose_paste" in list_methods() and "pose_paste" not in sys.modules  # listed from metadata, not imported
    assert method_origin("pose_paste") == "entry point pose-paste"
    assert create_method("pose_paste").card.name == "pose_paste" and "pose_paste" in sys.modules
    timed = measure_latency("pose_paste", size=(32, 24), warmup=0, iters=1)
    assert timed.model == "pose_paste" and timed.params == 0

    with pytest.raises(InputError, match="'pose_paste' is registered twice"):
        register_method("pose_paste", "learned:Learned", source="suite x.yaml")
    other = tmp_path / "other-site"
    _dist(other, "other-paste", {"pose_paste": "other:Paste"})
    monkeypatch.syspath_prepend(str(other))
    with pytest.raises(InputError, match=r"'pose_paste' is registered twice: \S+ \(entry point (other|pose)-paste\) "
                       r"and \S+ \(entry point (pose|other)-paste\); rename one"):  # fmt: skip
        list_methods()
    (other / "other_paste-0.1.dist-info" / "entry_points.txt").write_text(f"[pftryon.methods]\nno_warp = {TARGET}\n")
    with pytest.raises(InputError, match=r"'no_warp' is registered twice: .*NoWarpMethod \(built-in\) and "
                       r"pose_paste:PosePaste \(entry point other-paste\)"):  # fmt: skip
        list_methods()


def test_latency_times_an_adapter_by_its_model_and_example_inputs(plugins):
    from learned import Learned, NoModelClass, Strings

    assert Learned.card.latency_model == "learned:Learned"
    assert NoModelClass.card.latency_model == "learned:NoModelClass"  # not the card's copied from Learned
    first, second = (build_latency_model("learned:Learned", (32, 24), {"width": 4}) for _ in range(2))
    assert all(
        torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True)
    )
    timed = measure_latency("learned:Learned", size=(32, 24), batch=2, config={"width": 4}, warmup=0, iters=2)
    assert timed.params == sum(p.numel() for p in first.parameters()) and timed.flops > 0
    assert measure_latency("learned:WithParse", size=(16, 12), warmup=0, iters=1).params == 0
    with pytest.raises(InputError, match="learned:NoModelClass: timing builds the model without checkpoints; set "):
        measure_latency("learned:NoModelClass", size=(32, 24), warmup=0, iters=1)
    register_method("pose_paste", TARGET)
    with pytest.raises(InputError, match="Unknown model 'pose_pste'. Did you mean: pose_paste"):
        measure_latency("pose_pste")

    person, cloth, mask = Learned.example_inputs(2, (8, 6), torch.Generator().manual_seed(1))
    assert person.shape == cloth.shape == (2, 3, 8, 6) and mask.shape == (2, 1, 8, 6)
    assert person.min() >= -1 and person.max() <= 1 and set(mask.unique().tolist()) <= {0.0, 1.0}
    again = Learned.example_inputs(2, (8, 6), torch.Generator().manual_seed(1))
    assert all(torch.equal(a, b) for a, b in zip((person, cloth, mask), again, strict=True))
    with pytest.raises(InputError, match="strings: no random stand-in for dataset; override example_inputs"):
        Strings.example_inputs(1, (8, 6))
