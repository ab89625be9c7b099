"""`pftryon ablate`: recipes, the run plan, flow EPE, and the smoke recipe end to end with resume."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from click.testing import CliRunner

from bench.ablate.scoring import NO_WARP, TUTOR, _scorer, _TestSet, prepare_weights, scoring_protocol
from bench.cli import main
from bench.errors import UnofficialWeightsError
from bench.eval import TensorScorer, evaluate, match_folders
from bench.images import write_png
from bench.metrics.flow import flow_epe
from bench.records import SCHEMA_VERSION, AblationRecord, read_record
from bench.train.recipe import Recipe, load_recipe
from bench.train.runs import plan_runs

SMOKE_RUNS = [
    "tutor/pb-warp", "tutor/pb-e2e", "noise-0.5/tt-adjustable/pf-warp", "noise-0.5/tt-adjustable/pf-e2e",
    "noise-0.5/tutor-adjustable/pf-warp", "noise-0.5/tutor-adjustable/pf-e2e",
]  # fmt: skip


def _ablate(tmp: Path, *extra: str) -> str:
    args = ["ablate", "--recipe", "smoke", "--work", str(tmp / "work"), "--out", str(tmp / "report"), *extra]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    tmp = tmp_path_factory.mktemp("ablate")
    return tmp, _ablate(tmp)


@pytest.mark.slow
def test_smoke_recipe_writes_the_report(smoke: tuple[Path, str]) -> None:
    tmp, output = smoke
    for key in SMOKE_RUNS:
        assert f"{key}: training" in output
    assert "total time:" in output
    report = tmp / "report"
    table = pd.read_csv(report / "ablation.csv")
    assert list(table["variant"]) == ["tt-adjustable", "tutor-adjustable", TUTOR, NO_WARP]
    for column in ("knowledge", "distill", "parse_noise", "ssim_mean", "ssim_low", "ssim_high", "psnr_mean",
                   "epe_mean", "ssim_minus_no_warp_mean", "lpips_mean", "fid", "train_time_s"):  # fmt: skip
        assert column in table.columns, column
    assert table["ssim_mean"].between(-1, 1).all() and (table["epe_mean"] >= 0).all()
    per_sample = pd.read_csv(report / "per_sample.csv")
    assert set(per_sample.columns) >= {"variant", "parse_noise", "pair", "ssim", "psnr", "epe"}
    assert len(per_sample) == 4 * per_sample["pair"].nunique()
    summary = read_record(report / "ablation.json", "ablation")
    assert (summary["kind"], summary["schema_version"]) == ("ablation", SCHEMA_VERSION)
    assert list(summary)[:2] == ["schema_version", "kind"] and set(summary) == set(AblationRecord.__annotations__)
    assert summary["scoring"]["protocol"]["ssim"]["variant"] == "pytorch_ssim"
    assert {"ssim", "psnr", "epe"} <= set(summary["scoring"]["how"])
    assert [r["key"] for r in summary["runs"]] == SMOKE_RUNS
    assert summary["runs"][2]["config"]["knowledge"] == "teacher+tutor"
    assert summary["runs"][2]["config"]["parse_noise"] == 0.5
    assert summary["recipe"]["name"] == "smoke" and summary["data"]["fingerprint_sha256"]
    assert {"warp_l1", "warp_edge", "warp_smooth"} <= set(summary["runs"][0]["term_falls"])
    markdown = (report / "ablation.md").read_text()
    assert "| variant | knowledge | distill | parse noise | SSIM (pytorch_ssim)" in markdown
    assert "| term falling most |" in markdown
    assert "weights absent" in markdown or not summary["metric_notes"]
    assert (report / "loss_curves.png").read_bytes().startswith(b"\x89PNG")
    assert '<table id="ablation-table">' in (report / "index.html").read_text()


@pytest.mark.slow
def test_seed_option_trains_a_replicate(tmp_path: Path) -> None:
    _ablate(tmp_path, "--seed", "3")
    summary = json.loads((tmp_path / "report" / "ablation.json").read_text())
    assert summary["recipe"]["seed"] == 3 and {r["config"]["seed"] for r in summary["runs"]} == {3}
    assert summary["data"]["spec"]["seed"] == load_recipe("smoke").data.seed


@pytest.mark.slow
def test_rerun_skips_finished_runs_and_resumes_an_interrupted_one(smoke: tuple[Path, str]) -> None:
    tmp = smoke[0]
    runs = tmp / "work" / "runs"
    finished = runs / "tutor" / "pb-warp" / "final" / "training.json"
    stamp = finished.stat().st_mtime_ns
    shutil.rmtree(runs / "noise-0.5" / "tutor-adjustable" / "pf-e2e" / "final")  # as if killed before the end
    output = _ablate(tmp, "--overwrite")
    assert "already synthesised, skipped" in output
    for key in SMOKE_RUNS[:-1]:
        assert f"{key}: finished before" in output
    assert f"{SMOKE_RUNS[-1]}: resuming from step_" in output
    assert finished.stat().st_mtime_ns == stamp


@pytest.mark.slow
def test_a_changed_recipe_refuses_the_finished_runs(smoke: tuple[Path, str], tmp_path: Path) -> None:
    recipe = load_recipe("smoke").to_dict()
    recipe["stages"]["pb-warp"]["lr"] = 1e-3
    path = tmp_path / "changed.yaml"
    path.write_text(yaml.safe_dump(recipe))
    args = ["ablate", "--recipe", str(path), "--work", str(smoke[0] / "work"), "--out", str(tmp_path / "report")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "trained with other settings (lr)" in result.output


def test_unknown_recipe_keys_are_errors(tmp_path: Path) -> None:
    recipe = load_recipe("smoke").to_dict()
    for where, change in (("recipe", {"epochs": 3}), ("stages.pf-warp", {"stages": {**recipe["stages"],
                          "pf-warp": {**recipe["stages"]["pf-warp"], "lr_decay": 1}}})):  # fmt: skip
        path = tmp_path / "bad.yaml"
        path.write_text(yaml.safe_dump({**recipe, **change}))
        with pytest.raises(ValueError, match="unknown key"):
            load_recipe(path)
        result = CliRunner().invoke(main, ["ablate", "--recipe", str(path)])
        assert result.exit_code == 2 and "unknown key" in result.output, where
    with pytest.raises(ValueError, match="Unknown recipe 'nope'"):
        load_recipe("nope")
    with pytest.raises(ValueError, match=r"variants\[0\]\.knowledge: expected one of"):
        Recipe.from_dict({**recipe, "variants": [{"name": "x", "knowledge": "parser", "distill": "none"}]})


def test_a_recipe_includes_another_and_overrides_only_what_it_names(tmp_path: Path) -> None:
    scaled, base = load_recipe("synthetic-small-scaled").to_dict(), load_recipe("synthetic-small").to_dict()
    assert {k for k in base if scaled[k] != base[k]} == {"name", "description", "scale_flow_heads"}
    assert scaled["scale_flow_heads"] is True and base["scale_flow_heads"] is False
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump({"include": "smoke", "name": "mine", "seed": 7}))
    mine = load_recipe(tmp_path / "mine.yaml")
    assert mine.seed == 7 and mine.stages == load_recipe("smoke").stages


def test_the_shipped_recipe_plans_the_tutor_once_and_every_student_at_every_noise(tmp_path: Path) -> None:
    recipe = load_recipe("synthetic-small")
    plan = plan_runs(recipe, tmp_path)
    assert [r.key for r in plan[:2]] == ["tutor/pb-warp", "tutor/pb-e2e"]
    students = plan[2:]
    assert len(students) == 2 * len(recipe.variants) * len(recipe.parse_noise)
    tutor = str(plan[1].model)
    for warp, e2e in zip(students[::2], students[1::2], strict=True):
        assert (warp.config.stage, e2e.config.stage) == ("pf-warp", "pf-e2e")
        assert warp.config.init == tutor and e2e.config.init == str(warp.model) and e2e.config.tutor == tutor
        assert warp.config.parse_noise == e2e.config.parse_noise == warp.parse_noise
        assert (warp.config.knowledge, warp.config.distill) == (warp.variant.knowledge, warp.variant.distill)
    assert {(r.variant.name, r.parse_noise) for r in students} == {
        (v.name, p) for v in recipe.variants for p in recipe.parse_noise
    }
    assert plan[0].config.parse_noise == plan[1].config.parse_noise == 0.0  # the tutor learns from clean parses
    assert recipe.perceptual == "none"
    # the committed reports were trained with the official flow heads; the recipe keeps reproducing them
    assert {r.config.scale_flow_heads for r in plan} == {False} and load_recipe("smoke").scale_flow_heads


def test_flow_epe_is_in_pixels_inside_the_true_region() -> None:
    height, width = 5, 9
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, height), torch.linspace(-1, 1, width), indexing="ij")
    truth = torch.stack([xs, ys])[None].clone()
    flow = truth.clone()
    flow[:, 0] += 2 / (width - 1)  # one pixel to the right
    flow[:, 1] -= 2 * 2 / (height - 1)  # two pixels up
    truth[:, :, 0] = float("nan")  # first row outside the garment: ignored
    flow[:, :, 0] = 100.0
    epe = flow_epe(flow, truth)
    assert epe.shape == (1,) and epe.item() == pytest.approx(5**0.5)
    assert flow_epe(flow, torch.full_like(truth, float("nan"))).isnan().all()


def _images(count: int, generator: torch.Generator) -> torch.Tensor:
    """Float images that a PNG holds exactly (multiples of 1/255)."""
    return torch.randint(0, 256, (count, 3, 64, 48), dtype=torch.uint8, generator=generator).float() / 255


def test_in_memory_scores_equal_evals_scores_of_the_same_images_as_files(tmp_path: Path,
                                                                         lpips_weights_dir: Path) -> None:  # fmt: skip
    generator = torch.Generator().manual_seed(0)
    preds, refs = _images(5, generator), _images(5, generator)
    for folder, images in (("pred", preds), ("gt", refs)):
        for i, image in enumerate(images):
            write_png(tmp_path / folder / f"{i}.png", (image * 255).round().byte().permute(1, 2, 0).numpy())
    protocol = scoring_protocol(load_recipe("smoke").evaluation, (64, 48))
    metrics = ["ssim", "psnr", "lpips"]
    files = evaluate(match_folders(tmp_path / "pred", tmp_path / "gt"), protocol, metrics=metrics, batch_size=2,
                     weights_dir=lpips_weights_dir, allow_unofficial_weights=True, progress=False)  # fmt: skip
    memory = TensorScorer(refs, protocol, metrics=metrics, weights_dir=lpips_weights_dir, batch_size=2,
                          allow_unofficial_weights=True).score(preds)  # fmt: skip
    rows = sorted(files.rows, key=lambda row: int(row["key"]))
    for metric in metrics:
        assert memory.values[metric].tolist() == [row[metric] for row in rows], metric
        summary = {k: v for k, v in files.summary["metrics"][metric].items() if k != "how"}
        assert {k: v for k, v in memory.metrics[metric].items() if k != "how"} == summary, metric
    assert memory.warnings and all("not the official" in w for w in memory.warnings)
    with pytest.raises(ValueError, match="need more than two sets of images"):
        TensorScorer(refs, protocol, metrics=["ssim_garment"])


def test_the_ablation_scores_through_eval_and_notes_what_it_leaves_out(
    tmp_path: Path, lpips_weights_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))  # no weights but the test's
    recipe = load_recipe("smoke")
    images = _images(3, torch.Generator().manual_seed(1))
    test = _TestSet([], ["a__b", "c__d", "e__f"], images, torch.zeros(3, 2, 64, 48))
    scorer, notes = _scorer(recipe, test, lpips_weights_dir, True)
    assert scorer.metrics == ("ssim", "psnr", "lpips")
    assert notes == {"fid": "weights absent: weights-inception-2015-12-05-6726825d.pth"}
    scores = scorer.score(images)
    assert scores.values["ssim"].tolist() == [1.0, 1.0, 1.0] and scores.values["lpips"].abs().max() < 1e-6
    assert set(scores.metrics) == {"ssim", "psnr", "lpips"}
    bare, notes = _scorer(recipe, test, tmp_path, False)
    assert bare.metrics == ("ssim", "psnr") and notes["lpips"] == "weights absent: alexnet-owt-7be5be79.pth"


def test_unofficial_weights_are_refused_before_any_training(tmp_path: Path, lpips_weights_dir: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    with pytest.raises(UnofficialWeightsError, match="alexnet-owt-7be5be79.pth's"):
        prepare_weights(load_recipe("smoke"), lpips_weights_dir)
    note = prepare_weights(load_recipe("smoke"), lpips_weights_dir, allow_unofficial_weights=True)
    assert note is not None and "weights-inception-2015-12-05-6726825d.pth" in note and "alexnet" not in note


def test_runs_recorded_before_scale_flow_heads_are_reused_as_official_heads(tmp_path: Path) -> None:
    from bench.train.runs import StaleWorkError, train_run

    run = plan_runs(load_recipe("synthetic-small"), tmp_path)[0]
    recorded = {k: v for k, v in run.config.to_dict().items() if k != "scale_flow_heads"}
    (run.folder / "final").mkdir(parents=True)
    (run.folder / "final" / "training.json").write_text(json.dumps({"config": recorded, "wall_time_s": 1.0}))
    assert train_run(run, None, "cpu", lambda _: None)["config"] == recorded  # type: ignore[arg-type]
    scaled = run.__class__(run.key, run.folder, run.config.replace(scale_flow_heads=True))
    with pytest.raises(StaleWorkError, match="scale_flow_heads"):
        train_run(scaled, None, "cpu", lambda _: None)  # type: ignore[arg-type]
