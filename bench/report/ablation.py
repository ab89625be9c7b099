"""The ablation report: Markdown table with CIs and discussion, CSV, JSON, per-sample rows, loss curves and a page.

``index.html`` is rendered from the same summary as ``ablation.md`` (same table cells, notes and discussion) in the
suite page's shell (:func:`bench.report.html.page_html`), its images embedded; :func:`rerender` redraws it from a
finished report folder without retraining.
"""

from __future__ import annotations

import base64
import io
import json
import os
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from bench.ablate import AblationResult
from bench.ablate.scoring import NO_WARP, TUTOR
from bench.records import read_record
from bench.report.comparisons import comparisons_html
from bench.report.html import figure_html, page_html, value_html
from bench.results import bootstrap_ci
from bench.runtime import atomic_write
from bench.stats import Comparisons, compare, write_comparisons
from bench.train.convergence import CONVERGENCE_TOLERANCE, MIN_CONVERGENCE_STEPS
from pftryon.train.config import STAGES

__all__ = ["rerender", "write_report"]

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


def _main_table(summary: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The main table's header and cells (shared by ablation.md and index.html)."""
    recipe, notes = summary["recipe"], summary["metric_notes"]
    header = ["variant", "knowledge", "distill", "parse noise", f"SSIM ({recipe['evaluation']['ssim']})",
              "SSIM - no warp", "PSNR (dB)", "flow EPE (px)", "LPIPS", "FID", "train time (s)"]  # fmt: skip
    rows = []
    for entry in summary["table"]:
        noise = "-" if entry["parse_noise"] is None else f"{entry['parse_noise']:g}"
        lpips = _fmt(entry["lpips"], 4) if "lpips" in entry else notes.get("lpips", "n/a")
        fid = f"{entry['fid']:.2f}" if entry["fid"] is not None else notes.get("fid", "n/a")
        rows.append([
            entry["variant"], entry["knowledge"] or "-", entry["distill"] or "-", noise, _fmt(entry["ssim"], 4),
            _fmt(entry.get("ssim_minus_no_warp"), 4), _fmt(entry["psnr"], 2), _fmt(entry["epe"], 2), lpips, fid,
            f"{entry['train_time_s']:.0f}",
        ])  # fmt: skip
    return header, rows


def _convergence_table(summary: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The convergence table's header and cells (shared by ablation.md and index.html)."""
    header = ["run", "steps", "early loss", "final loss", "fall over last quarter", "converged", "term falling most",
              "distill weight", "time (s)"]  # fmt: skip
    rows = [
        [
            run["key"],
            str(run["steps"]),
            f"{run['early_loss']:.4f}",
            f"{run['final_loss']:.4f}",
            f"{run['last_quarter_fall']:+.1%}",
            _CONVERGED[run["converged"]],
            _steepest(run),
            "-" if run["distill_weight_mean"] is None else format(run["distill_weight_mean"], ".3f"),
            f"{run['wall_time_s']:.0f}",
        ]  # fmt: skip
        for run in summary["runs"]
    ]
    return header, rows


def _markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def _table_notes(recipe: dict[str, Any]) -> str:
    """What the main table's cells are (under the table in ablation.md and index.html)."""
    return (
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
        )
    )


def _markdown(summary: dict[str, Any]) -> str:
    recipe, timing, machine = summary["recipe"], summary["timing"], summary["machine"]
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
        *_markdown_table(*_main_table(summary)),
        "",
        _table_notes(recipe),
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
        *_markdown_table(*_convergence_table(summary)),
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


def _plot(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path) -> bytes:
    plt = _pyplot()
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
    return buffer.getvalue()


def _pyplot():  # noqa: ANN202
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _paired_differences(summary: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, list[tuple[str, dict]]]:
    """Each student's paired SSIM difference, with its CI: against no warp (from the summary) and against the tutor
    at the same parse noise (from the per-sample rows, bootstrapped as the summary's CIs are)."""
    evaluation = summary["recipe"]["evaluation"]

    def noise(row: dict[str, Any]) -> float | None:
        value = row.get("parse_noise")
        return None if value is None or value != value else float(value)  # NaN: read back from per_sample.csv

    ssim: dict[tuple[str, float | None], dict[str, float]] = {}
    for row in rows:
        ssim.setdefault((row["variant"], noise(row)), {})[str(row["pair"])] = float(row["ssim"])
    students = [e for e in summary["table"] if e["variant"] not in (TUTOR, NO_WARP)]
    differences: dict[str, list[tuple[str, dict]]] = {"no warp": [], "the tutor": []}
    for entry in students:
        differences["no warp"].append((_label(entry), entry["ssim_minus_no_warp"]))
        own, tutor = ssim.get((entry["variant"], entry["parse_noise"])), ssim.get((TUTOR, entry["parse_noise"]))
        if own and tutor and set(own) == set(tutor):
            values = np.array([own[pair] - tutor[pair] for pair in sorted(own)])
            mean, low, high = bootstrap_ci(values, confidence=evaluation["confidence"],
                                           resamples=evaluation["resamples"])  # fmt: skip
            differences["the tutor"].append((_label(entry), {"mean": mean, "low": low, "high": high}))
    return {k: v for k, v in differences.items() if v}


def _difference_chart(differences: dict[str, list[tuple[str, dict]]], confidence: float) -> bytes:
    """One panel per reference, one point per student with its CI as error bars; a dashed line at 0."""
    plt = _pyplot()
    height = 0.45 * max(len(v) for v in differences.values()) + 1.4
    fig, axes = plt.subplots(1, len(differences), figsize=(6 * len(differences), height), squeeze=False)
    for ax, (reference, entries) in zip(axes[0], differences.items(), strict=True):
        labels = [label for label, _ in entries][::-1]
        means = np.array([d["mean"] for _, d in entries][::-1])
        errors = np.array([[d["mean"] - d["low"] for _, d in entries], [d["high"] - d["mean"] for _, d in entries]])
        y = np.arange(len(labels))
        colours = ["#2456a6" if d["low"] > 0 else "#a02020" if d["high"] < 0 else "#7a808c" for _, d in entries]
        ax.barh(y, means, xerr=errors[:, ::-1], color=colours[::-1], alpha=0.8, capsize=3, height=0.6)
        ax.axvline(0, color="black", linewidth=0.8, linestyle="--")
        ax.set_yticks(y, labels, fontsize=8)
        ax.set(title=f"SSIM - {reference} (paired, {confidence:.0%} CI)", xlabel="SSIM difference (higher is better)")
        ax.grid(axis="x", alpha=0.3)
        ax.locator_params(axis="x", nbins=5)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


# The main table's direction per column (index.html's header): higher (↑) or lower (↓) is better.
_DIRECTIONS = ("", "", "", "", " ↑", " ↑", " ↑", " ↓", " ↓", " ↓", "")


def _cells_html(cells: list[str], numeric_from: int, notes: dict[str, str]) -> str:
    """Table cells; ``mean [low, high]`` shows the CI on a second line and a metric note (``notes``: note -> marker)
    shows as n/a with its marker, as on the suite page."""
    parts = []
    for i, cell in enumerate(cells):
        value, _, ci = cell.partition(" [")
        if i < numeric_from:
            parts.append(f"<td>{escape(cell)}</td>")
        elif cell in notes:
            parts.append(f'<td class="num na">n/a<sup>{notes[cell]}</sup></td>')
        elif ci.endswith("]"):
            parts.append(f'<td class="num">{escape(value)}<span class="ci">[{escape(ci)}</span></td>')
        else:
            parts.append(f'<td class="num">{escape(cell)}</td>')
    return "".join(parts)


def _table_html(
    header: list[str], rows: list[list[str]], numeric_from: int, table_id: str, notes: dict[str, str] | None = None
) -> str:
    """A table of header and cells (the first ``numeric_from`` columns are text), with any metric notes below it."""
    notes = notes or {}
    head = "".join(
        f"<th>{escape(label)}</th>" if i < numeric_from else f'<th class="num">{escape(label)}</th>'
        for i, label in enumerate(header)
    )
    body = "".join(f"<tr>{_cells_html(row, numeric_from, notes)}</tr>" for row in rows)
    used = [
        f"<li>[{marker}] n/a: {escape(note)}</li>" for note, marker in notes.items() if any(note in r for r in rows)
    ]
    return (
        f'<div class="scroll"><table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'
        + (f'<ul class="footnotes plain">{"".join(used)}</ul>' if used else "")
    )


def _how_to_read(summary: dict[str, Any]) -> str:
    recipe = summary["recipe"]
    variants = "".join(
        f"<li><b>{escape(v['name'])}</b>: knowledge {escape(v['knowledge'])}, distillation {escape(v['distill'])}</li>"
        for v in recipe["variants"]
    )
    noise = ", ".join(f"{n:g}" for n in recipe["parse_noise"])
    return (
        "<p>The data are synthetic, with exact ground truth: every unpaired try-on and every garment flow is known, "
        "so SSIM, PSNR and flow EPE are measured against the true image and flow (no ground truth exists for unpaired "
        "try-on on real photos, which is why the paper scores FID). Each student is a PF-AFN (parser-free) trained "
        "from the PB-AFN tutor:</p>"
        f'<ul class="plain">{variants}</ul>'
        '<ul class="plain">'
        "<li><b>knowledge</b>: <i>teacher+tutor</i> is PF-AFN's (the tutor's fake images as input, the real image as "
        "target); <i>tutor</i> learns from the tutor's outputs only (WUTON-style).</li>"
        "<li><b>distillation</b>: <i>adjustable</i> keeps the warp-feature distillation only where the tutor's warp "
        "is better than the student's; <i>fixed</i> always keeps it; <i>none</i> drops it.</li>"
        f"<li><b>parse noise</b> ({escape(noise)}): how much the tutor's parse is corrupted; the students never see "
        "a parse, so noise reaches them only through the tutor.</li>"
        f"<li><b>{escape(TUTOR)}</b> and <b>{escape(NO_WARP)}</b> are the references: the tutor itself (with the "
        "parse) and the in-shop garment pasted over the person without warping.</li></ul>"
        "<p>Columns: SSIM ↑ and PSNR ↑ against the true try-on; SSIM - no warp ↑ the paired per-pair difference from "
        "the no-warp baseline; flow EPE ↓ the end-point error of the garment flow in pixels; LPIPS ↓ and FID ↓ where "
        "their weights were present; train time the row's own runs. Each cell is the mean over the test pairs with "
        "its bootstrap CI below it.</p>"
    )


_METRICS = ("ssim", "psnr", "epe", "lpips")  # the per-sample columns of per_sample.csv


def _scores(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, dict[str, float]]]:
    """``per_sample.csv`` rows as :func:`bench.stats.compare` takes them: one row per variant and parse noise."""
    scores: dict[tuple[str, str], dict[str, dict[str, float]]] = {}
    for row in rows:
        noise = row.get("parse_noise")
        name = row["variant"] if noise is None or noise != noise else f"{row['variant']} @ {noise:g}"
        per = scores.setdefault((name, "exact-truth"), {})
        for metric in _METRICS:
            if metric in row:
                per.setdefault(metric, {})[str(row["pair"])] = float(row[metric])
    return scores


def comparisons(summary: dict[str, Any], rows: list[dict[str, Any]]) -> Comparisons:
    """Every two rows compared on each per-sample metric (paired bootstrap CI, permutation p, Holm over the table),
    at the recipe's bootstrap settings."""
    evaluation = summary["recipe"]["evaluation"]
    return compare(_scores(rows), resamples=evaluation["resamples"], confidence=evaluation["confidence"],
                   seed=summary["recipe"]["seed"])  # fmt: skip


def _page(summary: dict[str, Any], rows: list[dict[str, Any]], loss_curves: bytes | None,
          compared: Comparisons) -> str:  # fmt: skip
    """``index.html``: how to read it, the table, the paired differences, loss curves, the comparisons' matrices,
    convergence, provenance."""
    recipe = summary["recipe"]
    header, cells = _main_table(summary)
    notes = {note: chr(ord("a") + i) for i, note in enumerate(dict.fromkeys(summary["metric_notes"].values()))}
    directed = [h + d for h, d in zip(header, _DIRECTIONS, strict=True)]
    main = _table_html(directed, cells, 4, "ablation-table", notes)
    sections = [
        ("how-to-read", "How to read it", _how_to_read(summary)),
        ("results", "Results", main + f'<p class="legend">{escape(_table_notes(recipe))}</p>'
         + f"<h3>Discussion</h3><p>{escape(_discussion(summary))}</p>"),
    ]  # fmt: skip
    differences = _paired_differences(summary, rows)
    if differences:
        chart = _difference_chart(differences, recipe["evaluation"]["confidence"])
        caption = (
            "Each student's paired SSIM difference (mean over the test pairs, bar; bootstrap CI, error bar) against "
            "the no-warp baseline and against the tutor at the same parse noise. Blue: the CI lies above 0; red: "
            "below 0; grey: it contains 0."
        )
        sections.append(("differences", "Paired differences", figure_html(_data_uri(chart), "paired differences",
                                                                           caption)))  # fmt: skip
    if loss_curves is not None:
        caption = "One panel per stage, one line per run, moving average of the training loss."
        sections.append(("loss-curves", "Loss curves", figure_html(_data_uri(loss_curves), "loss curves", caption)))
    if compared.rows:
        matrices = comparisons_html(compared.rows, directions={"epe": False}, notes=compared.notes)
        sections.append(("comparisons", "Paired comparisons", matrices))
    sections.append(("convergence", "Convergence", _table_html(*_convergence_table(summary), 1, "convergence-table")
                     + f'<p class="legend">{escape(_TERM_NOTE)}</p>'))  # fmt: skip
    provenance = {
        "metadata": summary["metadata"], "seed": recipe["seed"], "data seed": recipe["data"]["seed"],
        "data": summary["data"], "timing": summary["timing"], "machine": summary["machine"],
        "device": summary["device"], "metric notes": summary["metric_notes"],
    } | ({"scoring": summary["scoring"]} if "scoring" in summary else {})  # fmt: skip
    recipe_yaml = yaml.safe_dump(recipe, sort_keys=False, default_flow_style=None, width=120).strip()
    details = (
        "<details><summary>recipe, seeds, versions, commit, data, machine</summary>"
        f"{value_html(provenance)}<h3>Recipe</h3><pre>{escape(recipe_yaml)}</pre></details>"
    )
    sections.append(("provenance", "Provenance", details))
    meta = summary["metadata"]
    facts = [f"{k}: {escape(str(meta[k]))}" for k in ("date", "git_commit") if meta.get(k)]
    facts.append(f"device: {escape(str(summary['device']))}")
    lead = f'<p class="lead">{escape(recipe["description"].strip())}</p>'
    return page_html(f"pftryon ablation: {recipe['name']}", sections, lead=lead, facts=facts, extra_css=_CSS)


_TERM_NOTE = (
    "Term falling most: the loss term whose mean fell most (relative) from the third to the last quarter; a small "
    "term can fall fast while the total is flat."
)
_CSS = """
details summary { cursor: pointer; color: var(--accent); }
#ablation-table td:first-child, #convergence-table td:first-child { white-space: nowrap; }
#ablation-table th, #ablation-table td { padding: 5px 7px; }
#ablation-table thead th { white-space: normal; vertical-align: bottom; }
pre { background: var(--band); padding: 10px; overflow-x: auto; font-size: 0.85em; }
"""


def write_report(result: AblationResult, out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write ``ablation.{md,csv,json}``, ``per_sample.csv``, ``comparisons.csv``, ``loss_curves.png`` and
    ``index.html`` into ``out_dir``."""
    import pandas as pd

    out = Path(out_dir)
    paths = [
        out / name
        for name in ("ablation.md", "ablation.csv", "per_sample.csv", "ablation.json", "loss_curves.png", "index.html")
    ]
    compared = comparisons(result.summary, result.rows)
    paths.append(write_comparisons(out / "comparisons.csv", compared.rows))
    atomic_write(paths[0], _markdown(result.summary))
    atomic_write(paths[1], pd.DataFrame(_summary_rows(result.summary)).to_csv(index=False))
    atomic_write(paths[2], pd.DataFrame(result.rows).to_csv(index=False))
    atomic_write(paths[3], json.dumps(result.summary, indent=2) + "\n")
    curves = _plot(result.curves, paths[4])
    atomic_write(paths[5], _page(result.summary, result.rows, curves, compared))
    return paths


def rerender(folder: str | os.PathLike[str]) -> Path:
    """Redraw ``index.html`` of a finished report from its ``ablation.json``, ``per_sample.csv`` and
    ``loss_curves.png`` (the last two optional), without retraining, and write ``comparisons.csv`` (the paired
    comparisons, computed again from ``per_sample.csv``); the other files are left alone.

    Args:
        folder: a report folder written by ``pftryon ablate``.

    Returns:
        The path of the page.

    Raises:
        FileNotFoundError: when ``folder`` has no ``ablation.json``.
        InputError: ``ablation.json`` is not an ablation record this code reads (:func:`bench.records.read_record`).
    """
    import pandas as pd

    out = Path(folder)
    summary_path = out / "ablation.json"
    if not summary_path.is_file():
        raise FileNotFoundError(f"{summary_path} not found: rerender needs a folder written by `pftryon ablate`")
    summary = read_record(summary_path, "ablation")
    per_sample, curves = out / "per_sample.csv", out / "loss_curves.png"
    rows = pd.read_csv(per_sample, dtype={"pair": str}).to_dict("records") if per_sample.is_file() else []
    page = out / "index.html"
    compared = comparisons(summary, rows)
    write_comparisons(out / "comparisons.csv", compared.rows)
    atomic_write(page, _page(summary, rows, curves.read_bytes() if curves.is_file() else None, compared))
    return page
