"""``pftryon eval``: matching, decoding once, per-sample values, summaries with CIs, provenance, errors, DDP."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from bench.cli import main
from bench.data import create_dataset
from bench.data.readers import InputError
from bench.data.synthetic import synthesize
from bench.eval import EvalSet, evaluate, match_dataset, match_folders, run_eval
from bench.metrics import MissingWeightsError
from bench.metrics import functional as MF
from bench.protocols import load_protocol
from bench.report.eval_markdown import summary_markdown

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("viton")
    synthesize("viton", root, n=10, size=(256, 192), seed=5, test_fraction=0.5, progress=False)
    return root


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory: pytest.TempPathFactory, lpips_weights_dir: Path, inception_weights_dir: Path) -> Path:
    """LPIPS and torch-fidelity weights (random values) plus a random pytorch-fid Inception (``pfafn``'s FID)."""
    import pytorch_fid.inception as pf_inception

    from bench.metrics.weights import WEIGHTS

    folder = tmp_path_factory.mktemp("all_weights")
    for source in (*lpips_weights_dir.iterdir(), *inception_weights_dir.iterdir()):
        (folder / source.name).symlink_to(source)
    with pytest.MonkeyPatch.context() as patch, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        patch.setattr(pf_inception, "load_state_dict_from_url", lambda *args, **kwargs: {})
        patch.setattr(torch.nn.Module, "load_state_dict", lambda self, *args, **kwargs: None)
        model = pf_inception.fid_inception_v3()
    generator = torch.Generator().manual_seed(0)
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):  # He init: the default one makes the pool3 features vanish
            module.weight.data = (
                torch.randn(module.weight.shape, generator=generator) * (2 / module.weight[0].numel()) ** 0.5
            )
    torch.save(model.state_dict(), folder / WEIGHTS["pt_inception"].filename)
    return folder


def _copy_persons(root: Path, out: Path, pair_mode: str) -> list[Path]:
    """Predictions equal to the ground truth: each pair's person file, named as ``pftryon tryon`` names outputs."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for entry in create_dataset("viton", root, split="test", pair_mode=pair_mode).entries:
        person, cloth = entry.files["person"], entry.files["cloth"]
        target = out / f"{person.stem}__{cloth.stem}{person.suffix}"
        shutil.copyfile(person, target)
        written.append(target)
    return written


def test_identical_images_give_ssim_one_and_psnr_cap(synthetic_root: Path, tmp_path: Path) -> None:
    _copy_persons(synthetic_root, tmp_path / "pred", "paired")
    protocol = load_protocol("pfafn")
    eval_set = match_dataset(tmp_path / "pred", "viton", synthetic_root, protocol)
    result = evaluate(eval_set, protocol, metrics=("ssim", "psnr"), progress=False)
    assert len(result.rows) == 5
    for row in result.rows:
        assert row["ssim"] == pytest.approx(1.0, abs=1e-12)
        assert row["psnr"] == 100.0
    ssim = result.summary["metrics"]["ssim"]
    assert ssim["mean"] == pytest.approx(1.0) and ssim["ci95"] == pytest.approx([1.0, 1.0]) and ssim["n"] == 5
    sets = result.summary["inputs"]["image_sets"]
    assert sets["pred_paired"] == sets["gt_paired"]  # same bytes, same fingerprint


def test_dataset_mode_scores_paired_and_unpaired_lists(synthetic_root: Path, tmp_path: Path, weights_dir: Path) -> None:
    _copy_persons(synthetic_root, tmp_path / "paired", "paired")
    unpaired = _copy_persons(synthetic_root, tmp_path / "unpaired", "unpaired")
    for path in unpaired[:2]:  # perturb two unpaired outputs so the sets differ
        pixels = np.asarray(Image.open(path).convert("RGB")).copy()
        pixels[::2] = 255 - pixels[::2]
        Image.fromarray(pixels).save(path, quality=95)
    protocol = load_protocol("pfafn")
    eval_set = match_dataset(tmp_path / "paired", "viton", synthetic_root, protocol,
                             pred_unpaired_dir=tmp_path / "unpaired")  # fmt: skip
    result = evaluate(eval_set, protocol, weights_dir=weights_dir, fid_resamples=3, progress=False,
                      allow_unofficial_weights=True)  # fmt: skip
    metrics = result.summary["metrics"]
    assert set(metrics) == {"ssim", "psnr", "lpips", "fid", "kid"}
    assert metrics["lpips"]["mean"] == pytest.approx(0.0, abs=1e-6)
    assert metrics["fid"]["value"] > 0 and metrics["fid"]["n_fake"] == 5 and metrics["fid"]["n_real"] == 5
    assert "bootstrap_std" in metrics["fid"] and "warning" in metrics["fid"]  # 5 images << 2048 dimensions
    assert metrics["kid"]["subset_size"] == 5 and metrics["kid"]["scale"] == 1.0
    assert metrics["fid"]["how"]["weights"]["file"].endswith("pt_inception-2015-12-05-6726825d.pth")  # pytorch-fid
    assert metrics["fid"]["how"]["backend"] == "pytorch-fid"
    assert result.summary["inputs"]["fid_fake_set"] == "unpaired predictions"
    assert set(result.summary["inputs"]["image_sets"]) == {"pred_paired", "gt_paired", "pred_fid", "reference_fid"}


def test_fid_of_a_set_with_itself_is_zero(synthetic_root: Path, tmp_path: Path, weights_dir: Path) -> None:
    _copy_persons(synthetic_root, tmp_path / "pred", "paired")
    protocol = load_protocol("pfafn")
    eval_set = match_dataset(tmp_path / "pred", "viton", synthetic_root, protocol)
    result = evaluate(eval_set, protocol, metrics=("fid",), weights_dir=weights_dir, fid_resamples=0, progress=False)
    assert result.summary["metrics"]["fid"]["value"] == pytest.approx(0.0, abs=1e-6)


def test_reference_features_are_cached_by_fingerprint(synthetic_root: Path, tmp_path: Path, weights_dir: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    _copy_persons(synthetic_root, tmp_path / "pred", "paired")
    protocol = load_protocol("pfafn")
    eval_set = match_dataset(tmp_path / "pred", "viton", synthetic_root, protocol)
    run = {"metrics": ("fid", "kid"), "weights_dir": weights_dir, "fid_resamples": 0, "progress": False,
           "feature_cache": tmp_path / "cache"}  # fmt: skip
    reads: list[Path] = []
    read_bytes = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: reads.append(self) or read_bytes(self))
    first = evaluate(eval_set, protocol, **run)
    assert sorted(p for p in reads if p in eval_set.real) == sorted(eval_set.real), "a miss reads each file once"
    reads.clear()
    second = evaluate(eval_set, protocol, **run)
    assert not set(reads) & set(eval_set.real), "a hit reads no reference file"
    assert first.summary["inputs"]["reference_features"].startswith("written to")
    assert second.summary["inputs"]["reference_features"].startswith("read from")
    assert second.summary["metrics"]["fid"]["value"] == first.summary["metrics"]["fid"]["value"]
    assert second.summary["inputs"]["image_sets"] == first.summary["inputs"]["image_sets"]
    assert len(list((tmp_path / "cache").glob("reference-*.pt"))) == 1
    other = evaluate(eval_set, load_protocol("pfafn"), **{**run, "crop_panel": 1, "batch_size": 2})
    assert other.summary["inputs"]["reference_features"].startswith("read from")  # batching is not in the key
    changed = match_dataset(tmp_path / "pred", "viton", synthetic_root, protocol)
    changed = EvalSet(changed.pairs, changed.fake, changed.real[:-1], changed.description)
    assert evaluate(changed, protocol, **run).summary["inputs"]["reference_features"].startswith("written to")


def test_fixtures_through_the_cli_with_crop_panel(viton_demo: Path, tmp_path: Path) -> None:
    args = ["eval", "--pred", str(viton_demo / "results" / "demo" / "PFAFN"), "--crop-panel", "3",
            "--dataset", "viton-pfafn", "--root", str(viton_demo / "dataset"),
            "--pairs-file", str(viton_demo / "demo.txt"),
            "--protocol", "pfafn", "--metrics", "ssim,psnr", "--out", str(tmp_path / "out")]  # fmt: skip
    refused = CliRunner().invoke(main, args)  # PF-AFN names its outputs by line number: never paired silently
    assert refused.exit_code == 2 and "pass --match lines" in refused.output.strip().splitlines()[-1]
    assert not (tmp_path / "out").exists()
    result = CliRunner().invoke(main, [*args, "--match", "lines"])
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(tmp_path / "out" / "per_sample.csv")
    assert list(rows.columns) == ["key", "pred", "gt", "ssim", "psnr"] and len(rows) == 6
    assert rows["pred"].str.endswith(("0.jpg", "1.jpg", "2.jpg", "3.jpg", "4.jpg", "5.jpg")).all()
    # The official try-on wears another garment: similar to the person, far from identical.
    assert ((rows["ssim"] > 0.5) & (rows["ssim"] < 0.99)).all()
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["protocol"]["name"] == "pfafn" and summary["inputs"]["crop_panel"] == 3
    assert summary["metrics"]["ssim"]["how"]["variant"] == "pytorch_ssim"
    assert {"date", "git_commit", "versions", "device"} <= set(summary["run"])
    low, high = summary["metrics"]["ssim"]["ci95"]
    assert low < summary["metrics"]["ssim"]["mean"] < high
    assert "| SSIM |" in (tmp_path / "out" / "summary.md").read_text()
    # The crop is the official third panel, scored against the person at 256x192.
    panel = np.array(Image.open(viton_demo / "results" / "demo" / "PFAFN" / "0.jpg").convert("RGB"))[:, 384:]
    person = np.array(Image.open(viton_demo / "dataset" / "test_img" / "000066_0.jpg").convert("RGB"))
    expected = MF.psnr(torch.from_numpy(panel).permute(2, 0, 1)[None] / 255.0,
                       torch.from_numpy(person).permute(2, 0, 1)[None] / 255.0)  # fmt: skip
    assert rows["psnr"][0] == pytest.approx(float(expected), rel=1e-9)


def test_missing_weights_stop_the_run_before_any_work(
    synthetic_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_home"))
    pred = tmp_path / "pred"
    _copy_persons(synthetic_root, pred, "paired")
    eval_set = match_dataset(pred, "viton", synthetic_root, load_protocol("pfafn"))
    start = time.perf_counter()
    with pytest.raises(MissingWeightsError) as info:
        evaluate(eval_set, load_protocol("pfafn"), weights_dir=tmp_path / "nothing", progress=False)
    assert time.perf_counter() - start < 1.0
    assert "alexnet-owt-7be5be79.pth" in str(info.value) and "\n" not in str(info.value)
    result = CliRunner().invoke(main, ["eval", "--pred", str(pred), "--gt", str(pred), "--protocol", "pfafn",
                                       "--metrics", "fid", "--out", str(tmp_path / "out"),
                                       "--feature-cache", str(tmp_path / "cache")])  # fmt: skip
    assert result.exit_code == 2
    assert "pt_inception-2015-12-05-6726825d.pth" in result.output  # pfafn's FID is pytorch-fid
    assert not (tmp_path / "out").exists()


def test_folder_mode_errors_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "pred").mkdir()
    (tmp_path / "gt").mkdir()
    image = Image.new("RGB", (192, 256), (10, 20, 30))
    image.save(tmp_path / "pred" / "a.png")
    image.save(tmp_path / "gt" / "b.png")
    with pytest.raises(InputError, match=r"a\.png: no reference named a"):
        match_folders(tmp_path / "pred", tmp_path / "gt")
    image.save(tmp_path / "gt" / "a.png")
    with pytest.raises(InputError, match=r"pred: no prediction for 1 of 2 references .*first: b.*--allow-partial"):
        match_folders(tmp_path / "pred", tmp_path / "gt")  # b.png has no prediction: a partial folder
    (tmp_path / "gt" / "b.png").unlink()
    (tmp_path / "pred" / "c.png").write_bytes(b"not an image")
    (tmp_path / "gt" / "c.png").write_bytes(b"not an image")
    with pytest.raises(InputError, match=r"c\.png: not a readable image"):
        evaluate(match_folders(tmp_path / "pred", tmp_path / "gt"), load_protocol("pfafn"),
                 metrics=("ssim",), progress=False)  # fmt: skip
    (tmp_path / "pred" / "c.png").unlink()
    (tmp_path / "gt" / "c.png").unlink()
    with pytest.raises(InputError, match="not divisible into 5 panels"):
        evaluate(match_folders(tmp_path / "pred", tmp_path / "gt"), load_protocol("pfafn"), metrics=("ssim",),
                 crop_panel=5, progress=False)  # fmt: skip
    Image.new("RGB", (96, 128)).save(tmp_path / "pred" / "a.png")
    with pytest.raises(InputError, match=r"gt/a\.png: ground truth is 256x192; protocol pfafn never resizes it"):
        evaluate(match_folders(tmp_path / "pred", tmp_path / "gt"), load_protocol("pfafn"),
                 metrics=("ssim",), progress=False)  # fmt: skip
    with pytest.raises(InputError, match=r"pred/a\.png: prediction is 128x96; protocol hrviton evaluates only at "
                       r"1024x768, 512x384, 256x192"):  # fmt: skip
        evaluate(match_folders(tmp_path / "pred", tmp_path / "gt"), load_protocol("hrviton"),
                 metrics=("ssim",), progress=False)  # fmt: skip
    with pytest.raises(InputError, match=r"protocol pfafn: its source has no resolution switch"):
        evaluate(match_folders(tmp_path / "pred", tmp_path / "gt"), load_protocol("pfafn"),
                 metrics=("ssim",), progress=False, resolution="256x192")  # fmt: skip


def test_all_protocols_give_one_table(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for folder in ("pred", "gt"):
        (tmp_path / folder).mkdir()
    for i in range(3):
        gt = rng.integers(0, 256, (256, 192, 3), dtype=np.uint8)
        noisy = np.clip(gt.astype(int) + rng.integers(-20, 21, gt.shape), 0, 255).astype(np.uint8)
        Image.fromarray(gt).save(tmp_path / "gt" / f"{i}.png")
        Image.fromarray(noisy).save(tmp_path / "pred" / f"{i}.png")
    written, table = run_eval(tmp_path / "pred", tmp_path / "out", "all", gt=tmp_path / "gt",
                              metrics=("ssim", "psnr"), progress=False)  # fmt: skip
    for name in ("pfafn", "hrviton", "ladi", "catvton", "catvton-512"):
        assert f"| {name} |" in table
        assert (tmp_path / "out" / name / "summary.json").is_file()
    values = {n: json.loads((tmp_path / "out" / n / "summary.json").read_text())["metrics"]["ssim"]["mean"]
              for n in ("pfafn", "hrviton", "ladi")}  # fmt: skip
    assert len(set(values.values())) == 3  # the same images, three SSIM definitions and resolutions
    assert (tmp_path / "out" / "protocols.md") in written
    assert {tmp_path / "out" / "sensitivity.md", tmp_path / "out" / "sensitivity.csv"} <= set(written)
    assert "| SSIM form | ssim |" in (tmp_path / "out" / "sensitivity.md").read_text()


def test_extra_metrics_run_or_say_their_weights_are_absent(synthetic_root: Path, tmp_path: Path) -> None:
    _copy_persons(synthetic_root, tmp_path / "pred", "paired")
    protocol = load_protocol("pfafn")
    eval_set = match_dataset(tmp_path / "pred", "viton", synthetic_root, protocol)
    result = evaluate(eval_set, protocol, metrics=("ssim", "ms_ssim", "ssim_garment", "clip_sim"),
                      weights_dir=tmp_path / "empty", progress=False)  # fmt: skip
    entries = result.summary["metrics"]
    assert entries["ms_ssim"]["mean"] == pytest.approx(1.0) and entries["ssim_garment"]["mean"] == pytest.approx(1.0)
    assert entries["clip_sim"]["absent"].startswith("weights absent: vit_base_patch32_clip_224.openai.bin")
    assert "pftryon additions" in " ".join(result.summary["warnings"])
    assert "| CLIP-I similarity (pftryon addition) | n/a | weights absent" in summary_markdown(result.summary)
    with pytest.raises(InputError, match="parse maps"):
        evaluate(match_folders(tmp_path / "pred", tmp_path / "pred"), protocol, metrics=("ssim_outside",),
                 progress=False)  # fmt: skip


@pytest.mark.slow
def test_two_processes_give_the_single_process_summary(synthetic_root: Path, tmp_path: Path, weights_dir: Path) -> None:
    pred = tmp_path / "pred"
    _copy_persons(synthetic_root, pred, "paired")
    common = ["-m", "bench.cli", "eval", "--pred", str(pred), "--dataset", "viton", "--root", str(synthetic_root),
              "--protocol", "pfafn", "--weights-dir", str(weights_dir), "--allow-unofficial-weights",
              "--batch-size", "2", "--fid-resamples", "2", "--no-feature-cache"]  # fmt: skip
    single = CliRunner().invoke(main, [*common[2:], "--out", str(tmp_path / "one")])  # in process: one import less
    assert single.exit_code == 0, single.output
    with socket.socket() as probe:  # a free port (torchrun's --master-port 0 does not pick one)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", str(port)]
    double = subprocess.run([*torchrun, *common, "--out", str(tmp_path / "two")], cwd=REPO,
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert double.returncode == 0, double.stderr[-3000:]
    one = json.loads((tmp_path / "one" / "summary.json").read_text())
    two = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert two["run"]["processes"] == 2 and one["run"]["processes"] == 1
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "one" / "per_sample.csv"),
                                  pd.read_csv(tmp_path / "two" / "per_sample.csv"), rtol=1e-9)  # fmt: skip
    for name in ("ssim", "psnr", "lpips"):
        assert two["metrics"][name]["mean"] == pytest.approx(one["metrics"][name]["mean"], rel=1e-9)
        assert two["metrics"][name]["ci95"] == pytest.approx(one["metrics"][name]["ci95"], rel=1e-9)
    assert two["metrics"]["fid"]["value"] == pytest.approx(one["metrics"]["fid"]["value"], rel=1e-6)
    assert two["metrics"]["kid"]["mean"] == pytest.approx(one["metrics"]["kid"]["mean"], rel=1e-6, abs=1e-12)
    assert two["inputs"]["image_sets"] == one["inputs"]["image_sets"]


def test_video_frames_get_per_video_and_temporal_metrics(tmp_path: Path) -> None:
    root = tmp_path / "vvt"
    synthesize("vvt", root, n=4, size=(256, 192), seed=2, test_fraction=0.5, frames=4, progress=False)
    entries = create_dataset("vvt", root, split="test").entries
    for folder, static in (("same", False), ("static", True)):
        for entry in entries:  # nested output layout <pred>/<video>/<frame>.png
            target = tmp_path / folder / f"{entry.person_id}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            first = next(e for e in entries if e.extra["video_id"] == entry.extra["video_id"])
            shutil.copyfile((first if static else entry).files["person"], target)
    protocol = load_protocol("vvt")
    same = evaluate(match_dataset(tmp_path / "same", "vvt", root, protocol), protocol,
                    metrics=("ssim", "psnr", "tce", "flicker"), progress=False)  # fmt: skip
    assert [row["frames"] for row in same.video_rows] == [4, 4]
    assert all(row["tce"] == 0.0 and row["psnr"] == 100.0 for row in same.video_rows)
    assert same.summary["metrics"]["ssim"]["n"] == 2  # CatV2TON: per-video means, then over videos
    static = evaluate(match_dataset(tmp_path / "static", "vvt", root, protocol), protocol,
                      metrics=("ssim", "tce", "flicker"), progress=False)  # fmt: skip
    assert all(row["tce"] > 0 and row["transitions"] == 3 for row in static.video_rows)
    assert static.summary["metrics"]["tce"]["n"] == 2  # videos are the units of the interval
    written = run_eval(tmp_path / "same", tmp_path / "out", "vvt", dataset="vvt", root=root,
                       metrics=("ssim", "tce"), progress=False)[0]  # fmt: skip
    assert tmp_path / "out" / "per_video.csv" in written
    with pytest.raises(InputError, match="need video frames"):
        evaluate(match_folders(tmp_path / "same", tmp_path / "same"), protocol, metrics=("tce",), progress=False)


def test_shards_are_contiguous_and_keep_videos_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    import bench.runtime as E

    videos = ["a"] * 3 + ["b"] * 4 + ["c"] * 1
    blocks = []
    for rank in range(2):
        monkeypatch.setattr(E, "_world", lambda rank=rank: (rank, 2))
        blocks.append(E._shard(len(videos), videos))
        assert E._shard(5) == (range(0, 2) if rank == 0 else range(2, 5))
    assert blocks == [range(0, 7), range(7, 8)]
    monkeypatch.setattr(E, "_world", lambda: (0, 3))
    with pytest.raises(InputError, match="cannot split 8 item"):
        E._shard(len(videos), ["a"] * 8)


def test_every_file_is_decoded_once(synthetic_root: Path, tmp_path: Path, weights_dir: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    import bench.eval.decoding as D
    import bench.eval.runner as E

    _copy_persons(synthetic_root, tmp_path / "pred", "paired")
    reads: list[Path] = []
    original = D._Files.__getitem__
    monkeypatch.setattr(D._Files, "__getitem__", lambda self, i: reads.append(self.files[i]) or original(self, i))
    counted = {"total": None, "updates": 0}

    class Bar(E.tqdm):  # counts even when disabled
        def __init__(self, **kwargs: object) -> None:
            super().__init__(**kwargs)
            counted["total"] = kwargs["total"]

        def update(self, n: int = 1) -> None:
            counted["updates"] += n
            super().update(n)

    monkeypatch.setattr(E, "tqdm", Bar)
    shutil.copytree(tmp_path / "pred", tmp_path / "gt")
    eval_set = match_folders(tmp_path / "pred", tmp_path / "gt")
    result = evaluate(eval_set, load_protocol("pfafn"), weights_dir=weights_dir, fid_resamples=0, progress=False,
                      allow_unofficial_weights=True)  # fmt: skip
    assert sorted(reads) == sorted([p for _, p, _ in eval_set.pairs] + [g for _, _, g in eval_set.pairs])
    assert counted["total"] == counted["updates"] == len(eval_set.pairs), "the progress bar counts what is decoded"
    assert result.summary["metrics"]["fid"]["n_fake"] == 5 and result.summary["metrics"]["fid"]["value"] < 1e-6


def test_matching_is_counted_and_a_partial_folder_needs_allow_partial(synthetic_root: Path, tmp_path: Path) -> None:
    written = _copy_persons(synthetic_root, tmp_path / "pred", "paired")
    written[1].unlink()
    Image.new("RGB", (192, 256)).save(tmp_path / "pred" / "stray.png")  # not in the list
    protocol = load_protocol("pfafn")
    with pytest.raises(InputError, match=r"pred: no prediction for 1 of 5 paired pairs \(first: .*--allow-partial"):
        match_dataset(tmp_path / "pred", "viton", synthetic_root, protocol)
    eval_set = match_dataset(tmp_path / "pred", "viton", synthetic_root, protocol, allow_partial=True)
    result = evaluate(eval_set, protocol, metrics=("ssim",), progress=False)
    matching = result.summary["inputs"]["matching"]
    assert matching["pair_list"] == "viton paired test list" and matching["listed"] == 5 and matching["matched"] == 4
    assert matching["predictions_found"] == 5 and matching["references_found"] == 5
    assert matching["unmatched"]["count"] == 1 and matching["scored_fraction"] == pytest.approx(0.8)
    assert matching["extra_predictions"] == {"count": 1, "first": ["stray.png"]}
    assert len(result.rows) == 4 and len(eval_set.real) == 5  # the FID reference set stays the whole list
    warnings = result.summary["warnings"]
    assert any("partial prediction folder: 4 of 5 listed pairs scored (80.0%" in w for w in warnings)
    assert any(
        "1 prediction(s) not in viton paired test list were not scored (first: stray.png)" in w for w in warnings
    )
    markdown = summary_markdown(result.summary)
    assert "## Matching" in markdown and "4 of 5 listed pairs matched (80.0% scored)" in markdown
    # Folder mode: the reference folder is the list.
    shutil.copytree(tmp_path / "pred", tmp_path / "gt")
    (tmp_path / "pred" / "stray.png").unlink()
    args = ["eval", "--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt"), "--protocol", "pfafn",
            "--metrics", "ssim", "--out", str(tmp_path / "out")]  # fmt: skip
    refused = CliRunner().invoke(main, args)
    assert refused.exit_code == 2 and "no prediction for 1 of 5 references" in refused.output
    assert CliRunner().invoke(main, [*args, "--allow-partial"]).exit_code == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["inputs"]["matching"]["scored_fraction"] == pytest.approx(0.8)
    refused = CliRunner().invoke(main, [*args, "--allow-partial", "--overwrite", "--protocol", "hrviton",
                                        "--resolution", "512x384"])  # fmt: skip
    assert refused.exit_code == 2 and "prediction is 256x192; protocol hrviton evaluates at 512x384" in refused.output


def test_hrviton_fid_is_labelled_a_pftryon_addition(tmp_path: Path, inception_weights_dir: Path) -> None:
    for folder in ("pred", "gt"):
        (tmp_path / folder).mkdir()
    rng = np.random.default_rng(1)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (256, 192, 3), dtype=np.uint8)).save(tmp_path / "gt" / f"{i}.png")
        Image.fromarray(rng.integers(0, 256, (256, 192, 3), dtype=np.uint8)).save(tmp_path / "pred" / f"{i}.png")
    eval_set = match_folders(tmp_path / "pred", tmp_path / "gt")
    result = evaluate(eval_set, load_protocol("hrviton"), metrics=("ssim", "fid"), weights_dir=inception_weights_dir,
                      fid_resamples=0, progress=False)  # fmt: skip
    assert "FID: pftryon additions, not computed by the protocol's source" in result.summary["warnings"]
    assert "| FID (pftryon addition) |" in summary_markdown(result.summary)
    assert tuple(result.summary["protocol"]["additions"]) == ("fid", "kid")
