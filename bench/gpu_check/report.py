"""What a GPU check writes into its output folder: ``run.json`` (device, versions, settings, arguments, each part's
status), ``summary.md`` (each part's status and table) and one CSV per part."""

from __future__ import annotations

import csv
import io
import json
import platform
import sys
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from bench.gpu_check.budget import Part

__all__ = ["environment", "write_outputs"]

_PACKAGES = ("torch", "torchvision", "numpy", "pillow", "pyyaml", "scipy", "pandas", "tqdm", "safetensors",
             "nvidia-ml-py", "triton")  # fmt: skip
# The columns summary.md shows of each part (all columns are in its CSV).
_SHOWN = {
    "a": ("model", "output", "max_abs_error", "tolerance", "ok", "note"),
    "b": ("method", "images", "max_png_levels", "changed_fraction", "max_flow_error", "ok", "note"),
    "c": ("method", "stage", "cpu_loss", "device_loss", "rel_diff", "rel_diff_after_step", "ok", "note"),
    "d": ("method", "size", "batch", "dtype", "mode", "status", "median_ms", "p90_ms", "p99_ms", "cold_ms",
          "images_per_s", "stages_ms", "achieved_tflops", "measured_peak_fraction", "peak_memory_mib",
          "energy_j_per_image", "max_abs_diff", "compile_s", "note"),
}  # fmt: skip
_SHOWN["e"] = _SHOWN["d"]
_SHOWN["f"] = ("kernel", "batch", "pass", "median_ms", "speedup_vs_loop", "max_abs_diff", "ok", "note")


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def environment(device: torch.device) -> dict[str, Any]:
    """The device (name, capability, memory, driver, clocks; the CPU model on the CPU), Python and package versions,
    CUDA / cuDNN, and the settings in force (TF32 flags, ``cudnn.benchmark``, threads, the correlation kernel)."""
    from bench.latency.device import settings
    from bench.speed.timing import device_name

    facts: dict[str, Any] = {"name": device_name(device), "type": device.type}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        facts |= {"capability": f"{props.major}.{props.minor}", "memory_gib": round(props.total_memory / 2**30, 1),
                  "multiprocessors": props.multi_processor_count}  # fmt: skip
    in_force = settings(device)
    facts |= {k: v for k, v in in_force.items() if k in ("driver", "clocks")}
    return {
        "device": facts,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": {name: _version(name) for name in _PACKAGES},
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "settings": {
            "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
            "tf32_cudnn": torch.backends.cudnn.allow_tf32,
            "cudnn_benchmark": torch.backends.cudnn.benchmark,
            "correlation_kernel": in_force["correlation"],
            "torch_threads": torch.get_num_threads(),
        },
    }


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value).replace("|", "/").replace("\n", " ")


def _markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> list[str]:
    present = [c for c in columns if any(c in row for row in rows)]
    lines = ["| " + " | ".join(present) + " |", "|" + "|".join("---" for _ in present) + "|"]
    lines += ["| " + " | ".join(_cell(row.get(c)) for c in present) + " |" for row in rows]
    return lines


def _csv(rows: Sequence[Mapping[str, Any]]) -> str:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_outputs(out: Path, record: dict[str, Any], parts: Sequence[Part]) -> list[Path]:
    """Write ``run.json``, ``summary.md`` and ``<part>_<title>.csv`` per part with rows into ``out``; the paths."""
    from pftryon.models import atomic_write

    out.mkdir(parents=True, exist_ok=True)
    status = {p.name: {"title": p.title, "status": p.status, "reason": p.reason, "seconds": round(p.seconds, 1),
                       "rows": len(p.rows)} for p in parts}  # fmt: skip
    record = record | {"parts": status}
    paths = [out / "run.json", out / "summary.md"]
    atomic_write(paths[0], json.dumps(record, indent=2, default=str) + "\n")
    env = record["environment"]
    lines = [
        "# GPU check",
        "",
        f"- Device: {env['device']['name']} ({env['device'].get('driver') or 'no driver read'}; "
        f"{env['device'].get('clocks') or 'clocks not read'})",
        f"- Python {env['python']}, torch {env['packages']['torch']}, CUDA {env['cuda']}, cuDNN {env['cudnn']}",
        f"- Settings: {', '.join(f'{k} {v}' for k, v in env['settings'].items())}",
        f"- Correlation kernel: {record['correlation']['kernel']} (preflight: {record['correlation']['preflight']})",
        f"- Date: {record['date']}; git commit {record['git_commit']}; arguments: {record['arguments']}",
        f"- Budget {record['budget_s']} s, used {record['elapsed_s']} s",
        "",
    ]
    for part in parts:
        lines += [f"## ({part.name}) {part.title}: {part.status}" + (f" ({part.reason})" if part.reason else ""), ""]
        if part.rows:
            lines += [*_markdown_table(part.rows, _SHOWN[part.name]), ""]
            path = out / f"{part.name}_{part.title.split()[0].lower()}.csv"
            atomic_write(path, _csv(part.rows))
            paths.append(path)
    atomic_write(paths[1], "\n".join(lines) + "\n")
    return paths
