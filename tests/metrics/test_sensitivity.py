"""The protocol-choice sensitivity table (``pftryon eval --protocol all``): on generated images, every option changes
what its row says it changes (the images resized, re-encoded and scored here with PIL, torchmetrics and the lpips
package called directly), no two options of a choice compute the same thing, and an option that cannot run names why.

The LPIPS trunks are random (written by tests/conftest.py) and the FID extractors are stand-ins: the wiring is
tested here, the backbones in test_metrics.py and test_fid_backends.py.
"""

from __future__ import annotations

import importlib
import io
import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bench.metrics import functional as MF
from bench.metrics.weights import WEIGHTS, MissingWeightsError, build_lpips

pytestmark = pytest.mark.usefixtures("one_thread")  # small images: one thread is fastest on a shared machine
S = importlib.import_module("bench.eval.sensitivity")  # the module: bench.eval re-exports its function by its name
_SIZES = ((64, 48), (96, 72))  # (H, W): the predictions' own size and another one


def _tensor(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float64) / 255).permute(2, 0, 1)[None]


def _tm_ssim(pred: Image.Image, gt: Image.Image) -> float:
    """SSIM in the torchmetrics >= 1.4.2 form (equal to torchmetrics' own to 1e-13: test_metrics.py) of PIL images."""
    return float(MF.ssim_torchmetrics(_tensor(pred), _tensor(gt))[0])


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return Image.open(buffer).convert("RGB")


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, Path]]:
    """Three 64x48 PNG predictions (noisy, downsampled), references at 128x96: two JPEG files and one PNG."""
    folder = tmp_path_factory.mktemp("sensitivity")
    rng = np.random.default_rng(1)
    out = []
    for i in range(3):
        coarse = Image.fromarray(rng.integers(0, 256, (8, 6, 3), dtype=np.uint8)).resize((96, 128), Image.BICUBIC)
        gt = np.clip(np.asarray(coarse, dtype=int) + rng.integers(-30, 31, (128, 96, 3)), 0, 255).astype(np.uint8)
        small = np.asarray(Image.fromarray(gt).resize((48, 64), Image.BILINEAR), dtype=int)
        pred = np.clip(small + rng.integers(-20, 21, small.shape), 0, 255).astype(np.uint8)
        gt_path = folder / (f"gt{i}.png" if i == 2 else f"gt{i}.jpg")
        Image.fromarray(gt).save(gt_path, **({} if i == 2 else {"quality": 95}))
        Image.fromarray(pred).save(folder / f"pred{i}.png")
        out.append((folder / f"pred{i}.png", gt_path))
    return out


def _stand_in_extractors(monkeypatch: pytest.MonkeyPatch) -> dict[str, torch.Tensor]:
    """Per backend, a different projection of each image's mean colour and contrast; clean-fid's file is absent."""
    projections = {backend: torch.randn(6, 4, generator=torch.Generator().manual_seed(k), dtype=torch.float64)
                   for k, backend in enumerate(("pytorch-fid", "torch-fidelity"))}  # fmt: skip

    def build(backend: str, mode: str | None, weights_dir: object) -> object:
        if backend == "clean-fid":
            raise MissingWeightsError("inception-2015-12-05.pt not found")
        assert mode is None
        return lambda x: _summary(x) @ projections[backend]

    monkeypatch.setattr(S, "build_feature_extractor", build)
    return projections


def _summary(images: torch.Tensor) -> torch.Tensor:
    x = images.double() / 255
    return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], dim=1)


@pytest.fixture(scope="module")
def table(pairs: list[tuple[Path, Path]], lpips_weights_dir: Path) -> dict[tuple[str, str, str], dict]:
    """The rows by (choice, metric, option); FID over the predictions plus one 128x96 reference (two sizes)."""
    threads = torch.get_num_threads()  # a module fixture runs before the one_thread fixture
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as patch:
        projections = _stand_in_extractors(patch)
        fake = [p for p, _ in pairs] + [pairs[0][1]]
        rows = S.sensitivity(pairs, fake, [g for _, g in pairs], weights_dir=lpips_weights_dir, eval_sizes=_SIZES,
                             progress=False)  # fmt: skip
    torch.set_num_threads(threads)
    expected_fid = {}
    for backend, projection in projections.items():
        features = [torch.cat([_summary(MF.to_uint8(_tensor(Image.open(f)))) @ projection for f in files])
                    for files in (fake, [g for _, g in pairs])]  # fmt: skip
        expected_fid[backend] = MF.fid_from_features(features[1], features[0], method="spectral")
    table = {(r["choice"], r["metric"], r["option"]): r for r in rows}
    table["expected", "fid", "-"] = expected_fid  # type: ignore[assignment]
    assert all(set(r) == set(S.SENSITIVITY_COLUMNS) and r["varied"] for r in rows)
    return table


def _value(table: dict, choice: str, metric: str, option: str) -> float:
    return table[choice, metric, option]["value"]


def test_no_two_options_of_a_choice_compute_the_same(table: dict) -> None:
    by_choice: dict[tuple[str, str], list[float]] = {}
    for (choice, metric, _), row in table.items():
        if choice != "expected" and np.isfinite(row["value"]):
            by_choice.setdefault((choice, metric), []).append(row["value"])
    assert {c for c, _ in by_choice} == {
        "SSIM form",
        "evaluation size",
        "resized side",
        "resize filter",
        "reference JPEG re-encoding",
        "LPIPS backbone",
        "LPIPS resize",
        "FID backend",
    }
    for key, values in by_choice.items():
        assert len(values) >= 2, key
        for a, b in itertools.combinations(values, 2):
            assert abs(a - b) > 1e-6, (key, values)
    # One option per SSIM formula: skimage_rgb is torchmetrics_cropped, run once.
    assert {o for c, _, o in table if c == "SSIM form"} == set(S._SSIM_FORMS)
    assert len(set(S._SSIM_FORMS.values())) == len(S._SSIM_FORMS) == 4


def test_ssim_forms_are_the_libraries(pairs, table: dict) -> None:
    from torchmetrics.functional.image import structural_similarity_index_measure

    uncropped, cropped = [], []
    for pred_path, gt_path in pairs:
        pred = Image.open(pred_path)
        gt = Image.open(gt_path).resize(pred.size, Image.BILINEAR)
        _, full = structural_similarity_index_measure(_tensor(pred), _tensor(gt), data_range=1.0,
                                                      return_full_image=True)  # fmt: skip
        uncropped.append(float(full.mean()))
        cropped.append(float(full[..., 5:-5, 5:-5].mean()))
    assert _value(table, "SSIM form", "ssim", "torchmetrics") == pytest.approx(np.mean(uncropped), abs=1e-10)
    assert _value(table, "SSIM form", "ssim", "torchmetrics_cropped (= skimage_rgb)") == pytest.approx(
        np.mean(cropped), abs=1e-10
    )


def test_evaluation_size_resized_side_filter_and_jpeg_change_what_they_say(pairs, table: dict) -> None:
    expected: dict[tuple[str, str], list[float]] = {}
    jpeg = []
    for pred_path, gt_path in pairs:
        pred, gt = Image.open(pred_path).convert("RGB"), Image.open(gt_path).convert("RGB")
        for height, width in _SIZES:
            resized = [image.resize((width, height), Image.BILINEAR) if image.size != (width, height) else image
                       for image in (pred, gt)]  # fmt: skip
            expected.setdefault(("evaluation size", f"{height}x{width}"), []).append(_tm_ssim(*resized))
        expected.setdefault(("resized side", "prediction resized to the reference"), []).append(
            _tm_ssim(pred.resize(gt.size, Image.BILINEAR), gt)
        )
        expected.setdefault(("resized side", "reference resized to the prediction"), []).append(
            _tm_ssim(pred, gt.resize(pred.size, Image.BILINEAR))
        )
        for name in ("bilinear", "bicubic", "lanczos"):
            filt = getattr(Image.Resampling, name.upper())
            expected.setdefault(("resize filter", f"reference {name}"), []).append(
                _tm_ssim(pred, gt.resize(pred.size, filt))
            )
        if gt_path.suffix == ".jpg":  # the PNG reference is never re-encoded
            jpeg.append(_tm_ssim(pred, _jpeg(gt.resize(pred.size, Image.BILINEAR), 75)))
    for (choice, option), values in expected.items():
        assert _value(table, choice, "ssim", option) == pytest.approx(np.mean(values), abs=1e-10), (choice, option)
        assert table[choice, "ssim", option]["n"] == 3
    row = table["reference JPEG re-encoding", "ssim", "resized reference JPEG q75"]
    assert row["value"] == pytest.approx(np.mean(jpeg), abs=1e-10) and row["n"] == 2
    assert "JPEG quality 75" in row["varied"] and "only resized JPEG references" in row["varied"]


def test_lpips_backbone_and_resize(pairs, table: dict, lpips_weights_dir: Path) -> None:
    models = {net: build_lpips(net, "lpips", lpips_weights_dir) for net in ("alex", "squeeze")}

    def lpips(net: str, size: tuple[int, int] | None) -> float:
        model, values = models[net], []
        for pred_path, gt_path in pairs:
            pred = Image.open(pred_path).convert("RGB")
            gt = Image.open(gt_path).convert("RGB").resize(pred.size, Image.BILINEAR)
            if size is not None:
                pred, gt = pred.resize(size, Image.BILINEAR), gt.resize(size, Image.BILINEAR)
            with torch.no_grad():  # the lpips package on [-1, 1], as HR-VITON calls it
                values.append(float(model(2 * _tensor(pred).float() - 1, 2 * _tensor(gt).float() - 1)))
        return float(np.mean(values))

    for net in ("alex", "squeeze"):
        assert _value(table, "LPIPS backbone", "lpips", net) == pytest.approx(lpips(net, None), rel=1e-5), net
    vgg = table["LPIPS backbone", "lpips", "vgg"]
    assert np.isnan(vgg["value"]) and vgg["note"].startswith(f"cannot run: {WEIGHTS['vgg'].filename} absent")
    small = _value(table, "LPIPS resize", "lpips", "AlexNet at 128x128")
    assert small == pytest.approx(lpips("alex", (128, 128)), rel=1e-5)


def test_fid_backends_each_use_their_own_extractor(table: dict) -> None:
    expected = table["expected", "fid", "-"]
    for backend, value in expected.items():
        row = table["FID backend", "fid", backend]
        assert row["value"] == pytest.approx(value, rel=1e-10) and row["n"] == 4, backend
    clean = table["FID backend", "fid", "clean-fid (clean)"]
    assert np.isnan(clean["value"]) and "\n" not in clean["note"]
    assert clean["note"].startswith(f"cannot run: {WEIGHTS['cleanfid_inception'].filename} absent")


def test_references_at_the_prediction_size_are_never_resized_or_reencoded(pairs, tmp_path: Path) -> None:
    same = []
    for pred_path, gt_path in pairs:
        reference = tmp_path / f"{pred_path.stem}.jpg"
        Image.open(gt_path).resize((48, 64), Image.BILINEAR).save(reference, quality=95)
        same.append((pred_path, reference))
    rows = S.sensitivity(same, [], [], weights_dir=tmp_path / "none", eval_sizes=_SIZES, progress=False)
    for choice in ("resized side", "resize filter", "reference JPEG re-encoding"):
        ran = [r for r in rows if r["choice"] == choice]
        assert len(ran) == 1 and np.isnan(ran[0]["value"]) and ran[0]["note"].startswith("cannot run"), choice
    fid = [r for r in rows if r["choice"] == "FID backend"]
    assert len(fid) == 3 and all("at least 2 predictions" in r["note"] for r in fid)


def test_markdown_names_every_choice(table: dict) -> None:
    from bench.report.eval_markdown import sensitivity_markdown

    rows = [row for key, row in table.items() if key[0] != "expected"]
    markdown = sensitivity_markdown(rows)
    for choice in ("SSIM form", "evaluation size", "resized side", "LPIPS backbone", "FID backend"):
        assert f"| {choice} |" in markdown, choice
