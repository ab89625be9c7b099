"""Protocols are declarative, validated, self-describing, and exact to the scripts they name."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter

import bench.protocols as protocols
from bench.config_files import ConfigFolder
from bench.data.readers import InputError
from bench.eval import evaluate, match_dataset, match_folders
from bench.metrics import functional as MF
from bench.protocols import list_protocols, load_protocol
from bench.report.eval_markdown import summary_markdown


def test_shipped_protocols_load_with_their_choices():
    assert {"pfafn", "hrviton", "ladi", "catvton"} <= set(list_protocols())
    pfafn = load_protocol("pfafn")
    assert pfafn.resolution == (256, 192) and pfafn.ssim.variant == "pytorch_ssim" and pfafn.dataset == "viton"
    hrviton = load_protocol("hrviton")
    assert hrviton.ssim.grayscale and hrviton.lpips.resize == (128, 128) and hrviton.resize.gt == "bilinear"
    assert hrviton.resize.pred == "none" and hrviton.resize.choices == ((1024, 768), (512, 384), (256, 192))
    assert pfafn.resize.gt == pfafn.resize.pred == "none" and pfafn.fid.backend == "pytorch-fid"
    ladi = load_protocol("ladi")
    assert ladi.resolution == (512, 384) and ladi.fid.backend == "clean-fid" and ladi.kid.scale == 1000
    catvton = load_protocol("catvton")
    assert catvton.lpips.net == "squeeze" and catvton.resize.gt == catvton.resize.pred == "lanczos"
    assert catvton.resize.gt_jpeg_quality == 75 and catvton.resize.size == "first_prediction_height"
    assert ladi.resize.gt == ladi.resize.pred == "bilinear" and ladi.resize.size == "fixed"
    assert ladi.ssim.variant == catvton.ssim.variant == "torchmetrics_cropped"
    assert set(hrviton.additions) == {"fid", "kid"}
    for name in list_protocols():
        protocol = load_protocol(name)
        assert protocol.source and protocol.version >= 1 and protocol.to_dict()["name"] == name


def test_include_overrides_only_what_it_names():
    base, variant = load_protocol("catvton"), load_protocol("catvton-512")
    assert variant.resolution == (512, 384)
    assert variant.lpips == base.lpips and variant.fid == base.fid and variant.source == base.source


@pytest.fixture
def protocol_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(protocols, "_FILES", ConfigFolder(tmp_path, "protocol"))
    return tmp_path


def test_unknown_keys_are_rejected(protocol_dir):
    (protocol_dir / "typo.yaml").write_text(
        "name: typo\nversion: 1\nsource: x\ndescription: x\ndataset: viton\nresolution: [256, 192]\n"
        "ssim: {variant: torchmetrics, window: 7}\n"
    )
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['window'\]"):
        load_protocol("typo")


def test_invalid_choices_and_cycles_are_rejected(protocol_dir):
    (protocol_dir / "bad.yaml").write_text(
        "name: bad\nversion: 1\nsource: x\ndescription: x\ndataset: viton\nresolution: [256, 192]\n"
        "ssim: {variant: matlab}\n"
    )
    with pytest.raises(ValueError, match="ssim.variant: expected one of"):
        load_protocol("bad")
    (protocol_dir / "a.yaml").write_text("include: b\n")
    (protocol_dir / "b.yaml").write_text("include: a\n")
    with pytest.raises(ValueError, match="include cycle"):
        load_protocol("a")


def test_unknown_protocol_lists_the_available_ones():
    with pytest.raises(ValueError, match="Available: .*pfafn"):
        load_protocol("pf-afn")


# ---------------------------------------------------------------------------------------------------------------------
# Resolution rules: the runner against independent re-implementations of each official script (PIL, skimage,
# torchvision and torchmetrics called directly, as the scripts call them).

_SIZES = ((256, 192), (512, 384), (1024, 768))


def _ssim_cropped(pred: torch.Tensor, gt: torch.Tensor) -> float:
    """torchmetrics < 1.4.2 (LaDI-VTON's 0.11.4, CatVTON's published numbers): the full reflect-padded map cropped by
    5 px."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    _, full = structural_similarity_index_measure(pred[None].double(), gt[None].double(), data_range=1.0,
                                                  return_full_image=True)  # fmt: skip
    return float(full[..., 5:-5, 5:-5].mean())


def _official_hrviton(preds: list[Path], gts: list[Path], resolution: int) -> list[float]:
    """HR-VITON evaluate.py: GT resized (PIL bilinear) unless --resolution 1024, sizes asserted, PIL 'L', skimage."""
    from skimage.metrics import structural_similarity

    out = []
    for pred_path, gt_path in zip(preds, gts, strict=True):
        gt = Image.open(gt_path)
        if resolution != 1024:
            gt = gt.resize({512: (384, 512), 256: (192, 256)}[resolution], Image.BILINEAR)
        pred = Image.open(pred_path)
        assert gt.size == pred.size
        out.append(structural_similarity(np.asarray(gt.convert("L")), np.asarray(pred.convert("L")), data_range=255,
                                         gaussian_weights=True, use_sample_covariance=False))  # fmt: skip
    return out


def _official_hrviton_mse(preds: list[Path], gts: list[Path], resolution: int) -> list[float]:
    """HR-VITON evaluate.py's MSE: F.mse_loss of the ToTensor images (the GT resized as for SSIM)."""
    from torch.nn import functional as F
    from torchvision.transforms.functional import to_tensor

    out = []
    for pred_path, gt_path in zip(preds, gts, strict=True):
        gt = Image.open(gt_path)
        if resolution != 1024:
            gt = gt.resize({512: (384, 512), 256: (192, 256)}[resolution], Image.BILINEAR)
        out.append(float(F.mse_loss(to_tensor(gt)[None], to_tensor(Image.open(pred_path))[None])))
    return out


def _official_hrviton_is(preds: list[Path], weights: Path) -> float:
    """HR-VITON evaluate.py's IS: inception_v3(transform_input=False), T3 = Resize((299, 299)) + ToTensor + Normalize
    on the PIL predictions, softmax, splits = 1, scipy entropy."""
    import torchvision
    from scipy.stats import entropy
    from torchvision import transforms

    model = torchvision.models.inception_v3(weights=None, aux_logits=True, transform_input=False, init_weights=False)
    model.load_state_dict(torch.load(weights, weights_only=True))
    t3 = transforms.Compose([transforms.Resize((299, 299)), transforms.ToTensor(),
                             transforms.Normalize(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))])  # fmt: skip
    with torch.no_grad():
        probs = np.stack([torch.softmax(model.eval()(t3(Image.open(p))[None]), 1)[0].numpy() for p in preds])
    py = np.mean(probs, axis=0)
    return float(np.exp(np.mean([entropy(pyx, py) for pyx in probs])))


def _official_ladi(preds: list[Path], gts: list[Path]) -> list[float]:
    """LaDI-VTON val_metrics.py: transforms.Resize((512, 384)) + ToTensor on PIL images, torchmetrics SSIM."""
    from torchvision import transforms

    trans = transforms.Compose([transforms.Resize((512, 384)), transforms.ToTensor()])
    return [_ssim_cropped(trans(Image.open(p).convert("RGB")), trans(Image.open(g).convert("RGB")))
            for p, g in zip(preds, gts, strict=True)]  # fmt: skip


def _official_catvton(preds: list[Path], gts: list[Path]) -> list[float]:
    """CatVTON eval.py: the GT copied at the first prediction's height (LANCZOS, saved under its .jpg name: JPEG at
    PIL's default quality), then both resized to that height (LANCZOS, width int(w * H / h)), torchmetrics SSIM."""
    from torchvision.transforms.functional import to_tensor

    height = Image.open(preds[0]).height

    def resize(image: Image.Image) -> Image.Image:
        return image.resize((int(image.width * height / image.height), height), Image.LANCZOS)

    copies = gts
    if Image.open(gts[0]).height != height:
        copies = []
        for path in gts:
            buffer = io.BytesIO()
            resize(Image.open(path)).save(buffer, format="JPEG")
            copies.append(buffer)
    return [_ssim_cropped(to_tensor(resize(Image.open(p))), to_tensor(resize(Image.open(g))))
            for p, g in zip(preds, copies, strict=True)]  # fmt: skip


def _scene(seed: int, size: tuple[int, int]) -> Image.Image:
    """A smooth random RGB image with some fine texture (blocks of colour, bicubic-upsampled, plus noise)."""
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(0, 256, (12, 9, 3), dtype=np.uint8)).resize(size[::-1], Image.BICUBIC)
    pixels = np.asarray(coarse).astype(int) + rng.integers(-12, 13, (*size, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


@pytest.fixture(scope="module")
def hd_folders(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """VITON-HD-like ground truth (1024x768 JPEG) and, per size, imperfect and perfect predictions (PNG)."""
    root = tmp_path_factory.mktemp("hd")
    (root / "gt").mkdir()
    for i in range(2):
        gt = _scene(i, (1024, 768))
        gt.save(root / "gt" / f"{i}.jpg", quality=95)
        gt = Image.open(root / "gt" / f"{i}.jpg")
        blurred = gt.filter(ImageFilter.GaussianBlur(3)).transform(gt.size, Image.AFFINE, (1, 0, 4, 0, 1, -3))
        for height, width in _SIZES:
            for kind, image in (("pred", blurred.resize((width, height), Image.BICUBIC)),
                                ("perfect", gt.resize((width, height), Image.BILINEAR))):  # fmt: skip
                folder = root / f"{kind}{height}"
                folder.mkdir(exist_ok=True)
                image.save(folder / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def imagenet_inception_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised torchvision Inception v3 under the ImageNet weights' file name (code paths only)."""
    import torchvision

    from bench.metrics.weights import WEIGHTS

    folder = tmp_path_factory.mktemp("imagenet_inception")
    torch.manual_seed(0)
    model = torchvision.models.inception_v3(weights=None, aux_logits=True, transform_input=False, init_weights=True)
    torch.save(model.state_dict(), folder / WEIGHTS["inception_imagenet"].filename)
    return folder


def test_hrviton_inception_score_equals_the_official_script(hd_folders: Path, imagenet_inception_dir: Path) -> None:
    pred = hd_folders / "pred256"
    result = evaluate(match_folders(pred, hd_folders / "gt"), load_protocol("hrviton"), metrics=("is",),
                      weights_dir=imagenet_inception_dir, progress=False, allow_unofficial_weights=True)  # fmt: skip
    entry = result.summary["metrics"]["is"]
    weights = imagenet_inception_dir / "inception_v3_google-0cc3c7bd.pth"
    assert entry["value"] == pytest.approx(_official_hrviton_is(sorted(pred.iterdir()), weights), rel=1e-5)
    assert entry["splits"] == 1 and entry["n"] == 2 and entry["how"]["weights"]["sha256_matches_name"] is False


def _ssims(pred: Path, gt: Path, protocol: str, **options) -> list[float]:
    result = evaluate(match_folders(pred, gt), load_protocol(protocol), metrics=("ssim",), progress=False, **options)
    return [row["ssim"] for row in result.rows]


@pytest.mark.parametrize(
    "size", [*_SIZES[:2], pytest.param(_SIZES[2], marks=pytest.mark.slow)], ids=lambda s: f"{s[0]}x{s[1]}"
)
def test_ssim_equals_the_official_scripts_at_every_size(hd_folders: Path, size: tuple[int, int]) -> None:
    pred, gt = hd_folders / f"pred{size[0]}", hd_folders / "gt"
    preds, gts = sorted(pred.iterdir()), sorted(gt.iterdir())
    # torchmetrics' float64 SSIM (LaDI-VTON's and CatVTON's scripts) takes seconds per 1024x768 image on one thread:
    # their references score the first image there, both images at the smaller sizes.
    n = 1 if size[0] == 1024 else len(preds)
    expected = {"hrviton": _official_hrviton(preds, gts, size[0]), "ladi": _official_ladi(preds[:n], gts[:n]),
                "catvton": _official_catvton(preds[:n], gts[:n])}  # fmt: skip
    for name, values in expected.items():
        assert _ssims(pred, gt, name)[: len(values)] == pytest.approx(values, abs=1e-4), name
    assert _ssims(pred, gt, "hrviton", resolution=f"{size[0]}x{size[1]}") == pytest.approx(expected["hrviton"])
    result = evaluate(match_folders(pred, gt), load_protocol("hrviton"), metrics=("mse",), progress=False)
    assert [row["mse"] for row in result.rows] == pytest.approx(_official_hrviton_mse(preds, gts, size[0]), rel=1e-5)


def test_catvton_resizes_to_the_first_prediction_height_and_says_so(hd_folders: Path, tmp_path: Path) -> None:
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    shutil.copyfile(hd_folders / "pred512" / "0.png", mixed / "0.png")
    shutil.copyfile(hd_folders / "pred256" / "1.png", mixed / "1.png")  # resized to 512 high, as eval.py would
    preds, gts = sorted(mixed.iterdir()), sorted((hd_folders / "gt").iterdir())
    result = evaluate(match_folders(mixed, hd_folders / "gt"), load_protocol("catvton"), metrics=("ssim",),
                      progress=False)  # fmt: skip
    assert [row["ssim"] for row in result.rows] == pytest.approx(_official_catvton(preds, gts), abs=1e-4)
    resize = result.summary["inputs"]["resize"]
    assert resize["evaluation_size"] == [512, 384] and resize["predictions"]["resized"] == {
        "count": 1,
        "first": ["1.png"],
    }
    assert resize["ground_truth"]["jpeg_reencoded"] == {"count": 2, "first": ["0.jpg", "1.jpg"], "quality": 75}
    assert any("1 of 2 prediction(s) resized to the first prediction's height (512 px)" in w
               for w in result.summary["warnings"])  # fmt: skip


@pytest.mark.parametrize("size", _SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_a_perfect_prediction_scores_one_at_every_size(hd_folders: Path, tmp_path: Path, size: tuple[int, int]) -> None:
    assert _ssims(hd_folders / f"perfect{size[0]}", hd_folders / "gt", "hrviton") == pytest.approx(
        [1.0, 1.0], abs=1e-12
    )
    for i in range(2):  # pfafn: ground truth at the prediction's size, nothing resized
        for folder in ("pred", "gt"):
            (tmp_path / folder).mkdir(exist_ok=True)
            shutil.copyfile(hd_folders / f"perfect{size[0]}" / f"{i}.png", tmp_path / folder / f"{i}.png")
    assert _ssims(tmp_path / "pred", tmp_path / "gt", "pfafn") == pytest.approx([1.0, 1.0], abs=1e-12)


def test_pfafn_evaluates_small_synthetic_data_at_its_own_size(tmp_path: Path) -> None:
    for folder in ("pred", "gt"):
        (tmp_path / folder).mkdir()
        _scene(0, (128, 96)).save(tmp_path / folder / "a.png")
    result = evaluate(match_folders(tmp_path / "pred", tmp_path / "gt"), load_protocol("pfafn"), metrics=("ssim",),
                      progress=False)  # fmt: skip
    assert result.rows[0]["ssim"] == pytest.approx(1.0, abs=1e-12)
    resize = result.summary["inputs"]["resize"]
    assert resize["evaluation_size"] == [128, 96] and resize["predictions"]["resized"]["count"] == 0
    assert any("published pfafn numbers are at 256x192" in w for w in result.summary["warnings"])


def test_hrviton_resolution_switch_is_its_sources(hd_folders: Path) -> None:
    pred, gt = hd_folders / "pred512", hd_folders / "gt"
    with pytest.raises(InputError, match=r"0\.png: prediction is 512x384; protocol hrviton evaluates at 256x192"):
        _ssims(pred, gt, "hrviton", resolution="256x192")
    with pytest.raises(InputError, match=r"resolution 300x200 is not one its source accepts"):
        _ssims(pred, gt, "hrviton", resolution=(300, 200))
    with pytest.raises(InputError, match=r"pred512/0\.png: ground truth is 512x384; protocol hrviton reads the ground "
                       r"truth as stored at 1024x768"):  # fmt: skip
        _ssims(hd_folders / "pred1024", pred, "hrviton")  # 512x384 "ground truth" at 1024: the official assert


def test_real_fixtures_equal_the_official_scripts_at_256(viton_demo: Path, tmp_path: Path) -> None:
    for folder in ("pred", "gt"):
        (tmp_path / folder).mkdir()
    for i, line in enumerate((viton_demo / "demo.txt").read_text().split()[::2]):
        panel = Image.open(viton_demo / "results" / "demo" / "PFAFN" / f"{i}.jpg").convert("RGB")
        panel.crop((384, 0, 576, 256)).save(tmp_path / "pred" / f"{i}.png")  # the official third panel, lossless
        shutil.copyfile(viton_demo / "dataset" / "test_img" / line, tmp_path / "gt" / f"{i}.jpg")
    preds, gts = sorted((tmp_path / "pred").iterdir()), sorted((tmp_path / "gt").iterdir())
    hrviton = _ssims(tmp_path / "pred", tmp_path / "gt", "hrviton")
    assert hrviton == pytest.approx(_official_hrviton(preds, gts, 256), abs=1e-4)
    assert _ssims(tmp_path / "pred", tmp_path / "gt", "ladi") == pytest.approx(_official_ladi(preds, gts), abs=1e-4)
    catvton = _ssims(tmp_path / "pred", tmp_path / "gt", "catvton")
    assert catvton == pytest.approx(_official_catvton(preds, gts), abs=1e-4)
    # Through the runner's own panel crop and dataset matching: the same numbers.
    eval_set = match_dataset(viton_demo / "results" / "demo" / "PFAFN", "viton-pfafn", viton_demo / "dataset",
                             load_protocol("hrviton"), pairs_file=viton_demo / "demo.txt", match="lines")  # fmt: skip
    cropped = evaluate(eval_set, load_protocol("hrviton"), metrics=("ssim",), crop_panel=3, progress=False)
    assert [row["ssim"] for row in cropped.rows] == pytest.approx(hrviton, abs=1e-12)


# ---------------------------------------------------------------------------------------------------------------------
# Provenance cannot drift: what each protocol says about resizing is what the runner does.


def _as_the_yaml_says(protocol, pairs: list[tuple[Path, Path]]) -> list[float]:
    """Per-pair SSIM with the images resized exactly as the protocol's ``resize`` block states, in PIL."""
    rule = protocol.resize
    first = Image.open(pairs[0][0])
    size = tuple(protocol.resolution) if rule.size == "fixed" else (first.height, first.width)
    gt_filter = "none" if size in rule.gt_as_stored_at else rule.gt

    def fit(path: Path, filt: str, jpeg: int | None) -> torch.Tensor:
        image = Image.open(path).convert("RGB")
        height = size[0]
        target = (height, int(image.width * height / image.height)) if rule.size == "first_prediction_height" else size
        if (image.height, image.width) != target:
            assert filt != "none", f"{protocol.name} says it never resizes {path.name}"
            image = image.resize(target[::-1], getattr(Image.Resampling, filt.upper()))
            if jpeg is not None and path.suffix == ".jpg":
                buffer = io.BytesIO()
                image.save(buffer, format="JPEG", quality=jpeg)
                image = Image.open(buffer).convert("RGB")
        return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)[None].double() / 255

    variant = protocol.ssim.variant
    variant = (
        ("skimage_gray" if protocol.ssim.grayscale else "skimage_rgb") if variant == "skimage_gaussian" else variant
    )
    return [float(MF.ssim(fit(p, rule.pred, None), fit(g, gt_filter, rule.gt_jpeg_quality), variant=variant)[0])
            for p, g in pairs]  # fmt: skip


def _says(description: str, side: str, filt: str) -> bool:
    text = " ".join(description.lower().split())
    if filt == "none":
        return f"{side} never resized" in text or f"{side} are never resized" in text or "nothing is resized" in text \
            or f"{side} must be" in text  # fmt: skip
    return filt in text and side.rstrip("s") in text


@pytest.mark.parametrize("name", list_protocols())
def test_resize_descriptions_match_what_the_runner_does(name: str, tmp_path: Path, lpips_weights_dir: Path) -> None:
    protocol = load_protocol(name)
    rule = protocol.resize
    for side, filt in (("predictions", rule.pred), ("ground truth", rule.gt)):
        assert _says(protocol.description, side, filt), f"{name}: the description does not say {side}: {filt}"
    if rule.gt_jpeg_quality:
        assert f"jpeg quality {rule.gt_jpeg_quality}" in protocol.description.lower()
    if rule.size == "fixed":
        assert f"{protocol.resolution[0]}x{protocol.resolution[1]}" in protocol.description
    # Predictions at 256x192, ground truth at 384x288 (a JPEG): every rule has something to resize or refuse.
    for folder in ("pred", "gt"):
        (tmp_path / folder).mkdir()
    for i in range(2):
        _scene(10 + i, (384, 288)).save(tmp_path / "gt" / f"{i}.jpg", quality=90)
        _scene(10 + i, (256, 192)).filter(ImageFilter.GaussianBlur(1)).save(tmp_path / "pred" / f"{i}.png")
    if rule.gt == "none":  # the ground truth is never resized: the run is refused, then scored at equal sizes
        with pytest.raises(InputError, match=f"ground truth is 384x288; protocol {name} never resizes it"):
            _ssims(tmp_path / "pred", tmp_path / "gt", name)
        for i in range(2):
            _scene(10 + i, (256, 192)).save(tmp_path / "gt" / f"{i}.jpg", quality=90)
    metrics = [m for m in ("ssim", "lpips") if m in protocol.metrics]
    result = evaluate(match_folders(tmp_path / "pred", tmp_path / "gt"), protocol, metrics=metrics,
                      weights_dir=lpips_weights_dir, progress=False, allow_unofficial_weights=True)  # fmt: skip
    pairs = [(Path(row["pred"]), Path(row["gt"])) for row in result.rows]
    # float32 decoding in the runner, float64 here: equal to ~1e-9
    assert [row["ssim"] for row in result.rows] == pytest.approx(_as_the_yaml_says(protocol, pairs), abs=1e-7)
    report, warnings = result.summary["inputs"]["resize"], result.summary["warnings"]
    for side, filt in (("predictions", rule.pred), ("ground_truth", rule.gt)):
        assert report[side]["filter"] == ("none (never resized)" if filt == "none" else f"PIL {filt}"), (name, side)
        assert filt != "none" or report[side]["resized"]["count"] == 0, (name, side)
    assert report["rule"] == rule.text() and report["published_size"] == list(protocol.resolution)
    assert (report["predictions"]["resized"]["count"] > 0) == any("prediction(s) resized" in w for w in warnings)
    assert name != "ladi" or report["predictions"]["resized"]["count"] == 2  # LaDI resizes predictions
    markdown = summary_markdown(result.summary)
    assert rule.text() in markdown and all(w in markdown for w in warnings)
    if protocol.lpips.resize and "lpips" in metrics:
        assert "128x128" in result.summary["metrics"]["lpips"]["how"]["resize"]
    if "lpips" in protocol.additions:
        assert "LPIPS (pftryon addition)" in markdown and any("pftryon additions" in w for w in warnings)


# ---------------------------------------------------------------------------------------------------------------------
# FID over prediction folders of several sizes: what the source's FID script accepts.


def test_fid_over_mixed_sizes_follows_the_backend(tmp_path: Path) -> None:
    """clean-fid's folder FID (CatVTON, LaDI-VTON) resizes each file itself: several sizes are scored and reported;
    a backend that batches images of one size refuses them. (The value: tests/metrics/test_fid_backends.py.)"""
    import dataclasses

    from bench.eval.resolution import _plan
    from bench.protocols import FID

    for folder in ("pred", "gt"):
        (tmp_path / folder).mkdir()
    for i, size in enumerate(((256, 192), (128, 96))):
        _scene(i, (256, 192)).save(tmp_path / "gt" / f"{i}.png")
        _scene(i, size).save(tmp_path / "pred" / f"{i}.png")
    eval_set = match_folders(tmp_path / "pred", tmp_path / "gt")
    catvton = load_protocol("catvton")
    plan = _plan(eval_set, catvton, ("fid",), 1, None)
    assert plan.fake_sizes == 2 and plan.fake.size is None  # as stored, each to 299x299 by clean-fid
    assert "2 sizes (256x192, 128x96), each resized to 299x299 by clean-fid itself" in plan.report["fid_predictions"]
    assert _plan(eval_set, catvton, ("ssim",), 1, None).fake_sizes == 1  # no FID: nothing to say
    batching = dataclasses.replace(catvton, fid=FID(backend="torch-fidelity"))
    with pytest.raises(InputError, match=r"FID predictions of several sizes \(256x192, 128x96\); protocol catvton's "
                       r"FID backend torch-fidelity scores images of one size"):  # fmt: skip
        _plan(eval_set, batching, ("fid",), 1, None)


def test_provenance_states_what_each_source_leaves_open() -> None:
    catvton, ladi, vvt = (load_protocol(name) for name in ("catvton", "ladi", "vvt"))
    notes = " ".join(catvton.notes.split())
    assert "pins no torchmetrics" in notes and "torchmetrics_cropped" in notes and "predate 1.4.2" in notes
    assert "each resized to 299x299 by clean-fid itself" in " ".join(catvton.description.split())
    notes = " ".join(ladi.notes.split())
    assert "Inception Score" in notes and "left out of this protocol" in notes and "is" not in ladi.metrics
    assert "KID x1000 is the paper's table convention" in notes and "unscaled" in notes
    notes = " ".join(vvt.notes.split())
    assert "H.264" in notes and "An mp4 round trip cannot be offered here" in notes
