"""Scoring the ablation's models on the held-out unpaired pairs against the true try-on and the true flow."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader

from bench.data.readers import read_rgb
from bench.metrics import functional as MF
from bench.metrics.flow import flow_epe
from bench.metrics.needs import Selection, missing_message, missing_weights
from bench.metrics.weights import WEIGHTS, MissingWeightsError, build_inception, build_lpips
from bench.results import bootstrap_ci
from bench.train.data import split_pairs
from bench.train.recipe import EvalRecipe, Recipe
from bench.train.runs import Run
from pftryon.models import PBAFN, PFAFN, load_pretrained, mask_garment
from pftryon.train.representation import corrupt_parse, noise_generator, person_representation

__all__ = ["NO_WARP", "TUTOR", "evaluate_models", "prepare_weights"]

TUTOR, NO_WARP = "tutor (PB-AFN)", "no warp"


def _identity_grid(batch: int, height: int, width: int) -> Tensor:
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, height), torch.linspace(-1, 1, width), indexing="ij")
    return torch.stack([xs, ys]).expand(batch, 2, height, width)


@dataclass
class _TestSet:
    batches: list[dict[str, Tensor]]
    names: list[str]
    images: Tensor  # true try-on images [N, 3, H, W] in [0, 1]
    flows: Tensor  # true flows [N, 2, H, W], NaN outside the garment


def _test_set(recipe: Recipe, root: Path) -> _TestSet:
    split = recipe.evaluation.split
    pairs, names = split_pairs(recipe.data, root, split, "unpaired", recipe.seed)
    truth = root / "_truth" / split
    missing = [n for n in names if not (truth / "tryon" / f"{n}.png").is_file()]
    if missing:
        raise ValueError(f"{truth}: no ground truth for {len(missing)} unpaired pairs (first: {missing[0]})")
    images = torch.stack([(read_rgb(truth / "tryon" / f"{n}.png") + 1) / 2 for n in names])
    flows = torch.stack([torch.from_numpy(np.load(truth / "flow" / f"{n}.npy").astype(np.float32)) for n in names])
    loader = DataLoader(pairs, batch_size=recipe.evaluation.batch_size)
    return _TestSet(list(loader), names, images.clamp(0, 1), flows.permute(0, 3, 1, 2))


Predictor = Callable[[dict[str, Tensor]], tuple[Tensor, Tensor | None]]


def _student(model: PFAFN) -> Predictor:
    def predict(batch: dict[str, Tensor]) -> tuple[Tensor, Tensor | None]:
        out = model(batch["person"], *mask_garment(batch["cloth"], batch["cloth_mask"]))
        return out["tryon"], out["flow"]

    return predict


def _tutor(model: PBAFN, noise: float, seed: int) -> Predictor:
    """The tutor on the test person's parse (corrupted per sample from ``(seed, index)`` when ``noise > 0``)."""

    def predict(batch: dict[str, Tensor]) -> tuple[Tensor, Tensor | None]:
        parse = batch["parse"]
        if noise > 0:  # corrupt_parse draws from a CPU generator
            noisy = [
                corrupt_parse(p.cpu(), noise, noise_generator(seed, int(i)))
                for p, i in zip(parse, batch["index"], strict=True)
            ]
            parse = torch.stack(noisy).to(parse.device)
        rep = person_representation(parse, batch["densepose"], batch["person"], batch["pose"])
        clothes, edge = mask_garment(batch["cloth"], batch["cloth_mask"])
        out = model(rep.condition, clothes, edge, rep.preserve_region, rep.dense_arms)
        return out["tryon"], out["flow"]

    return predict


def _no_warp(batch: dict[str, Tensor]) -> tuple[Tensor, Tensor | None]:
    clothes, edge = mask_garment(batch["cloth"], batch["cloth_mask"])
    return batch["person"] * (1 - edge) + clothes * edge, None


def _weights(net: str) -> dict[str, str]:
    """``{metric: weights name}`` of the optional metrics: LPIPS with trunk ``net``, FID with torch-fidelity's
    Inception."""
    return {"lpips": net, "fid": "inception"}


def prepare_weights(recipe: Recipe, weights_dir: str | os.PathLike[str] | None, *, fetch: bool = False) -> str | None:
    """Before any work: download the optional metrics' missing weights files when ``fetch`` (``--fetch-weights``),
    then one line naming every file still absent (their metrics are left out), or ``None``.

    Raises:
        FetchError: ``fetch`` and a file could not be fetched.
    """
    selection = Selection(names=tuple(_weights(recipe.evaluation.lpips_net).values()))
    if fetch:
        from bench.metrics.fetch import fetch_or_raise

        fetch_or_raise(selection, weights_dir)
    missing = missing_weights(selection.names, weights_dir)
    return f"{missing_message(missing, weights_dir, selection)}; LPIPS / FID are left out" if missing else None


@dataclass
class _OptionalMetrics:
    """LPIPS and FID models when their weights are present, else why not (``weights absent: <file>``)."""

    lpips: torch.nn.Module | None
    inception: torch.nn.Module | None
    notes: dict[str, str]

    @classmethod
    def build(cls, net: str, weights_dir: str | os.PathLike[str] | None) -> _OptionalMetrics:
        builders = {
            "lpips": lambda: build_lpips(net, "lpips", weights_dir),
            "fid": lambda: build_inception(weights_dir),
        }
        models, notes = {}, {}
        for metric, name in _weights(net).items():
            try:
                models[metric] = builders[metric]()
            except MissingWeightsError:
                models[metric] = None
                notes[metric] = f"weights absent: {WEIGHTS[name].filename}"
        return cls(models["lpips"], models["fid"], notes)


@torch.no_grad()
def _score(
    predict: Predictor, test: _TestSet, optional: _OptionalMetrics, ssim_variant: str, device: str
) -> dict[str, Any]:
    """Per-sample SSIM, PSNR, EPE (and LPIPS) of one model, and its FID over the set when computable."""
    images, flows = [], []
    for batch in test.batches:
        tryon, flow = predict({key: value.to(device) for key, value in batch.items()})
        images.append(((tryon.cpu() + 1) / 2).clamp(0, 1))
        flows.append(_identity_grid(tryon.shape[0], *tryon.shape[-2:]) if flow is None else flow.cpu())
    preds = torch.cat(images)
    values = {
        "ssim": MF.ssim(preds, test.images, variant=ssim_variant).numpy(),
        "psnr": MF.psnr(preds, test.images).numpy(),
        "epe": flow_epe(torch.cat(flows), test.flows).numpy(),
    }
    if optional.lpips is not None:
        values["lpips"] = MF.lpips(preds, test.images, net=optional.lpips.pnet_type, model=optional.lpips).numpy()
    fid = None
    if optional.inception is not None and len(preds) > 1:
        real, fake = (optional.inception(MF.to_uint8(x)) for x in (test.images, preds))
        fid = MF.fid_from_features(real, fake)
    return {"per_sample": values, "fid": fid}


def _fields(
    variant: str, knowledge: str | None, distill: str | None, noise: float | None, runs: list[Run]
) -> dict[str, Any]:
    return {"variant": variant, "knowledge": knowledge, "distill": distill, "parse_noise": noise,
            "runs": [run.key for run in runs]}  # fmt: skip


def _models(recipe: Recipe, plan: list[Run], device: str) -> list[tuple[dict[str, Any], Predictor]]:
    """Every scored model with its table fields (and the runs that trained it): the students, the tutor at
    each noise level, no warp (a recipe's baselines are scored by the suite, not here)."""
    tutor_runs = [run for run in plan if run.key.startswith("tutor/")]
    tutor = load_pretrained(tutor_runs[-1].model).to(device).eval()
    entries: list[tuple[dict[str, Any], Predictor]] = []
    for noise in recipe.parse_noise:
        for v in recipe.variants:
            runs = [run for run in plan if run.variant == v and run.parse_noise == noise]
            student = load_pretrained(runs[-1].model).to(device).eval()
            entries.append((_fields(v.name, v.knowledge, v.distill, noise, runs), _student(student)))
        entries.append((_fields(TUTOR, "parse-based", None, noise, tutor_runs), _tutor(tutor, noise, recipe.seed)))
    entries.append((_fields(NO_WARP, None, None, None, []), _no_warp))
    return entries


def _ci(values: np.ndarray, evaluation: EvalRecipe) -> dict[str, float]:
    mean, low, high = bootstrap_ci(values, confidence=evaluation.confidence, resamples=evaluation.resamples)
    return {"mean": mean, "low": low, "high": high}


def evaluate_models(
    recipe: Recipe,
    plan: list[Run],
    trained: dict[str, dict[str, Any]],
    root: Path,
    device: str,
    weights_dir: str | os.PathLike[str] | None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Score every model: the summary's ``table``, ``orderings``, ``metric_notes`` (what was left out and why)
    and ``test_pairs``; and the per-sample rows."""
    evaluation = recipe.evaluation
    test = _test_set(recipe, root)
    optional = _OptionalMetrics.build(evaluation.lpips_net, weights_dir)
    scored = [(fields_, _score(predict, test, optional, evaluation.ssim, device))
              for fields_, predict in _models(recipe, plan, device)]  # fmt: skip
    baseline = scored[-1][1]["per_sample"]["ssim"]
    table, rows, ssims = [], [], []
    for fields_, score in scored:
        values = score["per_sample"]
        entry = {k: v for k, v in fields_.items() if k != "runs"}
        rows += [{**entry, "pair": name, **{m: float(v[i]) for m, v in values.items()}}
                 for i, name in enumerate(test.names)]  # fmt: skip
        entry |= {metric: _ci(v, evaluation) for metric, v in values.items()}
        if fields_["variant"] != NO_WARP:
            entry["ssim_minus_no_warp"] = _ci(values["ssim"] - baseline, evaluation)
        entry |= {"fid": score["fid"], "runs": fields_["runs"],
                  "train_time_s": sum(trained[key]["wall_time_s"] for key in fields_["runs"])}  # fmt: skip
        table.append(entry)
        ssims.append((entry["variant"], entry["parse_noise"], values["ssim"]))
    orderings = []
    for noise in recipe.parse_noise:
        ranked = sorted((item for item in ssims if item[1] == noise), key=lambda item: -item[2].mean())
        gaps = [{"higher": a, "lower": b, "difference": _ci(high - low, evaluation)}
                for (a, _, high), (b, _, low) in itertools.pairwise(ranked)]  # fmt: skip
        orderings.append({"parse_noise": noise, "order": [item[0] for item in ranked], "gaps": gaps})
    evaluated = {"test_pairs": len(test.names), "table": table, "orderings": orderings,
                 "metric_notes": optional.notes}  # fmt: skip
    return evaluated, rows
