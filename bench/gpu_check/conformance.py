"""Part (a): the official models' golden vectors (``tests/conformance``) reproduced on the device, in fp32 with TF32
off, as the conformance tests run them on the CPU: deterministic weights, each golden sample in a batch of two beside
its left-right mirror image, max |ours - golden| against the tests' tolerances (1e-4 on flows, grids and ``theta``,
1e-3 on images, masks and raw generator outputs)."""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from bench.gpu_check.budget import Part

__all__ = ["GOLDEN", "Golden", "check_conformance"]

CONFORMANCE_DIR = Path(__file__).resolve().parents[2] / "tests" / "conformance"
_FLOW_OUTPUTS = (
    ("flow", "last_flow", 1e-4), ("warped_cloth", "warped_cloth", 1e-3), ("warped_edge", "warped_edge", 1e-3),
    ("gen_out", "gen_out", 1e-3), ("tryon", "p_tryon", 1e-3),
)  # fmt: skip


@dataclass(frozen=True)
class Golden:
    """One golden file: the model (``module:Class``), its two official networks (seeded separately), the input keys
    in forward order, and ``(our output, golden key, tolerance)`` triples."""

    name: str
    file: str
    model: str
    parts: tuple[str, str]
    inputs: tuple[str, ...]
    outputs: tuple[tuple[str, str, float], ...]


GOLDEN = (
    Golden("pf_afn", "pfafn_golden.npz", "pftryon.models:PFAFN", ("warp", "gen"), ("person", "cloth", "edge"),
           _FLOW_OUTPUTS),
    Golden("fs_vton", "fsvton_golden.npz", "baselines.fs_vton:FSVTON", ("warp", "gen"), ("person", "cloth", "edge"),
           _FLOW_OUTPUTS),
    Golden("dm_vton", "dmvton_golden.npz", "baselines.dm_vton:DMVTON", ("warp", "gen"), ("person", "cloth", "edge"),
           _FLOW_OUTPUTS),
    Golden("cp_vton", "cpvton_golden.npz", "baselines.cp_vton:CPVTON", ("gmm", "tom"),
           ("agnostic", "cloth", "cloth_mask"),
           (("theta", "theta", 1e-4), ("grid", "grid", 1e-4), ("warped_cloth", "warped_cloth", 1e-3),
            ("warped_mask", "warped_mask", 1e-3), ("tom_out", "tom_out", 1e-3), ("tryon", "p_tryon", 1e-3))),
)  # fmt: skip
"""The four official models whose golden vectors the conformance tests check (tests/conformance/README.md)."""


def _run(golden: Golden, device: torch.device) -> dict[str, torch.Tensor]:
    from pftryon.models import init_deterministic_

    module, name = golden.model.split(":")
    model = getattr(importlib.import_module(module), name)()
    for part in golden.parts:
        init_deterministic_(getattr(model, part))
    model = model.eval().to(device)
    with np.load(CONFORMANCE_DIR / golden.file) as data:
        arrays = {key: torch.from_numpy(data[key]) for key in data.files}
    inputs = [torch.cat([arrays[k], arrays[k].flip(-1)]).to(device) for k in golden.inputs]
    with torch.no_grad():
        outputs = model(*inputs)
    return {ours: outputs[ours][:1].float().cpu() - arrays[theirs] for ours, theirs, _ in golden.outputs}


def check_conformance(part: Part, device: torch.device, deadline: float) -> None:
    """Fill ``part`` with one row per model and output: ``max_abs_error``, ``tolerance``, ``ok``."""
    for index, golden in enumerate(GOLDEN):
        if time.perf_counter() > deadline:
            part.stop(len(GOLDEN) - index)
            return
        try:
            errors = _run(golden, device)
        except Exception as err:  # one model's failure is reported, the others still run
            part.rows.append({"model": golden.name, "output": "", "max_abs_error": None, "tolerance": None,
                              "ok": False, "note": f"{type(err).__name__}: {err}".splitlines()[0]})  # fmt: skip
            part.fail(f"{golden.name} did not run")
            continue
        for ours, _, tolerance in golden.outputs:
            error = errors[ours].abs().max().item()
            part.rows.append({"model": golden.name, "output": ours, "max_abs_error": error, "tolerance": tolerance,
                              "ok": error <= tolerance, "note": ""})  # fmt: skip
            if error > tolerance:
                part.fail(f"{golden.name} {ours}: max |error| {error:.3g} > {tolerance}")
