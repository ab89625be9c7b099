"""The Markdown pages of ``pftryon eval``: ``summary.md`` (the numbers, then how and on what they were computed),
``protocols.md`` (the same images under every protocol) and ``sensitivity.md`` (how much each protocol choice moves
the numbers). They read the summaries and rows of :mod:`bench.eval` (plain dicts), never the images."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bench.metrics.specs import metric_spec
from bench.protocols import EXTRA_METRICS, METRIC_NAMES, hxw

__all__ = ["cross_protocol_table", "sensitivity_markdown", "summary_markdown"]


def _how(entry: dict[str, Any]) -> str:
    how = entry["how"]
    parts = [how.get("variant") or how.get("backbone") or how.get("implementation") or ""]
    if how.get("reproduces"):
        parts.append(how["reproduces"])
    return "; ".join(p for p in parts if p).replace("|", "/")


def _side_line(label: str, side: dict[str, Any]) -> str:
    before, after = ", ".join(side["sizes_before"]) or "-", ", ".join(side["sizes_after"]) or "-"
    line = f"- {label}: {side['files']} file(s), {before} -> {after}, filter {side['filter']}, " \
        f"{side['resized']['count']} resized"  # fmt: skip
    if side.get("jpeg_reencoded"):
        line += f", {side['jpeg_reencoded']['count']} re-encoded as JPEG quality {side['jpeg_reencoded']['quality']}"
    return line


def _matching_lines(matching: dict[str, Any]) -> list[str]:
    lines = []
    for which, entry in (("paired", matching), ("unpaired", matching.get("unpaired"))):
        if not entry:
            continue
        unmatched, extra = entry["unmatched"], entry["extra_predictions"]
        rule = f" (matched by {entry['rule']})" if entry.get("rule") else ""
        lines += [
            f"- {which} list: {entry['pair_list']}{rule}; {entry['predictions_found']} prediction(s) and "
            f"{entry['references_found']} reference(s) found, {entry['matched']} of {entry['listed']} listed pairs "
            f"matched ({entry['scored_fraction']:.1%} scored)",
            f"  - unmatched: {unmatched['count']}" + (f" (first: {', '.join(unmatched['first'])})" if unmatched[
                "count"] else ""),
            f"  - predictions not in the list: {extra['count']}" + (f" (first: {', '.join(extra['first'])})" if extra[
                "count"] else ""),
        ]  # fmt: skip
        for key, label in (("matched_by_line_order", "matched by line order"), ("stems_differ", "file stems differ")):
            counted = entry.get(key)
            if counted and counted["count"]:
                lines.append(f"  - {label}: {counted['count']} (first: {', '.join(counted['first'])})")
    return lines


def _pairing_lines(check: dict[str, Any]) -> list[str]:
    """The pairing check in the Matching section: its verdict, then the test and statistic it used."""
    return [f"- {check['verdict']}", f"  - test: {check['test']}", f"  - statistic: {check['statistic']}"]


def summary_markdown(summary: dict[str, Any]) -> str:
    """The summary as a Markdown report: the numbers, then exactly how and on what they were computed."""
    protocol, inputs, run = summary["protocol"], summary["inputs"], summary["run"]
    additions = set(protocol.get("additions", ()))
    pairing = inputs.get("pairing_check")
    failed = [f"**Warning: {pairing['verdict']}.**", ""] if pairing and pairing["status"] == "flagged" else []
    lines = [
        f"# pftryon eval: protocol `{protocol['name']}` (version {protocol['version']})", "", *failed,
        f"{protocol['description']}", "", f"Source: {protocol['source']}", "",
        "| metric | value | uncertainty | n | computed as |", "|---|---|---|---|---|",
    ]  # fmt: skip
    for name, entry in summary["metrics"].items():
        spec = metric_spec(name)
        value, spread = spec.text(entry)
        n = entry.get("n") or (f"{entry['n_fake']} vs {entry['n_real']}" if "n_fake" in entry else "")
        label = spec.label + (" (pftryon addition)" if name in additions or name in EXTRA_METRICS else "")
        lines.append(f"| {label} | {value} | {spread} | {n} | {_how(entry) if 'how' in entry else ''} |")
    warnings = [f"- {w}" for w in summary.get("warnings", [])]
    warnings += [f"- {metric_spec(n).label}: {e['warning']}" for n, e in summary["metrics"].items()
                 if e.get("warning")]  # fmt: skip
    lines += ["", *(["Warnings:", "", *warnings, ""] if warnings else [])]
    resize = inputs.get("resize")
    if resize:
        size = hxw(resize["evaluation_size"])
        published = hxw(resize["published_size"])
        lines += [
            "## Resizing", "", resize["rule"], "",
            f"- evaluation size: {size}, chosen by {resize['chosen_by']} (published: {published})",
            _side_line("predictions", resize["predictions"]), _side_line("ground truth", resize["ground_truth"]),
            f"- FID/KID predictions: {resize['fid_predictions']}; reference set: {resize['fid_reference']}",
            *([f"- LPIPS: {resize['lpips']}"] if resize["lpips"] else []), "",
        ]  # fmt: skip
    if inputs.get("matching") or pairing:
        lines += ["## Matching", "", *_matching_lines(inputs.get("matching") or {}),
                  *(_pairing_lines(pairing) if pairing else []), ""]  # fmt: skip
    skip = {"image_sets", "matching", "pairing_check", "resize"}
    lines += ["## Inputs", ""] + [f"- {k}: {v}" for k, v in inputs.items() if k not in skip]
    sets = inputs["image_sets"].items()
    lines += [f"- image set `{k}`: {v['files']} files, sha256 {v['sha256'][:16]}" for k, v in sets]
    versions = ", ".join(f"{k} {v}" for k, v in run["versions"].items())
    lines += ["", "## Run", "", f"- date: {run['date']}", f"- commit: {run['git_commit']}",
              f"- device: {run['device']}", f"- processes: {run['processes']}", f"- versions: {versions}",
              "", "Full protocol and metric descriptions: summary.json.", ""]  # fmt: skip
    return "\n".join(lines)


def cross_protocol_table(results: dict[str, Any]) -> str:
    """Markdown table of the same images under several protocols (``{protocol: EvalResult}``, a string value: why it
    was skipped); one column per metric any protocol computed."""
    scored = [r.summary["metrics"] for r in results.values() if not isinstance(r, str)]
    columns = [m for m in METRIC_NAMES if any(m in entries for entries in scored)]
    lines = ["| protocol | " + " | ".join(metric_spec(m).label for m in columns) + " | notes |",
             "|---" * (len(columns) + 2) + "|"]  # fmt: skip
    for name, result in results.items():
        if isinstance(result, str):
            lines.append(f"| {name} | " + " | ".join("" for _ in columns) + f" | skipped: {result} |")
            continue
        entries = result.summary["metrics"]
        cells = [" ".join(metric_spec(m).text(entries[m])) if m in entries else "" for m in columns]
        protocol, resize = result.summary["protocol"], result.summary["inputs"].get("resize")
        size = resize["evaluation_size"] if resize else protocol["resolution"]
        note = f"{hxw(size)}, SSIM {protocol['ssim']['variant']}"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {note} |")
    return "\n".join(lines) + "\n"


def sensitivity_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """One line per (choice, metric): the value under each option and the spread (max - min)."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["choice"], row["metric"]), []).append(row)
    lines = [
        "# How much each protocol choice moves the numbers on these images",
        "",
        "Every choice varied alone on the same images (bench/eval/sensitivity.py); spread = max - min over the options "
        "that could run.",
        "",
        "| choice | metric | varied | values | spread | notes |",
        "|---|---|---|---|---|---|",
    ]
    for (choice, metric), group in groups.items():
        ran = [r for r in group if np.isfinite(r["value"])]
        shown = ", ".join(f"{r['option']} {r['value']:.4f}" for r in ran) or "-"
        spread = f"{max(r['value'] for r in ran) - min(r['value'] for r in ran):.4f}" if len(ran) > 1 else "-"
        notes = "; ".join(dict.fromkeys(r["note"] for r in group if not np.isfinite(r["value"]))).replace("|", "/")
        varied = str(group[0].get("varied", "")).replace("|", "/")
        lines.append(f"| {choice} | {metric} | {varied} | {shown} | {spread} | {notes or group[0]['note']} |")
    return "\n".join(lines) + "\n"
