"""Tests of the video Fréchet distances (bench.metrics.video_fid, .video_backbones, .i3d, .resnext3d, .videomae).

Weights are random stand-ins written by the tests under the official file names: they exercise the real loading
path (strict state dicts, the sha256 pin, train/eval mode), never the published numbers. Known answers: identical
sets give 0; a brightness-shifted set scores more than a slightly noisy one; the 1-D Fréchet distance by hand.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

from bench.metrics import weights as W
from bench.metrics.i3d import InceptionI3D
from bench.metrics.video_backbones import PRESETS, ClipEmbedder
from bench.metrics.video_fid import (
    ClipSampling,
    VideoFrechetDistance,
    frechet_from_clip_features,
    video_frechet_distance,
)
from bench.metrics.videomae import VideoMAEConfig, VideoMAEEncoder

pytestmark = pytest.mark.usefixtures("one_thread")

TINY_VIT = VideoMAEConfig(dim=32, depth=1, heads=2, mlp_dim=64, num_classes=174)


def _he_init(model: nn.Module, seed: int) -> nn.Module:
    """He-normal convolutions and linears (the default init makes deep features vanish), fixed by ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.Conv3d | nn.Linear):
            fan_in = module.weight[0].numel()
            module.weight.data = torch.randn(module.weight.shape, generator=generator) * (2 / fan_in) ** 0.5
    return model


def _video(seed: int, frames: int, size: tuple[int, int] = (32, 24)) -> Tensor:
    """A smooth moving pattern in [0.1, 0.7] (so a +0.3 brightness shift stays in [0, 1]): ``[T, 3, H, W]``."""
    generator = torch.Generator().manual_seed(seed)
    base = torch.rand(1, 3, size[0] // 4, size[1] // 4, generator=generator)
    base = nn.functional.interpolate(base, size=size, mode="bilinear", align_corners=False)
    return torch.cat([torch.roll(base, shifts=t, dims=-1) for t in range(frames)]) * 0.6 + 0.1


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Stand-in VFID I3D, FVD I3D and a tiny VideoMAE, each under its official file name and layout."""
    folder = tmp_path_factory.mktemp("video_fid_weights")
    torch.save(_he_init(InceptionI3D(400, bn_eps=1e-3, pool_frames=1), 0).state_dict(), folder / "i3d.pt")
    torch.save(_he_init(InceptionI3D(400, bn_eps=1e-5, pool_frames=2), 1).state_dict(),
               folder / W.WEIGHTS["i3d_fvd"].filename)  # fmt: skip
    vit = _he_init(VideoMAEEncoder(TINY_VIT), 2).state_dict()
    torch.save({"model": vit}, folder / W.WEIGHTS["videomae_vitg"].filename)  # as released: under "model"
    return folder


@pytest.fixture(scope="module")
def vfid_embedder(weights_dir: Path) -> ClipEmbedder:
    return ClipEmbedder("vfid_i3d", weights_dir)


class _ClipStats(nn.Module):
    """A weight-free stand-in embedder for the streaming tests: per-channel mean and std over each clip (6-d)."""

    preset = PRESETS["vfid_i3d"]

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, clips: Tensor) -> Tensor:
        self.calls += 1
        x = clips.double() / 255
        return torch.cat([x.mean(dim=(1, 3, 4)), x.std(dim=(1, 3, 4))], dim=1)

    def describe(self) -> dict[str, str]:
        return {"backbone": "clip statistics (test)"}


# ---------------------------------------------------------------------------------------------------------------------
# Sampling and the Fréchet core (no network)


def test_clip_sampling_rules() -> None:
    assert ClipSampling(10, "consecutive").clips(25) == [(0, 1), (10, 1)]  # tail of 5 unused
    assert ClipSampling(10, "consecutive").clips(30) == [(0, 1), (10, 1), (20, 1)]
    assert ClipSampling(10, "catv2ton").clips(25) == [(0, 2)]  # CatV2TON: the first clip, floor(T / L) times
    assert ClipSampling(10, "catv2ton").clips(9) == ClipSampling(10, "consecutive").clips(9) == []
    assert "frame 0" in ClipSampling(16, "consecutive").describe()["text"]
    with pytest.raises(ValueError, match="rule"):
        ClipSampling(10, "random")  # type: ignore[arg-type]


def test_frechet_core_known_answers() -> None:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(40, 5, generator=generator, dtype=torch.float64)
    assert frechet_from_clip_features(x, x) == pytest.approx(0.0, abs=1e-9)
    # One varying coordinate (the other constant): (mu_r - mu_f)^2 + (sd_r - sd_f)^2, sd of each estimator.
    real = torch.tensor([[0.0, 1], [1, 1], [2, 1], [3, 1]], dtype=torch.float64)  # mean 1.5, sum of squares 5
    fake = torch.tensor([[1.0, 1], [5, 1]], dtype=torch.float64)  # mean 3, sum of squares 8
    unbiased = (3 - 1.5) ** 2 + ((5 / 3) ** 0.5 - 8**0.5) ** 2
    population = (3 - 1.5) ** 2 + ((5 / 4) ** 0.5 - (8 / 2) ** 0.5) ** 2
    assert frechet_from_clip_features(real, fake) == pytest.approx(unbiased, rel=1e-9)
    assert frechet_from_clip_features(real, fake, covariance="population") == pytest.approx(population, rel=1e-9)
    y = torch.randn(50, 5, generator=generator, dtype=torch.float64) * 2 + 1  # non-singular: sqrtm agrees
    assert frechet_from_clip_features(x, y, method="sqrtm") == pytest.approx(frechet_from_clip_features(x, y))
    # A weight repeats a clip: the same as repeating its row.
    weights = torch.tensor([3, 1, 2, 1])
    repeated = real.repeat_interleave(weights, dim=0)
    assert frechet_from_clip_features(real, fake, weights) == pytest.approx(frechet_from_clip_features(repeated, fake))
    with pytest.raises(ValueError, match="covariance"):
        frechet_from_clip_features(real, fake, covariance="biased")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------------------------
# Streaming, weights per video, distributed merge (stand-in embedder)


def _stream(metric: VideoFrechetDistance, videos: dict[str, Tensor], real: bool, batch: int) -> None:
    frames = torch.cat(list(videos.values()))
    ids = [name for name, video in videos.items() for _ in range(len(video))]
    indices = [t for video in videos.values() for t in range(len(video))]
    for start in range(0, len(frames), batch):
        stop = start + batch
        metric.update(frames[start:stop], real=real, video_ids=ids[start:stop], frame_indices=indices[start:stop])


def test_streaming_is_batch_size_independent_and_weights_follow_the_rule() -> None:
    real = {"a": _video(0, 25), "b": _video(1, 12), "short": _video(2, 7)}
    fake = {"c": _video(3, 20), "d": _video(4, 31)}
    values = {}
    for rule in ("catv2ton", "consecutive"):
        results = []
        for batch in (1, 4, 100):
            metric = VideoFrechetDistance(embedder=_ClipStats(), sampling=rule)
            _stream(metric, real, True, batch)
            _stream(metric, fake, False, batch)
            results.append({k: float(v) for k, v in metric.compute().items()})
        assert results[0] == results[1] == results[2], rule
        values[rule] = results[0]
    catv2ton, consecutive = values["catv2ton"], values["consecutive"]
    assert (catv2ton["n_real"], catv2ton["real_clips"]) == (2 + 1, 2)  # a: 2 x first clip, b: 1, short: none
    assert (consecutive["n_real"], consecutive["real_clips"]) == (3, 3)  # a: 0-9, 10-19; b: 0-9
    assert (catv2ton["n_fake"], consecutive["n_fake"], consecutive["fake_clips"]) == (5, 5, 5)
    assert catv2ton["real_videos"] == 3 and catv2ton["real_videos_without_clip"] == 1
    assert catv2ton["value"] != consecutive["value"]  # later clips of "a" and "d" count only in "consecutive"
    # The value equals the core on features computed clip by clip, as each rule says.
    stats = _ClipStats()

    def features(videos: dict[str, Tensor], rule: str) -> tuple[Tensor, Tensor]:
        rows, weights = [], []
        for video in videos.values():
            for start, weight in ClipSampling(10, rule).clips(len(video)):  # type: ignore[arg-type]
                clip = (video[start : start + 10] * 255 + 0.5).floor().to(torch.uint8)
                rows.append(stats(clip[None]))
                weights.append(weight)
        return torch.cat(rows), torch.tensor(weights)

    for rule, result in values.items():
        (real_x, real_w), (fake_x, fake_w) = features(real, rule), features(fake, rule)
        expected = frechet_from_clip_features(real_x, fake_x, real_w, fake_w)
        assert result["value"] == pytest.approx(expected, rel=1e-12), rule


def test_states_merge_like_ddp() -> None:
    videos = {name: _video(seed, 20) for seed, name in enumerate("abcd")}
    single = VideoFrechetDistance(embedder=_ClipStats())
    _stream(single, {k: videos[k] for k in "ab"}, True, 7)
    _stream(single, {k: videos[k] for k in "cd"}, False, 7)
    ranks = [VideoFrechetDistance(embedder=_ClipStats()) for _ in range(2)]
    for metric, (real, fake) in zip(ranks, (("a", "c"), ("b", "d")), strict=True):
        _stream(metric, {real: videos[real]}, True, 5)
        _stream(metric, {fake: videos[fake]}, False, 5)
    ranks[0].merge_state(ranks[1])
    assert float(ranks[0].compute()["value"]) == pytest.approx(float(single.compute()["value"]), rel=1e-12)


@pytest.mark.filterwarnings("ignore:The ``compute`` method of metric VideoFrechetDistance was called before")
def test_stream_errors_and_reset() -> None:
    video = _video(0, 12)
    metric = VideoFrechetDistance(embedder=_ClipStats())
    with pytest.raises(ValueError, match="frame 3 where frame 0 was expected"):
        metric.update(video[:2], real=True, video_ids=["v", "v"], frame_indices=[3, 4])
    metric.update(video[:2], real=True, video_ids=["v", "v"], frame_indices=[0, 1])
    with pytest.raises(ValueError, match="frame 3 where frame 2"):
        metric.update(video[2:3], real=True, video_ids=["v"], frame_indices=[3])
    metric.update(video[:1], real=True, video_ids=["w"], frame_indices=[0])
    with pytest.raises(ValueError, match="comes back after other videos"):
        metric.update(video[2:3], real=True, video_ids=["v"], frame_indices=[2])
    with pytest.raises(ValueError, match="needs frame_indices"):
        metric.update(video[:2], real=False, video_ids=["x", "x"])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        metric.update(video * 2 - 1, real=False)
    with pytest.raises(ValueError, match="at least 2 clips of 10 frames per set, have real 0, fake 0"):
        metric.compute()
    with pytest.raises(TypeError, match="call update"):
        metric(video, real=True)
    metric.reset()
    metric.update(video[:10], real=True)  # after reset "v" may start again: a new pass
    metric.update(video[:10], real=True, video_ids=["v"] * 10, frame_indices=range(10))
    metric.update(video[:10].flip(0), real=False)
    metric.update(video[:10], real=False)
    assert float(metric.compute()["n_real"]) == 2


# ---------------------------------------------------------------------------------------------------------------------
# The I3D VFID end to end on stand-in weights


def test_vfid_i3d_known_answers(vfid_embedder: ClipEmbedder) -> None:
    real = [_video(10, 10), _video(11, 10)]
    # Identical sets (in another order), through the functional twin of the metric: 0.
    assert video_frechet_distance(real, real[::-1], embedder=vfid_embedder) == pytest.approx(0.0, abs=1e-6)
    # One embedding per set, then the core: a brightness shift moves the features more than slight noise.
    generator = torch.Generator().manual_seed(5)

    def embed(videos: list[Tensor]) -> Tensor:
        return vfid_embedder(torch.stack([(v * 255 + 0.5).floor().to(torch.uint8) for v in videos])).double()

    features = {
        "real": embed(real),
        "shifted": embed([v + 0.3 for v in real]),
        "noisy": embed([(v + 0.01 * torch.randn(v.shape, generator=generator)).clamp(0, 1) for v in real]),
    }
    shifted = frechet_from_clip_features(features["real"], features["shifted"])
    noisy = frechet_from_clip_features(features["real"], features["noisy"])
    assert shifted > 10 * noisy > 0


def test_vfid_i3d_is_deterministic_and_batch_independent(weights_dir: Path, vfid_embedder: ClipEmbedder) -> None:
    clips = torch.stack([(_video(s, 10) * 255).to(torch.uint8) for s in (20, 21)])
    first = vfid_embedder(clips)
    assert first.shape == (2, 1024) and torch.isfinite(first).all() and first.std() > 0
    assert torch.equal(vfid_embedder(clips), first)
    one_by_one = ClipEmbedder("vfid_i3d", weights_dir, batch_size=1)
    assert torch.allclose(one_by_one(clips), first, rtol=1e-5, atol=1e-6)
    # BGR order, as CatV2TON reads frames: the same clips in RGB give other features.
    rgb = ClipEmbedder(dataclasses.replace(PRESETS["vfid_i3d"], bgr=False), weights_dir)
    assert not torch.allclose(rgb(clips), first, atol=1e-4)


def test_train_and_eval_mode_differ_and_are_recorded(weights_dir: Path, vfid_embedder: ClipEmbedder) -> None:
    clips = torch.stack([(_video(s, 10) * 255).to(torch.uint8) for s in (30, 31)])
    train = ClipEmbedder("vfid_i3d", weights_dir, mode="train")
    trained = train(clips)
    assert not torch.allclose(trained, vfid_embedder(clips), atol=1e-4)
    assert torch.allclose(train(clips[:1]), trained[:1], rtol=1e-5, atol=1e-6)  # each clip normalised alone
    train.train(False)
    nn.Sequential(train).eval()  # a parent switching modes does not change the constructed mode
    assert torch.allclose(train(clips), trained, rtol=1e-5, atol=1e-6)
    loaded = torch.load(weights_dir / "i3d.pt", weights_only=True)
    running = {k: v for k, v in train.net.state_dict().items() if "running" in k}
    assert all(torch.equal(v, loaded[k]) for k, v in running.items())  # running statistics left as loaded
    metric = VideoFrechetDistance(embedder=train)
    info = metric.describe()
    json.dumps(info)
    assert info["features"]["mode"] == "train" and "each clip's own statistics" in info["features"]["mode_meaning"]
    assert vfid_embedder.describe()["mode"] == "eval"
    assert info["sampling"]["rule"] == "catv2ton" and info["sampling"]["clip_length"] == 10
    assert info["covariance"] == "unbiased" and info["features"]["channels"] == "BGR"
    assert info["features"]["weights"]["file"] == "i3d.pt" and info["features"]["weights"]["sha256_pinned"] is None
    with pytest.raises(ValueError, match="mode must be one of"):
        ClipEmbedder("vfid_i3d", weights_dir, mode="training")  # type: ignore[arg-type]


def test_summary_entry(vfid_embedder: ClipEmbedder) -> None:
    from bench.metrics.specs import metric_spec

    metric = VideoFrechetDistance(embedder=vfid_embedder)
    for seed in (40, 41):
        metric.update(_video(seed, 20), real=True)
        metric.update(_video(seed + 10, 20), real=False)
    entry = metric.summary()
    assert entry["n_real"] == entry["n_fake"] == 4 and entry["real_clips"] == 2 and entry["dims"] == 1024
    assert "singular" in entry["warning"] and entry["how"]["metric"] == "vfid_i3d"
    row = metric_spec("vfid_i3d").result_row(entry)
    assert row["value"] == entry["value"] > 0 and row["n"] == 4


# ---------------------------------------------------------------------------------------------------------------------
# Weights: missing file, sha256 pin, the other backbones


def test_missing_weights_name_the_file_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))
    files = {"vfid_i3d": "i3d.pt", "vfid_resnext": "resnext-101.pth", "fvd": "vit_g_hybrid_pt_1200e_ssv2_ft.pth",
             "fvd_i3d": "i3d_pretrained_400.pt"}  # fmt: skip
    for preset, file in files.items():
        with pytest.raises(W.MissingWeightsError) as err:
            VideoFrechetDistance(preset, weights_dir=tmp_path / "none")
        message = str(err.value)
        assert "\n" not in message and message.startswith(f"{file} not found")
        assert f"pftryon weights fetch --names {PRESETS[preset].backbone}" in message


def test_sha256_pin_is_enforced(weights_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = W.WEIGHTS["i3d_vfid"]
    actual = W.file_sha256(weights_dir / "i3d.pt")
    monkeypatch.setitem(W.WEIGHTS, "i3d_vfid", dataclasses.replace(spec, sha256=actual))
    info = ClipEmbedder("vfid_i3d", weights_dir).describe()["weights"]
    assert info["sha256_pinned"] == actual and info["sha256_matches_pin"] is True
    monkeypatch.setitem(W.WEIGHTS, "i3d_vfid", dataclasses.replace(spec, sha256="0" * 64))
    with pytest.raises(W.UnofficialWeightsError, match=r"i3d\.pt.*not the pinned 000000000000"):
        ClipEmbedder("vfid_i3d", weights_dir)
    embedder = ClipEmbedder("vfid_i3d", weights_dir, allow_unofficial_weights=True)
    assert "unofficial weights" in embedder.describe()["warning"]


def test_a_file_of_another_architecture_is_refused_in_one_line(weights_dir: Path) -> None:
    wider = dataclasses.replace(TINY_VIT, dim=48)
    with pytest.raises(W.UnofficialWeightsError, match=r"vit_g_hybrid.*unreadable weights file") as err:
        ClipEmbedder("fvd", weights_dir, videomae_config=wider)
    assert "\n" not in str(err.value)


def test_fvd_backbones_from_stand_in_weights(weights_dir: Path) -> None:
    videos = [_video(s, 16, size=(64, 48)) for s in (50, 51)]
    vmae = ClipEmbedder("fvd", weights_dir, videomae_config=TINY_VIT)
    metric = VideoFrechetDistance("fvd", embedder=vmae)
    for video in videos:
        metric.update(video, real=True)
        metric.update(video.flip(-1), real=False)
    result = metric.compute()
    assert result["dims"] == 32 and result["n_real"] == 2 and result["value"] > 0
    info = metric.describe()
    assert info["covariance"] == "population" and info["sampling"]["rule"] == "consecutive"
    assert info["features"]["architecture"]["dim"] == 32  # a stand-in architecture is on the record
    i3d = ClipEmbedder("fvd_i3d", weights_dir)
    logits = i3d(torch.stack([(v * 255).to(torch.uint8) for v in videos]))
    assert logits.shape == (2, 400) and logits.std() > 0


@pytest.mark.slow
def test_resnext_vfid_loads_the_released_layout(tmp_path: Path) -> None:
    """resnext-101.pth keeps its weights under "state_dict" with DataParallel's "module." prefix."""
    from bench.metrics.resnext3d import resnext101_3d

    model = _he_init(resnext101_3d(sample_duration=10), 3)
    torch.save({"arch": "resnext-101", "state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}},
               tmp_path / "resnext-101.pth")  # fmt: skip
    embedder = ClipEmbedder("vfid_resnext", tmp_path)
    clips = torch.stack([(_video(s, 10) * 255).to(torch.uint8) for s in (60, 61)])
    features = embedder(clips)
    assert features.shape == (2, 2048) and torch.isfinite(features).all() and features.std() > 0
    assert embedder.describe()["weights"]["file"] == "resnext-101.pth"


def test_architectures_refuse_inputs_they_cannot_pool() -> None:
    with pytest.raises(ValueError, match="193 px"):
        InceptionI3D().forward_features(torch.zeros(1, 3, 8, 64, 64))
    with pytest.raises(ValueError, match=r"\[B, 3, 16, 224, 224\]"):
        VideoMAEEncoder(TINY_VIT).forward_features(torch.zeros(1, 3, 8, 224, 224))
