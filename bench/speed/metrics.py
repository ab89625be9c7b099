"""Our metric pass against the usual toolchain, both timed in one run (``python -m bench.speed metrics``).

The same ``N`` synthetic prediction/ground-truth PNG pairs (256x192) and the same weight files go to both sides:

* **usual toolchain**, each tool run as its own process, the way evaluation scripts run them: the ``pytorch-fid``
  command on the two folders (FID), torch-fidelity's ``fidelity --kid`` command (pytorch-fid has no KID), a per-image
  loop of ``skimage.metrics.structural_similarity`` on PIL greyscale images (HR-VITON's ``evaluate.py`` form), and a
  per-image loop of ``lpips.LPIPS(net="alex")``;
* **ours**: the ``pftryon eval`` command, one process, under a protocol written for the comparison (the skimage
  greyscale SSIM of the loop, so the values can be compared; LPIPS alex; torch-fidelity's Inception for FID and KID):
  every file decoded once, batches of 16 feeding every metric.

Timing needs no trained weights: the weight files are written with deterministic random values under their standard
names (one He-initialised Inception under pytorch-fid's and torch-fidelity's names, which share the state-dict layout;
a torchvision AlexNet), found offline through ``TORCH_HOME``. The printed FID/KID/LPIPS values are therefore not
scores. What must agree is checked: SSIM and LPIPS per image, and KID (same backbone, file, estimator and seed as
torch-fidelity). FID is shown beside pytorch-fid's but not compared: same weights, but pytorch-fid resizes to 299
with PyTorch's bilinear filter and our torch-fidelity backbone with TF1's, so the features differ.

The five processes run interleaved in rounds; each round records the outside load (:mod:`bench.speed.timing`) and a
busy round is run again (``retries``).

``python -m bench.speed.metrics {ssim-loop,lpips-loop} PRED GT OUT`` runs one of the loops (internal).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from bench.speed.timing import Comparison, Policy

__all__ = ["BATCH_SIZE", "OUR_BATCH_SIZE", "PYTORCH_FID_WEIGHTS", "bench_metrics", "make_pairs", "write_random_weights"]

BATCH_SIZE = 50  # pytorch-fid's usual --batch-size
OUR_BATCH_SIZE = 16  # `pftryon eval`'s default
PYTORCH_FID_WEIGHTS = "pt_inception-2015-12-05-6726825d.pth"  # basename of pytorch_fid.inception.FID_WEIGHTS_URL
# (label, our key, usual key, tolerance on the largest absolute difference)
_CHECKS = (
    ("SSIM, skimage gaussian on PIL greyscale, per image", "ssim", "ssim-loop", 1e-5),
    ("LPIPS alex v0.1, per image", "lpips", "lpips-loop", 1e-5),
)
_KID_RTOL = 1e-3  # of max(|KID|, its std over subsets)


def make_pairs(root: Path, n: int, *, seed: int = 0, size: tuple[int, int] = (256, 192)) -> tuple[Path, Path]:
    """Write ``n`` PNG pairs with equal names: ``root/gt`` synthetic people, ``root/pred`` blurred noisy copies."""
    import numpy as np
    from PIL import Image, ImageFilter

    from bench.data.synthetic.render import SyntheticWorld

    world, rng = SyntheticWorld(seed, size), np.random.default_rng(seed)
    pred_dir, gt_dir = root / "pred", root / "gt"
    pred_dir.mkdir(parents=True)
    gt_dir.mkdir(parents=True)
    for i in range(n):
        gt = Image.fromarray(world.person(i).image)
        blurred = np.asarray(gt.filter(ImageFilter.GaussianBlur(1.5)), dtype=np.float32)
        pred = np.clip(blurred + rng.normal(0.0, 6.0, blurred.shape), 0, 255).round().astype(np.uint8)
        gt.save(gt_dir / f"{i:06d}.png")
        Image.fromarray(pred).save(pred_dir / f"{i:06d}.png")
    return pred_dir, gt_dir


def write_random_weights(torch_home: Path, *, seed: int = 0) -> Path:
    """Write deterministic random weights under the standard names into ``torch_home/hub/checkpoints``; return it.

    One Inception v3 state dict (1008 classes, no auxiliary head: the layout of both pytorch-fid's and torch-fidelity's
    files) with He-initialised convolutions, since the default initialisation makes the pool3 features vanish; and a
    torchvision AlexNet for LPIPS.
    """
    import torch
    import torchvision

    from bench.metrics.weights import WEIGHTS

    folder = torch_home / "hub" / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        inception = torchvision.models.inception_v3(
            weights=None, aux_logits=False, num_classes=1008, init_weights=False
        )
        for module in inception.modules():
            if isinstance(module, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
        alexnet = torchvision.models.alexnet(weights=None)
    for name in (PYTORCH_FID_WEIGHTS, WEIGHTS["inception"].filename):
        torch.save(inception.state_dict(), folder / name)
    torch.save(alexnet.state_dict(), folder / WEIGHTS["alex"].filename)
    return folder


def _names(pred_dir: Path, gt_dir: Path) -> list[str]:
    names = sorted(path.name for path in pred_dir.glob("*.png"))
    missing = [name for name in names if not (gt_dir / name).is_file()]
    if not names or missing:
        raise ValueError(f"{pred_dir} and {gt_dir} must hold PNGs of the same names; unmatched: {missing[:3]}")
    return names


def ssim_loop(pred_dir: Path, gt_dir: Path) -> dict[str, Any]:
    """The usual SSIM script: for each pair, PIL greyscale, then ``skimage.metrics.structural_similarity``."""
    import numpy as np
    from PIL import Image
    from skimage.metrics import structural_similarity

    values = []
    for name in _names(pred_dir, gt_dir):
        gt = np.asarray(Image.open(gt_dir / name).convert("L"))
        pred = np.asarray(Image.open(pred_dir / name).convert("L"))
        values.append(
            float(structural_similarity(gt, pred, data_range=255, gaussian_weights=True, use_sample_covariance=False))
        )
    return {"ssim": values}


def lpips_loop(pred_dir: Path, gt_dir: Path) -> dict[str, Any]:
    """The usual LPIPS script: ``lpips.LPIPS(net="alex")`` (trunk from the hub cache) on one pair at a time."""
    import lpips
    import numpy as np
    import torch
    from PIL import Image

    model = lpips.LPIPS(net="alex", verbose=False)
    values = []
    with torch.no_grad():
        for name in _names(pred_dir, gt_dir):
            gt = lpips.im2tensor(np.asarray(Image.open(gt_dir / name).convert("RGB")))
            pred = lpips.im2tensor(np.asarray(Image.open(pred_dir / name).convert("RGB")))
            values.append(float(model(pred, gt)))
    return {"lpips": values}


def _protocol_file(folder: Path, kid_subset_size: int) -> Path:
    """The comparison's protocol: what the usual scripts compute, on the images as they are."""
    path = folder / "metric-speed.yaml"
    path.write_text(
        "name: metric-speed\nversion: 1\nsource: bench/metric_speed.py\n"
        "description: HR-VITON's SSIM form, LPIPS alex (lpips), torch-fidelity FID and KID at 256x192.\n"
        "dataset: any\nresolution: [256, 192]\nmetrics: [ssim, lpips, fid, kid]\n"
        "ssim: {variant: skimage_gaussian, grayscale: true}\nlpips: {net: alex, backend: lpips}\n"
        f"kid: {{subset_size: {kid_subset_size}}}\n"
    )
    return path


def _our_values(out: Path) -> dict[str, Any]:
    """Per-image SSIM / LPIPS (in file-name order) and FID / KID from a ``pftryon eval`` output folder."""
    import pandas as pd

    rows = pd.read_csv(out / "per_sample.csv").sort_values("key")
    metrics = json.loads((out / "summary.json").read_text())["metrics"]
    return {"ssim": rows["ssim"].tolist(), "lpips": rows["lpips"].tolist(), "fid": metrics["fid"]["value"],
            "kid_mean": metrics["kid"]["mean"], "kid_std": metrics["kid"]["std"]}  # fmt: skip


def _run(command: list[str], env: dict[str, str]) -> str:
    """Run a command to completion and return its stdout; a failure raises with the end of its stderr."""
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise click.ClickException(f"{' '.join(command)} exited with {done.returncode}:\n{done.stderr[-2000:]}")
    return done.stdout


def _fidelity_command() -> str:
    beside = Path(sys.executable).with_name("fidelity")
    return str(beside) if beside.exists() else "fidelity"


def bench_metrics(
    pairs: int = 200,
    *,
    check: bool = False,
    repeats: int = 1,
    policy: Policy | None = None,
    threads: int | None = None,
    fid_dims: int = 2048,
) -> dict[str, Any]:
    """Time our metric pass against the usual toolchain on ``pairs`` synthetic pairs and print the comparison.

    Args:
        pairs: Number of prediction/ground-truth pairs (KID subsets hold ``min(1000, pairs)`` images).
        check: Fail when SSIM, LPIPS or KID differ between the two sides beyond their tolerances.
        repeats: Quiet rounds of all five processes, interleaved; medians are reported.
        policy: When a round is busy (other processes' load) and how many extra rounds busy ones may cost.
        threads: Torch threads of every process (``OMP_NUM_THREADS``); default: this process's count.
        fid_dims: pytorch-fid's ``--dims``; below 2048 only to keep smoke tests fast (its FID is then not comparable).

    Returns:
        ``{"seconds": {process: wall seconds}, "speedup", "speedup_without_kid", "load", "busy",
        "values": {...}, "checks": [...]}``.
    """
    import torch

    from bench.speed.timing import Policy, compare

    threads = threads or torch.get_num_threads()
    kid_subset_size = min(1000, pairs)
    outputs: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="metric-speed-") as folder:
        root = Path(folder)
        pred_dir, gt_dir = make_pairs(root / "images", pairs)
        weights_dir = write_random_weights(root / "torch_home")
        env = {**os.environ, "TORCH_HOME": str(root / "torch_home"), "CUDA_VISIBLE_DEVICES": "",
               "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}  # fmt: skip
        folders = [str(pred_dir), str(gt_dir)]

        def worker(kind: str) -> Callable[[], None]:
            out = root / f"{kind}.json"
            command = [sys.executable, "-m", "bench.speed.metrics", kind, *folders, str(out)]

            def run() -> None:
                _run(command, env)
                outputs[kind] = json.loads(out.read_text())

            return run

        def tool(kind: str, *command: str) -> Callable[[], None]:
            return lambda: outputs.update({kind: _run(list(command), env)})

        protocol = _protocol_file(root, kid_subset_size)
        ours = [sys.executable, "-m", "bench.cli", "eval", "--pred", str(pred_dir), "--gt", str(gt_dir),
                "--protocol", str(protocol), "--weights-dir", str(weights_dir), "--out", str(root / "ours"),
                "--batch-size", str(OUR_BATCH_SIZE), "--fid-resamples", "0", "--no-feature-cache",
                # the same stand-in weights on both sides (timing and agreement, not a published score); each
                # round rewrites the report
                "--allow-unofficial-weights", "--overwrite"]  # fmt: skip

        def our_run() -> None:
            _run(ours, env)
            outputs["ours"] = _our_values(root / "ours")

        candidates = {
            "ours": our_run,
            "pytorch-fid": tool("pytorch-fid", sys.executable, "-m", "pytorch_fid", *folders, "--device", "cpu",
                                "--batch-size", str(BATCH_SIZE), "--dims", str(fid_dims)),
            "fidelity --kid": tool("fidelity --kid", _fidelity_command(), "--input1", str(pred_dir), "--input2",
                                   str(gt_dir), "--kid", "--kid-subset-size", str(kid_subset_size), "--cpu",
                                   "--json", "--silent"),
            "ssim-loop": worker("ssim-loop"),
            "lpips-loop": worker("lpips-loop"),
        }  # fmt: skip
        timing = compare(candidates, repeats=repeats, warmup=0, policy=policy or Policy())
    seconds = {name: timing.median(name) / 1e3 for name in candidates}
    return _report(pairs, threads, timing, fid_dims, seconds, outputs, check)


def _report(
    pairs: int,
    threads: int,
    timing: Comparison,
    fid_dims: int,
    seconds: dict[str, float],
    outputs: dict[str, Any],
    check: bool,
) -> dict[str, Any]:
    """Print the timing table and the value comparison; return both as a dict."""
    ours = seconds["ours"]
    usual = {name: value for name, value in seconds.items() if name != "ours"}
    total = sum(usual.values())
    without_kid = (total - usual["fidelity --kid"]) / ours
    echo = click.echo
    repeats = len(timing.loads)
    echo(
        f"\nMetric pass: SSIM + LPIPS + FID + KID over {pairs} synthetic PNG pairs at 256x192, {threads} threads per "
        f"process, {'median of ' + str(repeats) + ' interleaved rounds' if repeats > 1 else 'one round'}; "
        f"{timing.describe_load()}"
    )
    echo("  !! RANDOM WEIGHTS (deterministic, written for this run under the standard file names): the times are the "
         "result; the FID / KID / LPIPS values below are not scores")  # fmt: skip
    echo("  usual toolchain, one process per tool (wall time, imports and model loading included)")
    for name, label in (("pytorch-fid", f"python -m pytorch_fid pred gt --device cpu --batch-size {BATCH_SIZE}  (FID)"),
                        ("fidelity --kid", "fidelity --input1 pred --input2 gt --kid --cpu  (KID)"),
                        ("ssim-loop", "skimage structural_similarity loop, PIL greyscale"),
                        ("lpips-loop", "lpips.LPIPS(net='alex') loop, one pair at a time")):  # fmt: skip
        echo(f"    {label:66s} {usual[name]:8.1f} s")
    echo(f"    {'total':66s} {total:8.1f} s")
    echo(f"  ours: pftryon eval, one process: each image decoded once, batches of {OUR_BATCH_SIZE} feed every metric")
    echo(f"    {'total (SSIM + LPIPS + FID + KID, per-sample CSV, CIs, JSON + Markdown)':66s} {ours:8.1f} s")
    echo(f"  speed-up {total / ours:.2f}x (goal >= 3x); without the usual side's KID run (pytorch-fid + SSIM + LPIPS "
         f"loops vs ours, which still computes KID from its one set of features): {without_kid:.2f}x")  # fmt: skip

    ours_values, checks = outputs["ours"], []
    echo("  values (random weights):")
    for label, key, usual_key, tolerance in _CHECKS:
        mine, theirs = ours_values[key], outputs[usual_key][key]
        diff = max(abs(a - b) for a, b in zip(mine, theirs, strict=True))
        checks.append({"metric": key, "max_abs_diff": diff, "tolerance": tolerance, "agree": diff <= tolerance})
        echo(f"    {label:52s} mean ours {sum(mine) / len(mine):.6f} usual {sum(theirs) / len(theirs):.6f} | "
             f"max |diff| {diff:.1e} (tol {tolerance:.0e})")  # fmt: skip
    kid = json.loads(outputs["fidelity --kid"])["kernel_inception_distance_mean"]
    kid_diff, kid_tolerance = abs(ours_values["kid_mean"] - kid), _KID_RTOL * max(abs(kid), ours_values["kid_std"])
    checks.append(
        {"metric": "kid", "abs_diff": kid_diff, "tolerance": kid_tolerance, "agree": kid_diff <= kid_tolerance}
    )
    echo(f"    {'KID mean, torch-fidelity Inception, same file and seed':52s} ours {ours_values['kid_mean']:.6g} "
         f"fidelity {kid:.6g} | |diff| {kid_diff:.1e} (tol {kid_tolerance:.0e}, 1e-3 of max(|KID|, std))")  # fmt: skip
    fid = float(outputs["pytorch-fid"].split("FID:")[-1])
    echo(f"    {'FID, not compared':52s} ours {ours_values['fid']:.6g} pytorch-fid {fid:.6g} "
         f"({'--dims ' + str(fid_dims) if fid_dims != 2048 else 'same weights'}; resize to 299 differs: "
         "PyTorch bilinear vs TF1)")  # fmt: skip
    failed = [entry["metric"] for entry in checks if not entry["agree"]]
    echo(f"  check: {'values disagree: ' + ', '.join(failed) if failed else 'SSIM, LPIPS and KID agree'}")
    if check and failed:
        raise click.ClickException(f"our pass and the usual toolchain disagree on {', '.join(failed)}")
    return {
        "seconds": seconds,
        "speedup": total / ours,
        "speedup_without_kid": without_kid,
        "load": timing.load,
        "busy": timing.busy,
        "values": {
            "ours": {k: ours_values[k] for k in ("fid", "kid_mean", "kid_std")},
            "pytorch_fid": fid,
            "fidelity_kid_mean": kid,
        },
        "checks": checks,
    }


@click.command()
@click.argument("kind", type=click.Choice(["ssim-loop", "lpips-loop"]))
@click.argument("pred_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("gt_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
def _worker(kind: str, pred_dir: Path, gt_dir: Path, out: Path) -> None:
    """Run one of the usual per-image loops in this process and write its values as JSON to OUT."""
    result = (ssim_loop if kind == "ssim-loop" else lpips_loop)(pred_dir, gt_dir)
    out.write_text(json.dumps(result))


if __name__ == "__main__":
    _worker()
