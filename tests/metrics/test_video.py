"""Tests of bench.metrics.video: temporal errors on hand-computed cases, per-video grouping of streamed frames, VFID.

The LPIPS trunk and the R3D-18 weights are random files written by the tests: code paths only.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from bench.metrics import functional as MF
from bench.metrics import weights as W
from bench.metrics.video import (
    R3D18VideoFeatures,
    VideoFID,
    VideoMetrics,
    colour_flicker_error,
    temporal_change_error,
    video_code,
)


def _video(seed: int, frames: int, size: tuple[int, int] = (16, 12)) -> torch.Tensor:
    """A random video [T, 3, H, W] in [0, 1] (float64)."""
    return torch.rand(frames, 3, *size, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _constant(*levels: float) -> torch.Tensor:
    """A video of constant 3x2x2 frames at the given levels."""
    return torch.tensor(levels, dtype=torch.float64).view(-1, 1, 1, 1).expand(-1, 3, 2, 2)


# ---------------------------------------------------------------------------------------------------------------------
# Functional


def test_temporal_errors_hand_computed() -> None:
    # Constant frames: each transition's change is a single number, so both errors equal |dp - dg|.
    gt, pred = _constant(0.2, 0.5, 0.5), _constant(0.2, 0.2, 0.6)  # dg = 0.3, 0; dp = 0, 0.4
    expected = torch.tensor([0.3, 0.4], dtype=torch.float64)
    assert torch.allclose(temporal_change_error(pred, gt), expected, atol=1e-15)
    assert torch.allclose(colour_flicker_error(pred, gt), expected, atol=1e-15)
    # Half the pixels change by +0.1 more than the ground truth, half by -0.1: TCE 0.1, no colour flicker.
    gt = torch.full((2, 3, 2, 2), 0.5, dtype=torch.float64)
    pred = gt.clone()
    pred[1, :, 0] += 0.1
    pred[1, :, 1] -= 0.1
    assert torch.allclose(temporal_change_error(pred, gt), torch.tensor([0.1], dtype=torch.float64), atol=1e-15)
    assert torch.allclose(colour_flicker_error(pred, gt), torch.zeros(1, dtype=torch.float64), atol=1e-15)
    # Only the red channel brightens by 0.3: both errors average it over the 3 channels.
    pred = gt.clone()
    pred[1, 0] += 0.3
    assert torch.allclose(temporal_change_error(pred, gt), torch.tensor([0.1], dtype=torch.float64), atol=1e-15)
    assert torch.allclose(colour_flicker_error(pred, gt), torch.tensor([0.1], dtype=torch.float64), atol=1e-15)


def test_identical_and_offset_videos_have_no_temporal_error() -> None:
    gt = _video(0, 5) * 0.5
    for pred in (gt, gt + 0.3):  # a constant offset changes exactly like the ground truth
        assert torch.allclose(temporal_change_error(pred, gt), torch.zeros(4, dtype=torch.float64), atol=1e-15)
        assert torch.allclose(colour_flicker_error(pred, gt), torch.zeros(4, dtype=torch.float64), atol=1e-15)


def test_static_prediction_scores_the_ground_truth_change() -> None:
    gt = _video(1, 4)
    static = gt[:1].expand_as(gt)
    change = (gt[1:] - gt[:-1]).abs().mean(dim=(1, 2, 3))
    assert torch.allclose(temporal_change_error(static, gt), change, atol=1e-15)
    assert torch.allclose(colour_flicker_error(static, gt), (gt[1:] - gt[:-1]).mean(dim=(2, 3)).abs().mean(1))


def test_temporal_error_ranges_and_inputs() -> None:
    pred, gt = _video(2, 6), _video(3, 6)
    tce, flicker = temporal_change_error(pred, gt), colour_flicker_error(pred, gt)
    assert tce.shape == flicker.shape == (5,) and tce.dtype == torch.float64
    assert (flicker >= 0).all() and (flicker <= tce + 1e-15).all() and (tce <= 2).all()
    extreme = _constant(0.0, 1.0, 0.0)
    assert torch.allclose(temporal_change_error(1 - extreme, extreme), torch.full((2,), 2.0, dtype=torch.float64))
    with pytest.raises(ValueError, match="at least 2 frames"):
        temporal_change_error(pred[:1], gt[:1])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        temporal_change_error(pred * 2 - 1, gt)


# ---------------------------------------------------------------------------------------------------------------------
# VideoMetrics: streaming and grouping


def _stream(metric: VideoMetrics, videos: dict[str, tuple[torch.Tensor, torch.Tensor]], batch: int) -> None:
    """Feed the videos' frames in order, ``batch`` frames per update (batches straddle videos)."""
    preds = torch.cat([p for p, _ in videos.values()])
    target = torch.cat([g for _, g in videos.values()])
    ids = [name for name, (p, _) in videos.items() for _ in range(len(p))]
    indices = [t for p, _ in videos.values() for t in range(len(p))]
    for start in range(0, len(preds), batch):
        stop = start + batch
        metric.update(preds[start:stop], target[start:stop], ids[start:stop], torch.tensor(indices[start:stop]))


@pytest.fixture(scope="module")
def videos() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Three videos of 4, 1 and 5 frames: (prediction, ground truth), in [0, 1]; "z-last" comes first in the stream."""
    out = {}
    for k, (name, frames) in enumerate((("z-last", 4), ("single", 1), ("a-first", 5))):
        gt = _video(10 + k, frames)
        out[name] = ((gt * 0.8 + 0.2 * _video(20 + k, frames)), gt)
    return out


def test_per_video_grouping_matches_functional(videos) -> None:
    metric = VideoMetrics(frame_metrics=("ssim", "psnr"), ssim_variant="pytorch_ssim")
    _stream(metric, videos, batch=3)
    result = metric.compute()
    assert result["video_ids"] == ["z-last", "single", "a-first"]  # order of first appearance, not sorted
    per_video = result["per_video"]
    assert per_video["frames"].tolist() == [4, 1, 5] and per_video["transitions"].tolist() == [3, 0, 4]
    for slot, (pred, gt) in enumerate(videos.values()):
        assert per_video["ssim"][slot] == pytest.approx(float(MF.ssim_pytorch_ssim(pred, gt).mean()), abs=1e-12)
        assert per_video["psnr"][slot] == pytest.approx(float(MF.psnr(pred, gt).mean()), abs=1e-9)
        if len(pred) > 1:
            assert per_video["tce"][slot] == pytest.approx(float(temporal_change_error(pred, gt).mean()), abs=1e-12)
            assert per_video["flicker"][slot] == pytest.approx(float(colour_flicker_error(pred, gt).mean()), abs=1e-12)
    assert torch.isnan(per_video["tce"][1]) and torch.isnan(per_video["flicker"][1])
    all_tce = torch.cat([temporal_change_error(p, g) for p, g in videos.values() if len(p) > 1])
    assert float(result["overall"]["tce"]) == pytest.approx(float(all_tce.mean()), abs=1e-12)
    all_ssim = torch.cat([MF.ssim_pytorch_ssim(p, g) for p, g in videos.values()])
    assert float(result["overall"]["ssim"]) == pytest.approx(float(all_ssim.mean()), abs=1e-12)


def test_streaming_is_batch_size_independent(videos) -> None:
    results = []
    for batch in (1, 4, 10):
        metric = VideoMetrics(frame_metrics=("psnr",))
        _stream(metric, videos, batch)
        results.append(metric.compute())
    for other in results[1:]:
        assert other["video_ids"] == results[0]["video_ids"]
        for name, values in results[0]["per_video"].items():
            assert torch.allclose(other["per_video"][name], values, equal_nan=True, rtol=0, atol=1e-15), name


def test_identical_videos_score_perfectly(videos) -> None:
    metric = VideoMetrics(frame_metrics=("ssim", "psnr"), ssim_variant="skimage_rgb")
    same = {name: (gt, gt) for name, (_, gt) in videos.items() if name != "single"}
    _stream(metric, same, batch=4)
    result = metric.compute()
    assert torch.allclose(result["per_video"]["ssim"], torch.ones(2, dtype=torch.float64))
    assert torch.equal(result["per_video"]["psnr"], torch.full((2,), 100.0, dtype=torch.float64))
    assert torch.equal(result["per_video"]["tce"], torch.zeros(2, dtype=torch.float64))
    assert float(result["overall"]["flicker"]) == 0.0


@pytest.mark.filterwarnings("ignore:The ``compute`` method of metric VideoMetrics was called before")
def test_stream_errors_and_reset(videos) -> None:
    pred, gt = videos["a-first"]
    metric = VideoMetrics(frame_metrics=("psnr",))
    with pytest.raises(ValueError, match="frame 2 follows frame 0"):
        metric.update(pred[:2], gt[:2], ["v", "v"], [0, 2])
    metric.reset()
    metric.update(pred[:2], gt[:2], ["v", "v"], [0, 1])
    with pytest.raises(ValueError, match="frame 1 follows frame 1"):  # a repeated frame
        metric.update(pred[1:2], gt[1:2], ["v"], [1])
    metric.update(pred[:1], gt[:1], ["w"], [0])
    with pytest.raises(ValueError, match="comes back after other videos"):
        metric.update(pred[2:3], gt[2:3], ["v"], [2])
    assert metric.compute()["per_video"]["frames"].tolist() == [2, 1]  # failed updates left no trace
    with pytest.raises(ValueError, match="video ids and frame indices"):
        metric.update(pred[:2], gt[:2], ["v"], [0, 1])
    with pytest.raises(TypeError, match="call update"):
        metric(pred[:2], gt[:2], ["x", "x"], [0, 1])
    with pytest.raises(ValueError, match="Unknown frame metrics"):
        VideoMetrics(frame_metrics=("fid",))
    metric.reset()
    with pytest.raises(ValueError, match="call update"):
        metric.compute()
    metric.update(pred[:2], gt[:2], ["v", "v"], [0, 1])  # a new pass after reset
    assert int(metric.compute()["per_video"]["transitions"]) == 1  # one video: torchmetrics returns 0-d tensors


def test_states_merge_like_ddp(videos) -> None:
    """Two processes, one video each: "cat" states merge; the other process's id is shown as its code."""
    ranks = [VideoMetrics(frame_metrics=("psnr",)) for _ in range(2)]
    for metric, name in zip(ranks, ("z-last", "a-first"), strict=True):
        _stream(metric, {name: videos[name]}, batch=2)
    ranks[0].merge_state(ranks[1])
    result = ranks[0].compute()
    slots = {name: slot for slot, name in enumerate(result["video_ids"])}
    assert set(slots) == {"z-last", f"{video_code('a-first'):016x}"}
    for name, key in (("z-last", "z-last"), ("a-first", f"{video_code('a-first'):016x}")):
        pred, gt = videos[name]
        assert int(result["per_video"]["transitions"][slots[key]]) == len(pred) - 1
        tce = float(temporal_change_error(pred, gt).mean())
        assert float(result["per_video"]["tce"][slots[key]]) == pytest.approx(tce, abs=1e-12)


@pytest.fixture(scope="module")
def squeeze_weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random SqueezeNet 1.1 trunk under torchvision's file name (the smallest LPIPS trunk)."""
    from torchvision.models import squeezenet1_1

    folder = tmp_path_factory.mktemp("squeeze_weights")
    torch.manual_seed(0)
    torch.save(squeezenet1_1(weights=None).state_dict(), folder / W.WEIGHTS["squeeze"].filename)
    return folder


def test_lpips_frames_and_describe(squeeze_weights_dir: Path) -> None:
    gt = _video(6, 3, size=(64, 48)).float()
    pred = (gt + 0.1 * _video(7, 3, size=(64, 48)).float()).clamp(0, 1)
    metric = VideoMetrics(frame_metrics=("lpips", "ssim"), lpips_net="squeeze", weights_dir=squeeze_weights_dir)
    metric.update(pred, gt, ["v"] * len(pred), range(len(pred)))
    result = metric.compute()
    expected = MF.lpips(pred, gt, net="squeeze", model=metric.scorers["lpips"].model)
    assert float(result["per_video"]["lpips"]) == pytest.approx(float(expected.mean()), rel=1e-6)
    info = metric.describe()
    json.dumps(info)
    assert list(info["frame_metrics"]) == ["ssim", "lpips"]
    assert info["frame_metrics"]["lpips"]["backbone"] == "squeeze"
    assert info["temporal"]["tce"]["higher_is_better"] is False


# ---------------------------------------------------------------------------------------------------------------------
# VideoFID (random R3D-18 weights written by the test)


@pytest.fixture(scope="module")
def r3d_weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from torchvision.models.video import r3d_18

    folder = tmp_path_factory.mktemp("r3d_weights")
    torch.manual_seed(0)
    torch.save(r3d_18(weights=None).state_dict(), folder / W.WEIGHTS["r3d_18"].filename)
    return folder


def test_video_fid_from_written_weights(r3d_weights_dir: Path) -> None:
    video = _video(5, 5, size=(32, 24)).float()
    metric = VideoFID(weights_dir=r3d_weights_dir, clip_len=2, fid_method="spectral")
    metric.update(video, real=True)  # 5 frames: 2 clips, the last frame dropped
    metric.update(video[:2], real=True)
    metric.update(video[:1], real=True)  # shorter than a clip: nothing
    metric.update(video.flip(0), real=False)
    metric.update(video[:2], real=False)
    real, fake = metric.features(real=True), metric.features(real=False)
    assert real.shape == fake.shape == (3, 512) and real.std() > 0
    assert torch.allclose(real[2], fake[2])
    assert float(metric.compute()["fid"]) > 0
    info = metric.describe()
    json.dumps(info)
    assert info["metric"] == "vfid_r3d18" and "not the VFID (I3D)" in info["comparable_with"]
    assert info["clip_len"] == 2 and info["weights"]["file"] == "r3d_18-b3b3357e.pth"
    assert "torchvision" in info["libraries"]
    with pytest.raises(ValueError, match="uint8 video"):
        metric.extractor(video)


def test_video_weights_missing_and_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from torchvision.models.video import R3D_18_Weights

    assert W.WEIGHTS["r3d_18"].url == R3D_18_Weights.KINETICS400_V1.url
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(W.MissingWeightsError, match="r3d_18-b3b3357e.pth"):
        R3D18VideoFeatures(tmp_path / "none")
    with pytest.raises(ValueError, match="clip_len"):
        R3D18VideoFeatures(tmp_path, clip_len=0)
