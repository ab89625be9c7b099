"""The ablation report: Markdown table with CIs and discussion, CSV, JSON, per-sample rows and loss curves."""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from bench.ablate.convergence import CONVERGENCE_TOLERANCE, MIN_CONVERGENCE_STEPS
from bench.ablate.scoring import NO_WARP, TUTOR
from pftryon.models import atomic_write
from pftryon.train.config import STAGES

__all__ = ["AblationResult", "write_report"]


@dataclass
class AblationResult:
    """What :func:`write_report` needs: the summary (JSON-ready), per-sample rows and the loss curves."""

    summary: dict[str, Any]
    rows: list[dict[str, Any]]
    curves: dict[str, tuple[np.ndarray, np.ndarray]]


_CONVERGED = {True: "yes", False: "no", None: "too short to tell"}


def _fmt(entry: dict[str, float] | None, digits: int) -> str:
    if entry is None:
        return "n/a"
    return f"{entry['mean']:.{digits}f} [{entry['low']:.{digits}f}, {entry['high']:.{digits}f}]"


def _summary_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """One flat row per model (the CSV and the Markdown table)."""
    notes = summary["metric_notes"]
    rows = []
    for entry in summary["table"]:
        row = {k: entry[k] for k in ("variant", "knowledge", "distill", "parse_noise")}
        for metric in ("ssim", "ssim_minus_no_warp", "psnr", "epe", "lpips"):
            for part in ("mean", "low", "high"):
                row[f"{metric}_{part}"] = entry[metric][part] if metric in entry else None
        row["fid"] = entry["fid"] if entry["fid"] is not None else notes.get("fid", "n/a")
        if "lpips" not in entry:
            row["lpips_mean"] = notes.get("lpips", "n/a")
        row["train_time_s"] = entry["train_time_s"]
        rows.append(row)
    return rows


def _ordering(ordering: dict[str, Any]) -> str:
    """``a > b (by d [CI]) ~ c ...``: ``>`` where the paired CI of the SSIM difference excludes 0."""
    text = ordering["order"][0]
    for gap in ordering["gaps"]:
        difference = gap["difference"]
        text += f" {'>' if difference['low'] > 0 else '~'} {gap['lower']} (by {_fmt(difference, 4)})"
    return text


def _discussion(summary: dict[str, Any]) -> str:
    table, runs = summary["table"], summary["runs"]
    lines = [
        f"Ordering by unpaired SSIM at parse noise {o['parse_noise']:g}: {_ordering(o)}; 'by': the paired SSIM "
        "difference from the model before it, '>' where its CI excludes 0, '~' where it does not."
        for o in summary["orderings"]
    ]
    students = [e for e in table if e["variant"] not in (TUTOR, NO_WARP)]
    beat = [e for e in students if e["ssim_minus_no_warp"]["low"] > 0]
    lines.append(
        f"{len(beat)} of {len(students)} students beat the no-warp baseline ({table[-1]['ssim']['mean']:.4f}) on "
        "unpaired SSIM with the CI of the paired difference above 0"
        + ("." if len(beat) == len(students) else f"; not: {', '.join(_label(e) for e in students if e not in beat)}.")
    )
    failed, short = ([r["key"] for r in runs if r["converged"] is verdict] for verdict in (False, None))
    parts = [f"not met by {', '.join(failed)}"] if failed else []
    if short:
        parts.append(f"too short to tell (fewer than {MIN_CONVERGENCE_STEPS} steps) for {', '.join(short)}")
    rule = (
        f"Convergence (the mean loss fell by less than {CONVERGENCE_TOLERANCE:.0%} over the last quarter of the steps)"
    )
    lines.append(f"{rule}: {'; '.join(parts) if parts else 'met by every run'}.")
    return " ".join(lines)


def _label(entry: dict[str, Any]) -> str:
    return entry["variant"] if entry["parse_noise"] is None else f"{entry['variant']} @ {entry['parse_noise']:g}"


_BACKGROUND_NOTE = {
    "varied": "the tutor's generator sees no background (the official PB-AFN inputs keep only face, hair, lower "
    "body and hands), and these synthetic backgrounds vary per person (data.background: varied) where VITON's are "
    "near-uniform, so the tutor paints a mean background and the students, trained on its fake images "
    "(teacher+tutor) or outputs (tutor), learn to do the same; a colour offset on a smooth background costs PSNR "
    "far more than SSIM.",
    "studio": "everyone stands before the same plain backdrop (data.background: studio), as in VITON's photos: the "
    "tutor's generator, which sees no background (the official PB-AFN inputs keep only face, hair, lower body and "
    "hands), can still paint it, so its fake images differ from the real ones in the garment and the body only.",
}


def _steepest(run: dict[str, Any]) -> str:
    falls = run.get("term_falls") or {}
    if not falls:
        return "-"
    name = max(falls, key=lambda k: falls[k])
    return f"{name} {falls[name]:+.0%}"


def _markdown(summary: dict[str, Any]) -> str:
    recipe, timing, notes = summary["recipe"], summary["timing"], summary["metric_notes"]
    lines = [
        f"# Ablation `{recipe['name']}`",
        "",
        recipe["description"].strip(),
        "",
        f"{summary['test_pairs']} held-out unpaired pairs (garment categories "
        f"{', '.join(recipe['data']['categories'])}),"
        f" {summary['train_pairs']} training pairs, {recipe['data']['size'][0]}x{recipe['data']['size'][1]}, width "
        f"{recipe['width']}"
        # Summaries written before the field existed come from runs with the official heads.
        + ("" if recipe.get("scale_flow_heads", False) else " (warp flow heads at the official 128/64/32)")
        + f", perceptual loss: {recipe['perceptual']}"
        + (" (the VGG19 terms of every loss are skipped: no VGG weights)" if recipe["perceptual"] == "none" else "")
        + ".",
        "",
        f"| variant | knowledge | distill | parse noise | SSIM ({recipe['evaluation']['ssim']}) | SSIM - no warp | "
        "PSNR (dB) | flow EPE (px) | LPIPS | FID | train time (s) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for entry in summary["table"]:
        noise = "-" if entry["parse_noise"] is None else f"{entry['parse_noise']:g}"
        lpips = _fmt(entry["lpips"], 4) if "lpips" in entry else notes.get("lpips", "n/a")
        fid = f"{entry['fid']:.2f}" if entry["fid"] is not None else notes.get("fid", "n/a")
        lines.append(
            f"| {entry['variant']} | {entry['knowledge'] or '-'} | {entry['distill'] or '-'} | {noise} | "
            f"{_fmt(entry['ssim'], 4)} | {_fmt(entry.get('ssim_minus_no_warp'), 4)} | {_fmt(entry['psnr'], 2)} | "
            f"{_fmt(entry['epe'], 2)} | {lpips} | {fid} | {entry['train_time_s']:.0f} |"
        )
    lines += [
        "",
        f"Means with {recipe['evaluation']['confidence']:.0%} percentile-bootstrap CIs "
        f"({recipe['evaluation']['resamples']} resamples) over the test pairs. The students see the real test person "
        "and the other garment (no parse). The tutor sees the test person's parse, DensePose (derived from the parse) "
        "and pose, its parse corrupted at the row's noise level. No warp: the in-shop garment pasted over the person "
        "where its mask is; its EPE is that of the identity flow. EPE: mean end-point error in pixels inside the true "
        "garment region, against the true flow. SSIM - no warp: the paired per-pair difference. Train time: the row's "
        "own runs (a student's pf-warp and pf-e2e; the tutor's pb-warp and pb-e2e, shared by every student)"
        + (
            "; the students share a cache of the tutor's outputs, so at each noise level the first student computes "
            "the fake images and the others read them."
            if recipe.get("fake_cache")
            else "."
        ),
        "",
        "## Discussion",
        "",
        _discussion(summary),
        "",
        "What is comparable with the paper: the relative order of variants trained and scored identically here, where "
        "the CIs separate. What is not: the numbers themselves (synthetic data, "
        f"{recipe['data']['size'][0]}x{recipe['data']['size'][1]}, networks at width {recipe['width']}, "
        f"perceptual loss {recipe['perceptual']}, schedules of a few hundred steps instead of 100-200 epochs of "
        "VITON at batch 32); the paper scores FID on VITON, with no ground truth for unpaired try-on.",
        "",
        "Properties of this setup that shape the numbers, whatever the outcome: (1) "
        + _BACKGROUND_NOTE[recipe["data"]["background"]]
        + " (2) DensePose is derived from the clean parse (the layout "
        "has none) and is not corrupted: parse noise reaches the tutor only through its preserve masks, preserve "
        "region and arm masks. (3) With tutor knowledge "
        "the warp target is the tutor's own warp, so adjustable distillation keeps nearly every sample (mean weight "
        "in the convergence table); at a mean weight of 1 it is fixed distillation.",
        "",
        "## Convergence",
        "",
        "| run | steps | early loss | final loss | fall over last quarter | converged | term falling most | "
        "distill weight | time (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in summary["runs"]:
        lines.append(
            f"| {run['key']} | {run['steps']} | {run['early_loss']:.4f} | {run['final_loss']:.4f} | "
            f"{run['last_quarter_fall']:+.1%} | {_CONVERGED[run['converged']]} | {_steepest(run)} | "
            f"{'-' if run['distill_weight_mean'] is None else format(run['distill_weight_mean'], '.3f')} | "
            f"{run['wall_time_s']:.0f} |"
        )
    machine = summary["machine"]
    lines += [
        "",
        "Term falling most: the loss term whose mean fell most (relative) from the third to the last quarter; a "
        "small term can fall fast while the total is flat. Loss curves: `loss_curves.png` (one panel per stage, one "
        "line per run, moving average).",
        "",
        "## Run",
        "",
        f"- total wall time: {timing['total_s']:.0f} s (training {timing['training_s']:.0f} s, evaluation "
        f"{timing['evaluation_s']:.0f} s; budget {timing['budget_s']:.0f} s); summed training time of all runs "
        f"(including earlier sessions): {timing['training_wall_s_all_runs']:.0f} s",
        f"- machine: {machine['cpu']}, {machine['cpu_count']} CPUs, {machine['torch_threads']} torch threads, device "
        f"{summary['device']}; load average (1, 5, 15 min) at start {machine['load_average_start']}, at end "
        f"{machine['load_average_end']}",
        f"- data: {json.dumps(summary['data']['manifest'])}; sha256 {summary['data']['fingerprint_sha256']}",
        f"- metadata: {json.dumps(summary['metadata'])}",
        "",
        "## Recipe",
        "",
        "```yaml",
        yaml.safe_dump(recipe, sort_keys=False, default_flow_style=None, width=120).strip(),
        "```",
        "",
    ]
    return "\n".join(lines)


def _plot(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(STAGES), figsize=(5 * len(STAGES), 4))
    for ax, stage in zip(axes, STAGES, strict=True):
        for key, (steps, losses) in curves.items():
            if key.endswith(f"/{stage}"):
                window = max(1, len(losses) // 20)
                smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
                ax.plot(steps[window - 1 :], smooth, label=key.removesuffix(f"/{stage}"), linewidth=1)
        ax.set(title=stage, xlabel="step", ylabel="loss (moving average)")
        ax.legend(fontsize=6)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    atomic_write(path, buffer.getvalue())


def write_report(result: AblationResult, out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write ``ablation.{md,csv,json}``, ``per_sample.csv`` and ``loss_curves.png`` into ``out_dir``."""
    import pandas as pd

    out = Path(out_dir)
    paths = [
        out / name for name in ("ablation.md", "ablation.csv", "per_sample.csv", "ablation.json", "loss_curves.png")
    ]
    atomic_write(paths[0], _markdown(result.summary))
    atomic_write(paths[1], pd.DataFrame(_summary_rows(result.summary)).to_csv(index=False))
    atomic_write(paths[2], pd.DataFrame(result.rows).to_csv(index=False))
    atomic_write(paths[3], json.dumps(result.summary, indent=2) + "\n")
    _plot(result.curves, paths[4])
    return paths
