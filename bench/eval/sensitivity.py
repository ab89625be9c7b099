"""How much each protocol choice moves the numbers on the given images: the error bar from protocol choice alone.

``pftryon eval --protocol all`` writes this table beside ``protocols.md`` (as Markdown:
:func:`bench.report.eval_markdown.sensitivity_markdown`). Every choice is varied alone, all else
fixed, on the same pairs, each scored at the prediction's own size:

- **SSIM form**: the five SSIM variants of :data:`bench.metrics.functional.SSIM_VARIANTS` (pytorch-ssim, skimage on
  grey or RGB, torchmetrics before 1.5 and from 1.5 on); the reference resized with PIL bilinear where its size differs.
- **resize filter**: references whose size differs from their prediction's resized with PIL bilinear, bicubic or
  lanczos; SSIM (torchmetrics >= 1.5 form) and PSNR. Cannot run when no pair needs a resize.
- **JPEG round-trip of the reference**: as decoded, or re-encoded as JPEG quality 75 (CatVTON's resized copy); SSIM
  and PSNR as above.
- **FID backend**: pytorch-fid and torch-fidelity features of the predictions and the references, as stored; FID with
  the exact spectral formula. Cannot run when a backend's weights file is absent (the row says which).

Each row gives the value (mean over pairs, or the FID) under each option and the spread (max - min).
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

from bench.metrics import functional as MF
from bench.metrics.fid_backends import build_feature_extractor
from bench.metrics.weights import MissingWeightsError

__all__ = ["SENSITIVITY_COLUMNS", "sensitivity"]

SENSITIVITY_COLUMNS = ("choice", "metric", "option", "value", "n", "note")
_FILTERS = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC,
            "lanczos": Image.Resampling.LANCZOS}  # fmt: skip
_FID_BACKENDS = ("pytorch-fid", "torch-fidelity")


def _read(path: Path, crop_panel: int = 1) -> Image.Image:
    with Image.open(path) as image:
        image = image.convert("RGB")
    step = image.width // crop_panel
    return image.crop((image.width - step, 0, image.width, image.height)) if crop_panel > 1 else image


def _tensor(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1)[None].double().div(255)


def _jpeg75(image: Image.Image) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=75)
    return Image.open(buffer).convert("RGB")


def _paired_values(pairs: Sequence[tuple[Path, Path]], crop_panel: int) -> tuple[dict[tuple[str, str, str], list],
                                                                                 int]:  # fmt: skip
    """Per-pair values by (choice, metric, option), and how many pairs needed a resize."""
    values: dict[tuple[str, str, str], list[float]] = {}
    resized = 0

    def add(choice: str, metric: str, option: str, value: float) -> None:
        values.setdefault((choice, metric, option), []).append(value)

    for pred_path, gt_path in pairs:
        pred_image, gt_image = _read(pred_path, crop_panel), _read(gt_path)
        size = pred_image.size
        needs_resize = gt_image.size != size
        resized += needs_resize
        gts = {name: gt_image.resize(size, f) if needs_resize else gt_image for name, f in _FILTERS.items()}
        pred = _tensor(pred_image)
        base = _tensor(gts["bilinear"])
        for variant in MF.SSIM_VARIANTS:
            add("SSIM form", "ssim", variant, float(MF.ssim(pred, base, variant=variant)[0]))
        options = {f"reference {name}": gt for name, gt in gts.items()} if needs_resize else {}
        options |= {"reference as decoded": gts["bilinear"], "reference JPEG q75": _jpeg75(gts["bilinear"])}
        for option, gt in options.items():
            choice = "JPEG round-trip of the reference" if "JPEG" in option or "decoded" in option else "resize filter"
            target = _tensor(gt)
            add(choice, "ssim", option, float(MF.ssim_torchmetrics(pred, target)[0]))
            add(choice, "psnr", option, float(MF.psnr(pred, target)[0]))
    return values, resized


def _fid_rows(fake: Sequence[Path], real: Sequence[Path], weights_dir: str | os.PathLike[str] | None,
              crop_panel: int) -> list[dict[str, Any]]:  # fmt: skip
    rows = []
    for backend in _FID_BACKENDS:
        try:
            extractor = build_feature_extractor(backend, None, weights_dir)
        except MissingWeightsError as err:
            rows.append({"choice": "FID backend", "metric": "fid", "option": backend, "value": float("nan"),
                         "n": 0, "note": f"cannot run: weights absent: {err}"})  # fmt: skip
            continue
        feats = []
        for files, panels in ((fake, crop_panel), (real, 1)):
            with torch.no_grad():
                feats.append(torch.cat([extractor(MF.to_uint8(_tensor(_read(f, panels)))).double() for f in files]))
        value = MF.fid_from_features(feats[1], feats[0], method="spectral")
        rows.append(
            {
                "choice": "FID backend",
                "metric": "fid",
                "option": backend,
                "value": value,
                "n": len(fake),
                "note": f"{len(fake)} predictions vs {len(real)} references, as stored",
            }
        )
    return rows


def sensitivity(
    pairs: Sequence[tuple[Path, Path]],
    fake: Sequence[Path],
    real: Sequence[Path],
    *,
    weights_dir: str | os.PathLike[str] | None = None,
    crop_panel: int = 1,
) -> list[dict[str, Any]]:
    """Rows ``SENSITIVITY_COLUMNS``: the value of each metric under each option of each protocol choice.

    Args:
        pairs: ``(prediction, reference)`` files scored pair by pair.
        fake: the prediction set for FID; ``real`` the reference set.
        weights_dir: searched for the FID weights before the torch hub cache.
        crop_panel: predictions are this many panels side by side; the last one is scored.
    """
    values, resized = _paired_values(pairs, crop_panel)
    rows = [{"choice": choice, "metric": metric, "option": option, "value": float(np.mean(v)), "n": len(v),
             "note": "mean over pairs"} for (choice, metric, option), v in values.items()]  # fmt: skip
    if not resized:
        rows.append({"choice": "resize filter", "metric": "ssim", "option": "-", "value": float("nan"), "n": 0,
                     "note": "cannot run: no reference needs a resize (each has its prediction's size)"})  # fmt: skip
    return rows + _fid_rows(fake, real, weights_dir, crop_panel)
