"""Scoring the ablation's models on the held-out unpaired pairs against the true try-on and the true flow.

Each model's try-ons stay in memory (float, never rounded to uint8) and are scored by ``pftryon eval``'s metric pass
(:class:`bench.eval.TensorScorer`: its SSIM, PSNR and LPIPS objects, its FID, its weights checks) under
:func:`scoring_protocol`; the flow by :func:`bench.metrics.flow.flow_epe`. The table's intervals are the recipe's
bootstrap (:func:`bench.results.bootstrap_ci` at its confidence and resamples), over the per-pair values, and over
paired differences (against no warp, and between neighbours of each ordering).
"""

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
from bench.eval import TensorScorer, TensorScores
from bench.metrics.flow import flow_epe
from bench.metrics.needs import Selection, metric_weights, missing_message, missing_weights
from bench.metrics.weights import WEIGHTS, check_official, resolve_weights
from bench.protocols import FID, LPIPS, SSIM, Protocol
from bench.results import bootstrap_ci
from bench.train.data import split_pairs
from bench.train.recipe import EvalRecipe, Recipe
from bench.train.runs import Run
from pftryon.models import PBAFN, PFAFN, load_pretrained, mask_garment
from pftryon.train.representation import corrupt_parse, noise_generator, person_representation

__all__ = ["NO_WARP", "TUTOR", "Evaluation", "evaluate_models", "prepare_weights", "scoring_protocol"]

TUTOR, NO_WARP = "tutor (PB-AFN)", "no warp"
_OPTIONAL = ("lpips", "fid")  # scored when their weights files are present
_EPE_HOW = {"metric": "flow_epe", "implementation": "bench.metrics.flow.flow_epe",
            "unit": "pixels, mean over the true garment region"}  # fmt: skip


def scoring_protocol(evaluation: EvalRecipe, size: tuple[int, int]) -> Protocol:
    """The ablation's metrics as a protocol: SSIM in the recipe's variant, PSNR, LPIPS with the recipe's trunk and FID
    on torch-fidelity's Inception, at the data's ``size``, nothing resized."""
    variant = evaluation.ssim  # bench.metrics.functional's names; a protocol names skimage's two by their colour
    skimage = variant.startswith("skimage")
    ssim = SSIM("skimage_gaussian" if skimage else variant, grayscale=variant == "skimage_gray")  # type: ignore[arg-type]
    return Protocol(
        name="ablation", version=1, source="bench/ablate/scoring.py (the recipe's evaluation)",
        description="Try-ons held in memory against the exact synthetic truth, at the data's size, nothing resized.",
        dataset="synthetic", resolution=size, metrics=("ssim", "psnr", *_OPTIONAL), ssim=ssim,
        lpips=LPIPS(net=evaluation.lpips_net), fid=FID(backend="torch-fidelity", reference="the true try-ons"),
    )  # fmt: skip


def _optional_weights(protocol: Protocol) -> dict[str, tuple[str, ...]]:
    """``{metric: weights names}`` of the metrics scored only when their weights files are present."""
    return {metric: metric_weights(metric, protocol) for metric in _OPTIONAL}


def prepare_weights(
    recipe: Recipe,
    weights_dir: str | os.PathLike[str] | None,
    *,
    fetch: bool = False,
    allow_unofficial_weights: bool = False,
) -> str | None:
    """Before any work: download the optional metrics' missing weights files when ``fetch`` (``--fetch-weights``),
    check that the present ones are the official files, then one line naming every file still absent (their
    metrics are left out), or ``None``.

    Raises:
        FetchError: ``fetch`` and a file could not be fetched.
        UnofficialWeightsError: a present file is not the official one (unless ``allow_unofficial_weights``).
    """
    protocol = scoring_protocol(recipe.evaluation, recipe.data.size)
    names = tuple(dict.fromkeys(itertools.chain(*_optional_weights(protocol).values())))
    selection = Selection(names=names)
    if fetch:
        from bench.metrics.fetch import fetch_or_raise

        fetch_or_raise(selection, weights_dir)
    missing = missing_weights(names, weights_dir)
    for name in names:
        if name not in missing:
            check_official(name, resolve_weights(name, weights_dir), allow_unofficial_weights)
    return f"{missing_message(missing, weights_dir, selection)}; LPIPS / FID are left out" if missing else None


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


@torch.no_grad()
def _predict(predict: Predictor, test: _TestSet, device: str) -> tuple[Tensor, Tensor]:
    """One model's try-ons ``[N, 3, H, W]`` in [0, 1] and flows ``[N, 2, H, W]`` (the identity where it has none),
    on the CPU."""
    images, flows = [], []
    for batch in test.batches:
        tryon, flow = predict({key: value.to(device) for key, value in batch.items()})
        images.append(((tryon.cpu() + 1) / 2).clamp(0, 1))
        flows.append(_identity_grid(tryon.shape[0], *tryon.shape[-2:]) if flow is None else flow.cpu())
    return torch.cat(images), torch.cat(flows)


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


def _scorer(recipe: Recipe, test: _TestSet, weights_dir: str | os.PathLike[str] | None,
            allow_unofficial_weights: bool) -> tuple[TensorScorer, dict[str, str]]:  # fmt: skip
    """Eval's metric pass against the true try-ons, and why an optional metric is left out (``weights absent:
    <file>``; FID with fewer than two test pairs)."""
    protocol = scoring_protocol(recipe.evaluation, recipe.data.size)
    notes = {}
    for metric, names in _optional_weights(protocol).items():
        missing = missing_weights(names, weights_dir)
        if missing:
            notes[metric] = f"weights absent: {WEIGHTS[missing[0]].filename}"
    if "fid" not in notes and len(test.names) < 2:
        notes["fid"] = f"needs at least 2 test pairs (have {len(test.names)})"
    metrics = [m for m in protocol.metrics if m not in notes]
    # On the CPU whatever the training device and the whole set in one batch, as the ablation has always scored:
    # LPIPS and the FID features (float32 networks) move in the 8th digit with the device and the batch.
    scorer = TensorScorer(test.images, protocol, metrics=metrics, weights_dir=weights_dir,
                          batch_size=max(1, len(test.names)), device="cpu", fid_resamples=0,
                          allow_unofficial_weights=allow_unofficial_weights)  # fmt: skip
    return scorer, notes


def _ci(values: np.ndarray, evaluation: EvalRecipe) -> dict[str, float]:
    mean, low, high = bootstrap_ci(values, confidence=evaluation.confidence, resamples=evaluation.resamples)
    return {"mean": mean, "low": low, "high": high}


def _tabulate(scored: list[tuple[dict[str, Any], dict[str, np.ndarray], TensorScores]], names: list[str],
              trained: dict[str, dict[str, Any]], evaluation: EvalRecipe) -> tuple[list[dict], list[dict]]:  # fmt: skip
    """The table (one entry per model: means with CIs, the paired SSIM difference from no warp, FID, runs, train
    time) and the per-sample rows, from each model's fields, per-pair values and scores (no warp last)."""
    baseline = scored[-1][1]["ssim"]
    table, rows = [], []
    for fields_, values, scores in scored:
        entry = {k: v for k, v in fields_.items() if k != "runs"}
        rows += [{**entry, "pair": name, **{m: float(v[i]) for m, v in values.items()}}
                 for i, name in enumerate(names)]  # fmt: skip
        entry |= {metric: _ci(v, evaluation) for metric, v in values.items()}
        if fields_["variant"] != NO_WARP:
            entry["ssim_minus_no_warp"] = _ci(values["ssim"] - baseline, evaluation)
        fid = scores.metrics["fid"]["value"] if "fid" in scores.metrics else None
        entry |= {"fid": fid, "runs": fields_["runs"],
                  "train_time_s": sum(trained[key]["wall_time_s"] for key in fields_["runs"])}  # fmt: skip
        table.append(entry)
    return table, rows


def _ordering(ssims: list[tuple[str, np.ndarray]], noise: float, evaluation: EvalRecipe) -> dict[str, Any]:
    """The models at one parse noise by mean SSIM, with the paired difference of each from the next."""
    ranked = sorted(ssims, key=lambda item: -item[1].mean())
    gaps = [{"higher": a, "lower": b, "difference": _ci(high - low, evaluation)}
            for (a, high), (b, low) in itertools.pairwise(ranked)]  # fmt: skip
    return {"parse_noise": noise, "order": [name for name, _ in ranked], "gaps": gaps}


@dataclass
class Evaluation:
    """What :func:`evaluate_models` gives the record: one ``table`` entry per model (means with CIs, FID, runs,
    train time), the SSIM ``orderings`` at each parse noise, ``metric_notes`` (what was left out and why),
    ``scoring`` (the protocol, how each metric was computed, warnings), and the per-sample ``rows``."""

    test_pairs: int
    table: list[dict[str, Any]]
    orderings: list[dict[str, Any]]
    metric_notes: dict[str, str]
    scoring: dict[str, Any]
    rows: list[dict[str, Any]]


def evaluate_models(
    recipe: Recipe,
    plan: list[Run],
    trained: dict[str, dict[str, Any]],
    root: Path,
    device: str,
    weights_dir: str | os.PathLike[str] | None,
    *,
    allow_unofficial_weights: bool = False,
    progress: Callable[[str], None] = lambda message: None,
) -> Evaluation:
    """Predict with every model on ``device`` and score it against the truth (see the module docstring).

    Raises:
        UnofficialWeightsError: an optional metric's weights file is not the official one (unless
            ``allow_unofficial_weights``).
    """
    evaluation = recipe.evaluation
    test = _test_set(recipe, root)
    scorer, notes = _scorer(recipe, test, weights_dir, allow_unofficial_weights)
    models = _models(recipe, plan, device)
    scored = []
    for number, (fields_, predict) in enumerate(models, 1):
        noise = "" if fields_["parse_noise"] is None else f" at parse noise {fields_['parse_noise']:g}"
        progress(f"[{number}/{len(models)}] scoring {fields_['variant']}{noise}")
        images, flows = _predict(predict, test, device)
        scores = scorer.score(images)
        values = {"ssim": scores.values["ssim"], "psnr": scores.values["psnr"], "epe": flow_epe(flows, test.flows)}
        values |= {"lpips": scores.values["lpips"]} if "lpips" in scores.values else {}
        scored.append((fields_, {metric: v.numpy() for metric, v in values.items()}, scores))
    table, rows = _tabulate(scored, test.names, trained, evaluation)
    orderings = [_ordering([(e["variant"], v["ssim"]) for (e, v, _) in scored if e["parse_noise"] == noise], noise,
                           evaluation) for noise in recipe.parse_noise]  # fmt: skip
    metrics = scored[-1][2].metrics  # the same metric objects scored every model
    how = {name: entry["how"] for name, entry in metrics.items() if "how" in entry} | {"epe": _EPE_HOW}
    scoring = {"by": "bench.eval.TensorScorer (pftryon eval's metric pass, in memory)",
               "protocol": scorer.protocol.to_dict(), "how": how, "warnings": scorer.warnings}  # fmt: skip
    return Evaluation(len(test.names), table, orderings, notes, scoring, rows)
