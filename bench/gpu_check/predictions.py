"""Part (b): ``predict`` on the device against ``predict`` on the CPU, for every registered method, on a small
synthetic VITON set (:func:`bench.data.synthetic.synthesize`): the same adapter with deterministic weights, the same
unpaired test pairs, both runs through :func:`bench.predict.predict` (PNGs and, where the method has one, the flow).
A method agrees when its PNGs differ by at most :data:`PNG_LEVELS` levels (the official conversion truncates, so a
rounding difference can move a pixel by one) and its flows by at most :data:`FLOW_TOLERANCE`."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from bench.gpu_check.budget import Part

__all__ = ["FLOW_TOLERANCE", "PNG_LEVELS", "check_predict", "synthetic_set"]

PNG_LEVELS = 2
FLOW_TOLERANCE = 1e-3


def synthetic_set(root: Path, size: tuple[int, int], pairs: int) -> Path:
    """``pairs`` synthetic people (half train, half test) in the VITON layout under ``root``, once."""
    from bench.data.synthetic import synthesize

    if not (root / "synth.json").is_file():
        synthesize("viton", root, n=pairs, size=size, seed=0, test_fraction=0.5, progress=False)
    return root


def _differences(cpu: Path, device: Path) -> dict[str, float]:
    from PIL import Image

    levels, changed, pixels, flow = 0, 0, 0, None
    for png in sorted(cpu.glob("*.png")):
        a = np.asarray(Image.open(png), dtype=np.int16)
        b = np.asarray(Image.open(device / png.name), dtype=np.int16)
        levels, changed, pixels = max(levels, int(np.abs(a - b).max())), changed + int((a != b).sum()), pixels + a.size
    for npy in sorted(cpu.glob("*.npy")):
        error = float(np.abs(np.load(npy) - np.load(device / npy.name)).max())
        flow = error if flow is None else max(flow, error)
    return {"images": len(list(cpu.glob("*.png"))), "max_png_levels": levels,
            "changed_fraction": changed / pixels if pixels else 0.0, "max_flow_error": flow}  # fmt: skip


def check_predict(part: Part, device: torch.device, root: Path, work: Path, size: tuple[int, int], deadline: float,
                  *, tiny: bool) -> None:  # fmt: skip
    """Fill ``part`` with one row per registered method (``root``: :func:`synthetic_set`'s folder; ``tiny``: the
    narrow widths of :func:`~bench.gpu_check.tiny.tiny_config`)."""
    from bench.data import create_dataset
    from bench.gpu_check.tiny import tiny_config
    from bench.methods import list_methods, method_class
    from bench.predict import predict

    names = list_methods()
    for index, name in enumerate(names):
        if time.perf_counter() > deadline:
            part.stop(len(names) - index)
            return
        row: dict[str, object] = {"method": name}
        try:
            adapter = method_class(name)
            if size[0] % adapter.size_multiple or size[1] % adapter.size_multiple:
                part.rows.append(row | {"ok": None, "note": f"size {size} not a multiple of {adapter.size_multiple}"})
                continue
            config = tiny_config(name) if tiny else None
            method = adapter(adapter.build_for_timing(size, config), {}, config or {})
            dataset = create_dataset("viton", root, split="test", pair_mode="unpaired")
            for where, target in (("cpu", torch.device("cpu")), ("device", device)):
                predict(method, dataset, work / name / where, batch_size=2, device=target, save_flow=True,
                        progress=False, redo=True)  # fmt: skip
            row |= _differences(work / name / "cpu", work / name / "device")
        except Exception as err:  # one method's failure is reported, the others still run
            part.rows.append(row | {"ok": False, "note": f"{type(err).__name__}: {err}".splitlines()[0]})
            part.fail(f"{name} did not run")
            continue
        flow = row["max_flow_error"]
        ok = row["max_png_levels"] <= PNG_LEVELS and (flow is None or flow <= FLOW_TOLERANCE)
        part.rows.append(row | {"ok": ok, "note": ""})
        if not ok:
            part.fail(f"{name}: device and CPU predictions differ (PNG {row['max_png_levels']} levels, flow {flow})")
