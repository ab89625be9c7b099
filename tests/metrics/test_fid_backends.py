"""Tests of bench.metrics.fid_backends: clean-fid's pipeline on tensors, against clean-fid's own code.

The networks are written by the tests (a small TorchScript module with the call signature of clean-fid's
``inception-2015-12-05.pt``; a randomly initialised pytorch-fid Inception): code paths only, never reported numbers.
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

from bench.metrics import fid_backends
from bench.metrics import functional as MF
from bench.metrics import weights as W
from bench.metrics.fid_backends import CLEANFID_MODES, CleanFIDInception, build_feature_extractor
from bench.metrics.image import InceptionStats


class _Layers(nn.Module):
    """Stands in for the TorchScript model's ``layers``: normalised [N, 3, 299, 299] -> [N, 2048, 1, 1]."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 2048, kernel_size=13, stride=13)

    def forward(self, x: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(torch.relu(self.conv(x)), 1)


class _TinyCleanFIDInception(nn.Module):
    """Same interface as clean-fid's TorchScript Inception: ``layers`` and ``forward(img, return_features)``."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = _Layers()

    def forward(self, img: Tensor, return_features: bool = False) -> Tensor:
        x = F.interpolate(img, size=(299, 299), mode="bilinear", align_corners=False)
        features = self.layers((x - 128) / 128)
        return features if return_features else features.sum(dim=1)


@pytest.fixture(scope="module")
def cleanfid_weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A TorchScript file under clean-fid's name and a random pytorch-fid Inception state dict under its name."""
    import cleanfid.inception_pytorch as cleanfid_inception

    folder = tmp_path_factory.mktemp("cleanfid_weights")
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.script / save are deprecated in torch 2.13
        torch.jit.save(
            torch.jit.script(_TinyCleanFIDInception()), str(folder / W.WEIGHTS["cleanfid_inception"].filename)
        )
    with pytest.MonkeyPatch.context() as patch, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        patch.setattr(cleanfid_inception, "load_state_dict_from_url", lambda *args, **kwargs: {})
        patch.setattr(nn.Module, "load_state_dict", lambda self, *args, **kwargs: None)
        model = cleanfid_inception.fid_inception_v3()
    generator = torch.Generator().manual_seed(0)
    for module in model.modules():
        if isinstance(module, nn.Conv2d):  # He init: the default one makes the pool3 features vanish
            fan_in = module.weight[0].numel()
            module.weight.data = torch.randn(module.weight.shape, generator=generator) * (2 / fan_in) ** 0.5
    torch.save(model.state_dict(), folder / W.WEIGHTS["pt_inception"].filename)
    return folder


@pytest.fixture(scope="module")
def image_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], Tensor]:
    """Three random RGB PNGs of different sizes (larger and smaller than 299) and one of them as a uint8 tensor."""
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    paths = []
    for k, (h, w) in enumerate(((256, 192), (512, 384), (300, 301))):
        path = folder / f"{k}.png"
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths, _uint8(paths[0])[0]


def _cleanfid_inputs(paths: list[Path], mode: str) -> Tensor:
    """clean-fid's own network inputs for image files: its ResizeDataset items, stacked."""
    from cleanfid.utils import ResizeDataset

    with warnings.catch_warnings():  # its PyTorch resizer resets the warning filters
        dataset = ResizeDataset([str(p) for p in paths], mode=mode)
    return torch.stack([dataset[i] for i in range(len(paths))])


def _uint8(path: Path) -> Tensor:
    return torch.from_numpy(np.array(Image.open(path).convert("RGB"))).permute(2, 0, 1)[None]


@pytest.mark.parametrize("mode", CLEANFID_MODES)
def test_resize_equals_cleanfid_resize_dataset(mode: str, cleanfid_weights_dir: Path, image_files) -> None:
    paths, _ = image_files
    extractor = CleanFIDInception(mode, cleanfid_weights_dir)
    for path in paths:
        theirs = _cleanfid_inputs([path], mode)
        ours = extractor.resize(_uint8(path))
        assert ours.dtype == theirs.dtype == torch.float32
        assert torch.equal(ours, theirs), (mode, path.name)
    ours_299 = extractor.resize(_uint8(paths[0]))
    assert ours_299.shape[-2:] == ((256, 192) if mode == "legacy_tensorflow" else (299, 299))


@pytest.mark.parametrize("mode", ["clean", "legacy_tensorflow"])
def test_torchscript_features_equal_cleanfid_wrapper(mode: str, cleanfid_weights_dir: Path, image_files) -> None:
    from cleanfid.inception_torchscript import InceptionV3W

    paths, _ = image_files
    paths = paths[:1] if mode == "legacy_tensorflow" else paths  # legacy_tensorflow batches need one size
    extractor = build_feature_extractor("clean-fid", mode, cleanfid_weights_dir)
    assert extractor.weights_path == str(cleanfid_weights_dir / W.WEIGHTS["cleanfid_inception"].filename)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.load
        theirs_model = InceptionV3W(str(cleanfid_weights_dir), download=False, resize_inside=mode != "clean")
    with torch.no_grad():
        theirs = theirs_model(_cleanfid_inputs(paths, mode))
    ours = torch.cat([extractor(_uint8(p)) for p in paths])
    assert ours.shape == (len(paths), 2048) and ours.std() > 0
    assert torch.equal(ours, theirs)


def test_legacy_pytorch_and_pytorch_fid_equal_their_packages(cleanfid_weights_dir: Path, image_files) -> None:
    import cleanfid.inception_pytorch as cleanfid_inception
    from cleanfid.features import feature_extractor

    paths, image = image_files
    state = torch.load(cleanfid_weights_dir / W.WEIGHTS["pt_inception"].filename, weights_only=True)
    with pytest.MonkeyPatch.context() as patch, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        patch.setattr(cleanfid_inception, "load_state_dict_from_url", lambda *args, **kwargs: state)
        theirs_fn = feature_extractor("pytorch_inception", torch.device("cpu"), use_dataparallel=False)
    with torch.no_grad():
        theirs = theirs_fn(_cleanfid_inputs(paths[:1], "legacy_pytorch"))
    ours = CleanFIDInception("legacy_pytorch", cleanfid_weights_dir)(image[None])
    assert ours.shape == (1, 2048) and ours.std() > 1e-3
    assert torch.equal(ours, theirs)

    import pytorch_fid.inception
    from pytorch_fid.fid_score import get_activations

    with pytest.MonkeyPatch.context() as patch, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        patch.setattr(pytorch_fid.inception, "load_state_dict_from_url", lambda *args, **kwargs: state)
        reference = pytorch_fid.inception.InceptionV3([3]).eval()
    theirs_pytorch_fid = torch.from_numpy(get_activations([str(paths[0])], reference, batch_size=1, num_workers=0))
    ours_pytorch_fid = build_feature_extractor("pytorch-fid", None, cleanfid_weights_dir)(image[None])
    assert torch.equal(ours_pytorch_fid, theirs_pytorch_fid)
    # clean-fid's legacy_pytorch reproduces pytorch-fid up to float rounding (it resizes [0, 255] values, not [0, 1]).
    assert torch.allclose(ours, ours_pytorch_fid, rtol=1e-4, atol=1e-4 * float(ours.abs().max()))


def test_inception_stats_with_cleanfid_describes_cleanfid(cleanfid_weights_dir: Path, image_files) -> None:
    _, image = image_files
    images = torch.stack([image, image.flip(-1), image.flip(-2), 255 - image])
    metric = InceptionStats(
        extractor=build_feature_extractor("clean-fid", None, cleanfid_weights_dir), fid_method="spectral", kid=False
    )
    metric.update(images, real=True)
    metric.update(images.float() / 255, real=False)  # floats are quantised back to the same uint8 values
    assert abs(float(metric.compute()["fid"])) < 1e-6 * float(metric.features(real=True).var(dim=0).sum())
    assert not metric.extractor.train().training
    info = metric.describe()
    json.dumps(info)
    assert info["metric"] == "fid_kid" and info["backend"] == "clean-fid" and info["mode"] == "clean"
    assert info["weights"]["file"] == "inception-2015-12-05.pt" and "bicubic" in info["resize"]
    assert "clean-fid" in info["libraries"] and "torch-fidelity" not in info["libraries"]


def test_builder_dispatch_and_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fid_backends, "build_inception", lambda weights_dir: ("torch-fidelity", weights_dir))
    assert build_feature_extractor("torch-fidelity", None, tmp_path) == ("torch-fidelity", tmp_path)
    with pytest.raises(ValueError, match="has no modes"):
        build_feature_extractor("torch-fidelity", "clean", tmp_path)
    with pytest.raises(ValueError, match="has no modes"):
        build_feature_extractor("pytorch-fid", "legacy_pytorch")
    with pytest.raises(ValueError, match="Unknown FID backend"):
        build_feature_extractor("cleanfid")
    with pytest.raises(ValueError, match="Unknown clean-fid mode"):
        build_feature_extractor("clean-fid", "tf")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    start = time.perf_counter()
    for backend, mode, name in (
        ("clean-fid", "clean", "cleanfid_inception"),
        ("clean-fid", "legacy_pytorch", "pt_inception"),
        ("pytorch-fid", None, "pt_inception"),
    ):
        with pytest.raises(W.MissingWeightsError) as info:
            build_feature_extractor(backend, mode, tmp_path / "mine")
        message = str(info.value)
        assert "\n" not in message and W.WEIGHTS[name].filename in message and W.WEIGHTS[name].url in message
        assert str(tmp_path / "mine") in message
        assert ("/tmp/inception-2015-12-05.pt" in message) == (mode == "clean")  # where clean-fid keeps its copy
    assert time.perf_counter() - start < 1.0


def test_cleanfid_weight_urls_match_the_package() -> None:
    from cleanfid.downloads_helper import inception_url
    from cleanfid.inception_pytorch import FID_WEIGHTS_URL

    assert W.WEIGHTS["cleanfid_inception"].url == inception_url
    assert W.WEIGHTS["pt_inception"].url == FID_WEIGHTS_URL


def test_catvton_fid_over_mixed_sizes_is_cleanfids_folder_fid(cleanfid_weights_dir: Path, tmp_path: Path) -> None:
    """CatVTON's eval.py runs clean-fid's folder FID, which resizes each file to 299x299 on its own: a prediction
    folder of two sizes is scored, and equals clean-fid's own folder features (its ResizeDataset) through the same
    network."""
    from cleanfid.fid import get_folder_features

    from bench.eval import evaluate, match_folders
    from bench.protocols import load_protocol

    rng = np.random.default_rng(3)
    for folder in ("pred", "gt"):
        (tmp_path / folder).mkdir()
    for k, (h, w) in enumerate(((256, 192), (128, 96), (256, 192))):
        Image.fromarray(rng.integers(0, 256, (256, 192, 3), dtype=np.uint8)).save(tmp_path / "gt" / f"{k}.png")
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(tmp_path / "pred" / f"{k}.png")
    result = evaluate(match_folders(tmp_path / "pred", tmp_path / "gt"), load_protocol("catvton"), metrics=("fid",),
                      weights_dir=cleanfid_weights_dir, batch_size=4, progress=False,
                      allow_unofficial_weights=True)  # fmt: skip
    network = fid_backends._load_torchscript(cleanfid_weights_dir / W.WEIGHTS["cleanfid_inception"].filename)

    def clean_mode(batch: Tensor) -> Tensor:  # what clean-fid's own wrapper does in clean mode
        return network.layers((batch - 128) / 128).reshape(len(batch), 2048)

    with warnings.catch_warnings():  # its PyTorch resizer resets the warning filters
        real, fake = (torch.from_numpy(get_folder_features(str(tmp_path / folder), clean_mode, num_workers=0,
                                                           batch_size=3, device=torch.device("cpu"), verbose=False))
                      for folder in ("gt", "pred"))  # fmt: skip
    fid = result.summary["metrics"]["fid"]
    assert fid["value"] == pytest.approx(MF.fid_from_features(real, fake, method="spectral"), rel=1e-6)
    sizes = "2 sizes (256x192, 128x96), each resized to 299x299 by clean-fid itself"
    assert sizes in result.summary["inputs"]["resize"]["fid_predictions"]
    assert any(sizes in warning for warning in result.summary["warnings"])
