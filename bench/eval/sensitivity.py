"""How much each protocol choice moves the numbers on the given images: the error bar from protocol choice alone.

``pftryon eval --protocol all`` writes this table beside ``protocols.md`` (as Markdown:
:func:`bench.report.eval_markdown.sensitivity_markdown`). Every choice is varied alone on the same pairs, all else
held at one base: each pair scored at its prediction's size, a reference of another size resized to it with PIL
bilinear and used as decoded, SSIM in the torchmetrics >= 1.4.2 form, LPIPS AlexNet (``lpips`` package) at that size,
FID on the images as stored. Each row's ``varied`` says what it varies and what it holds:

- **SSIM form**: the four distinct SSIM formulas of :data:`bench.metrics.functional.SSIM_VARIANTS` (``skimage_rgb``
  and ``torchmetrics_cropped`` are one formula, run once).
- **evaluation size**: both sides resized with PIL bilinear to each published size of the shipped protocols (and to
  the prediction's own size when it is none of them); SSIM and PSNR.
- **resized side**: in a pair of two sizes, the reference resized to the prediction or the prediction to the
  reference (PIL bilinear); SSIM and PSNR. Cannot run when every pair has one size.
- **resize filter**: a reference of another size resized with PIL bilinear, bicubic or lanczos; SSIM and PSNR.
- **reference JPEG re-encoding**: a resized JPEG reference as decoded or re-encoded as JPEG quality 75 (CatVTON's
  ``copy_resize_gt``, which re-encodes only the references it resizes); SSIM and PSNR. References that are not
  resized, or not JPEG files, are never re-encoded: cannot run when there is none.
- **LPIPS backbone**: AlexNet, VGG16, SqueezeNet; **LPIPS resize**: AlexNet at the evaluation size or with both sides
  resized with PIL bilinear to 128x128 (HR-VITON).
- **FID backend**: pytorch-fid, torch-fidelity and clean-fid (clean mode), each with its own resize to 299x299, on
  the predictions and references as stored (several sizes allowed); FID with the exact spectral formula.

An option whose weights file is absent gives a row naming the file; a choice the images cannot exercise says why.
Each row gives the value (mean over pairs, or the FID); the Markdown adds the spread (max - min) per choice.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn
from tqdm import tqdm

from bench.images import probe_image, read_image
from bench.metrics import functional as MF
from bench.metrics.fid_backends import build_feature_extractor, fid_weights_name
from bench.metrics.weights import LPIPS_NETS, WEIGHTS, MissingWeightsError, build_lpips
from bench.protocols import hxw, list_protocols, load_protocol

__all__ = ["SENSITIVITY_COLUMNS", "sensitivity"]

SENSITIVITY_COLUMNS = ("choice", "metric", "option", "value", "n", "varied", "note")
_FILTERS = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC,
            "lanczos": Image.Resampling.LANCZOS}  # fmt: skip
# One option per distinct SSIM formula: skimage_rgb computes torchmetrics_cropped (torchmetrics < 1.4.2).
_SSIM_FORMS = {
    "pytorch_ssim": "pytorch_ssim",
    "skimage_gray": "skimage_gray",
    "torchmetrics_cropped (= skimage_rgb)": "torchmetrics_cropped",
    "torchmetrics": "torchmetrics",
}
_FID_BACKENDS = (("pytorch-fid", None), ("torch-fidelity", None), ("clean-fid", "clean"))
_LPIPS_SMALL = (128, 128)
_BASE = "SSIM torchmetrics >= 1.4.2 form"
_VARIED = {
    "SSIM form": "the SSIM formula alone; each pair at its prediction's size, a reference of another size resized to "
    "it with PIL bilinear",
    "evaluation size": f"the size both sides are resized to with PIL bilinear before scoring; {_BASE}",
    "resized side": f"which side of a pair of two sizes is resized (PIL bilinear) to the other's size; {_BASE}; only "
    "pairs of two sizes",
    "resize filter": f"the PIL filter resizing a reference to its prediction's size; {_BASE}; only pairs of two sizes",
    "reference JPEG re-encoding": "whether a resized JPEG reference is re-encoded as JPEG quality 75 (CatVTON's "
    f"copy_resize_gt) after PIL bilinear to its prediction's size; {_BASE}; only resized JPEG references",
    "LPIPS backbone": "the LPIPS trunk (lpips package v0.1) at each prediction's size, a reference of another size "
    "resized to it with PIL bilinear",
    "LPIPS resize": "LPIPS AlexNet at each prediction's size or on both sides resized with PIL bilinear to 128x128 "
    "(HR-VITON)",
    "FID backend": "the FID feature extractor with its own resize to 299x299, on the images as stored; spectral FID",
}
_Values = dict[tuple[str, str, str], list[float]]


def _read(path: Path, crop_panel: int = 1) -> Image.Image:
    """The file as 8-bit RGB, read as every command reads it (:func:`bench.images.read_image`); its last panel."""
    image = read_image(path, alpha="ignore").image
    step = image.width // crop_panel
    return image.crop((image.width - step, 0, image.width, image.height)) if crop_panel > 1 else image


def _tensor(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1)[None].double().div(255)


def _jpeg75(image: Image.Image) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=75)
    return Image.open(buffer).convert("RGB")


def _fit(image: Image.Image, size: tuple[int, int], resample: Image.Resampling = _FILTERS["bilinear"]) -> Image.Image:
    """``image`` at ``size`` (W, H), resized only when its size differs."""
    return image if image.size == size else image.resize(size, resample)


def _published_sizes() -> list[tuple[int, int]]:
    """The published sizes (H, W) of the shipped protocols, smallest first."""
    return sorted({tuple(load_protocol(name).resolution) for name in list_protocols()})  # type: ignore[misc]


def _absent(name: str) -> str:
    return f"cannot run: {WEIGHTS[name].filename} absent (pftryon weights fetch --names {name})"


def _row(choice: str, metric: str, option: str, value: float, n: int, note: str) -> dict[str, Any]:
    return {"choice": choice, "metric": metric, "option": option, "value": value, "n": n, "varied": _VARIED[choice],
            "note": note}  # fmt: skip


def _lpips_models(weights_dir: str | os.PathLike[str] | None) -> tuple[dict[str, nn.Module], dict[str, str]]:
    """The LPIPS models that can be built from local files, and a note for each trunk whose file is absent."""
    models, absent = {}, {}
    for net in LPIPS_NETS:
        try:
            models[net] = build_lpips(net, "lpips", weights_dir)
        except MissingWeightsError:
            absent[net] = _absent(net)
    return models, absent


def _pair_values(pred_image: Image.Image, gt_image: Image.Image, gt_path: Path, sizes: Sequence[tuple[int, int]],
                 lpips_models: dict[str, nn.Module]) -> dict[tuple[str, str, str], float]:  # fmt: skip
    """Every option's value on one pair, by (choice, metric, option)."""
    out: dict[tuple[str, str, str], float] = {}
    # The base pair recurs in several choices: scored once. The images stay referenced, so no id is reused.
    scored: dict[tuple[int, int], tuple[Image.Image, Image.Image, float, float]] = {}

    def score(pred: Image.Image, gt: Image.Image) -> tuple[float, float]:
        """SSIM (torchmetrics >= 1.4.2 form) and PSNR of one pair of images."""
        key = (id(pred), id(gt))
        if key not in scored:
            x, y = _tensor(pred), _tensor(gt)
            scored[key] = pred, gt, float(MF.ssim_torchmetrics(x, y)[0]), float(MF.psnr(x, y)[0])
        return scored[key][2:]

    def paired(choice: str, option: str, pred: Image.Image, gt: Image.Image) -> None:
        out[choice, "ssim", option], out[choice, "psnr", option] = score(pred, gt)

    size = pred_image.size
    two_sizes = gt_image.size != size
    base = _fit(gt_image, size)
    pred, target = _tensor(pred_image), _tensor(base)
    for option, variant in _SSIM_FORMS.items():
        value = score(pred_image, base)[0] if variant == "torchmetrics" else MF.ssim(pred, target, variant=variant)[0]
        out["SSIM form", "ssim", option] = float(value)
    for height, width in sizes:
        at = (width, height)
        paired(
            "evaluation size", hxw((height, width)), _fit(pred_image, at), base if at == size else _fit(gt_image, at)
        )
    if two_sizes:
        paired("resized side", "reference resized to the prediction", pred_image, base)
        paired("resized side", "prediction resized to the reference", _fit(pred_image, gt_image.size), gt_image)
        for name, resample in _FILTERS.items():
            paired("resize filter", f"reference {name}", pred_image, base if name == "bilinear" else
                   _fit(gt_image, size, resample))  # fmt: skip
        if gt_path.suffix.lower() in (".jpg", ".jpeg"):
            paired("reference JPEG re-encoding", "resized reference as decoded", pred_image, base)
            paired("reference JPEG re-encoding", "resized reference JPEG q75", pred_image, _jpeg75(base))
    for net, model in lpips_models.items():
        out["LPIPS backbone", "lpips", net] = float(MF.lpips(pred, target, net=net, model=model)[0])
    if "alex" in lpips_models:
        small = [_tensor(_fit(image, _LPIPS_SMALL[::-1])) for image in (pred_image, base)]
        out["LPIPS resize", "lpips", "AlexNet at the evaluation size"] = out["LPIPS backbone", "lpips", "alex"]
        out["LPIPS resize", "lpips", "AlexNet at 128x128"] = float(MF.lpips(*small, model=lpips_models["alex"])[0])
    return out


def _stored_size(path: Path, crop_panel: int) -> tuple[int, int]:
    """(H, W) of an image file's last panel, from its header."""
    height, width = probe_image(path).size
    return height, width // crop_panel


def _paired_rows(pairs: Sequence[tuple[Path, Path]], crop_panel: int, weights_dir: str | os.PathLike[str] | None,
                 eval_sizes: Sequence[tuple[int, int]], bar: tqdm) -> list[dict[str, Any]]:  # fmt: skip
    """The rows of every per-pair choice (means over the pairs that exercise it) and why the others cannot run."""
    lpips_models, lpips_absent = _lpips_models(weights_dir)
    own = {_stored_size(pred, crop_panel) for pred, _ in pairs} - set(eval_sizes)
    sizes = [*eval_sizes, *sorted(own)]  # a prediction's own size is an option when it is none of eval_sizes
    values: _Values = {}
    for pred_path, gt_path in pairs:
        pair = _pair_values(_read(pred_path, crop_panel), _read(gt_path), gt_path, sizes, lpips_models)
        for key, value in pair.items():
            values.setdefault(key, []).append(value)
        bar.update()
    rows = [_row(choice, metric, option, float(np.mean(v)), len(v), f"mean over {len(v)} pairs")
            for (choice, metric, option), v in values.items()]  # fmt: skip
    cannot = {
        "resized side": "every pair has one size",
        "resize filter": "no reference needs a resize (each has its prediction's size)",
        "reference JPEG re-encoding": "no JPEG reference is resized (CatVTON re-encodes only the references it "
        "resizes)",
    }
    ran = {choice for choice, _, _ in values}
    rows += [_row(choice, "ssim", "-", float("nan"), 0, f"cannot run: {why}") for choice, why in cannot.items()
             if choice not in ran]  # fmt: skip
    rows += [_row("LPIPS backbone", "lpips", net, float("nan"), 0, note) for net, note in lpips_absent.items()]
    if "alex" in lpips_absent:
        rows.append(_row("LPIPS resize", "lpips", "-", float("nan"), 0, lpips_absent["alex"]))
    return rows


def _features(extractor: nn.Module, files: Sequence[Path], panels: int, bar: tqdm) -> torch.Tensor:
    """Features of each file as stored, one image at a time (so several sizes are fine)."""
    feats = []
    for path in files:
        with torch.no_grad():
            feats.append(extractor(MF.to_uint8(_tensor(_read(path, panels)))).double())
        bar.update()
    return torch.cat(feats)


def _fid_rows(fake: Sequence[Path], real: Sequence[Path], weights_dir: str | os.PathLike[str] | None,
              crop_panel: int, bar: tqdm) -> list[dict[str, Any]]:  # fmt: skip
    rows = []
    for backend, mode in _FID_BACKENDS:
        option = backend if mode is None else f"{backend} ({mode})"
        try:
            if min(len(fake), len(real)) < 2:
                raise ValueError(f"cannot run: FID needs at least 2 predictions and 2 references (have {len(fake)} "
                                 f"and {len(real)})")  # fmt: skip
            extractor = build_feature_extractor(backend, mode, weights_dir)
        except (ValueError, MissingWeightsError) as err:
            note = _absent(fid_weights_name(backend, mode)) if isinstance(err, MissingWeightsError) else str(err)
            rows.append(_row("FID backend", "fid", option, float("nan"), 0, note))
            bar.total -= len(fake) + len(real)
            continue
        fake_features = _features(extractor, fake, crop_panel, bar)
        value = MF.fid_from_features(_features(extractor, real, 1, bar), fake_features, method="spectral")
        rows.append(_row("FID backend", "fid", option, value, len(fake),
                         f"{len(fake)} predictions vs {len(real)} references, as stored"))  # fmt: skip
    return rows


def sensitivity(
    pairs: Sequence[tuple[Path, Path]],
    fake: Sequence[Path],
    real: Sequence[Path],
    *,
    weights_dir: str | os.PathLike[str] | None = None,
    crop_panel: int = 1,
    eval_sizes: Sequence[tuple[int, int]] | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Rows ``SENSITIVITY_COLUMNS``: the value of each metric under each option of each protocol choice.

    Args:
        pairs: ``(prediction, reference)`` files scored pair by pair.
        fake: the prediction set for FID; ``real`` the reference set.
        weights_dir: searched for the LPIPS and FID weights before the torch hub cache.
        crop_panel: predictions are this many panels side by side; the last one is scored.
        eval_sizes: the sizes ``(H, W)`` of the evaluation-size choice (default: the published sizes of the shipped
            protocols); each prediction's own size is added when it is none of them.
        progress: show a progress bar over the images.

    Returns:
        One row per (choice, metric, option): ``value`` (NaN where the option cannot run), ``n`` (pairs or
        predictions), ``varied`` (what the row varies and what it holds fixed) and ``note`` (why it cannot run).
    """
    total = len(pairs) + 3 * (len(fake) + len(real))
    with tqdm(total=total, desc="sensitivity", unit="img", disable=not progress) as bar:
        sizes = _published_sizes() if eval_sizes is None else [tuple(size) for size in eval_sizes]
        rows = _paired_rows(pairs, crop_panel, weights_dir, sizes, bar)  # type: ignore[arg-type]
        return rows + _fid_rows(fake, real, weights_dir, crop_panel, bar)
