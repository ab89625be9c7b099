"""``python -m bench.gpu_check``: see :mod:`bench.gpu_check`."""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from bench.gpu_check.budget import Budget, Part

__all__ = ["main"]

PARTS = {
    "a": ("conformance of the official models' golden vectors", 1.0),
    "b": ("predictions on the device against the CPU", 1.5),
    "c": ("training step of every stage on the device against the CPU", 2.5),
    "d": ("latency of every method", 6.0),
    "e": ("latency at the VITON-HD size (if time remains)", 1.0),
    "f": ("correlation kernels against one another", 1.0),
}
"""Each part's title and its weight in the time budget."""


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu_check", description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="Folder for run.json, summary.md and the CSVs.")
    parser.add_argument(
        "--device", choices=("cuda", "cpu"), default="cuda", help="Where the checks run (default cuda)."
    )
    parser.add_argument("--tiny", action="store_true", help="Tiny sizes and batches 1 and 2: a smoke test.")
    parser.add_argument("--budget", type=float, default=330.0, help="Seconds for all parts together (default 330).")
    parser.add_argument("--parts", default="abcdef", help="Which parts to run, e.g. 'ad' (default abcdef).")
    parser.add_argument("--work", type=Path, help="Folder for scratch files (default: a new temporary folder).")
    args = parser.parse_args(argv)
    if args.budget <= 0:
        parser.error(f"--budget must be a positive number of seconds, got {args.budget}")
    if not args.parts or set(args.parts) - set(PARTS):
        parser.error(f"--parts must be letters among {''.join(PARTS)}, got {args.parts!r}")
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"--out {args.out}: exists and is not a folder")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available here; use --device cpu")
    return args


def _runners(args: argparse.Namespace, device: torch.device, work: Path) -> dict[str, Callable[[Part, float], None]]:
    """Each part as ``run(part, deadline)``; the imports happen when a part runs."""
    size, pairs, width = ((64, 64), 8, 0.0625) if args.tiny else ((256, 192), 16, 0.25)

    def synthetic() -> Path:
        from bench.gpu_check.predictions import synthetic_set

        return synthetic_set(work / "synthetic", size, pairs)

    def conformance(part: Part, deadline: float) -> None:
        from bench.gpu_check.conformance import check_conformance

        check_conformance(part, device, deadline)

    def predictions(part: Part, deadline: float) -> None:
        from bench.gpu_check.predictions import check_predict

        check_predict(part, device, synthetic(), work / "predict", size, deadline, tiny=args.tiny)

    def training(part: Part, deadline: float) -> None:
        from bench.gpu_check.training import check_training

        check_training(part, device, synthetic(), work / "train", size, width, deadline, tiny=args.tiny)

    def latency(extra: bool) -> Callable[[Part, float], None]:
        def run(part: Part, deadline: float) -> None:
            from bench.gpu_check.latency_grid import check_latency, latency_plan
            from bench.methods import list_methods

            plan = latency_plan(list_methods(), device, tiny=args.tiny, extra=extra)
            check_latency(part, device, plan, deadline, tiny=args.tiny)

        return run

    def correlation(part: Part, deadline: float) -> None:
        from bench.gpu_check.correlation import check_correlation

        check_correlation(part, device, deadline, tiny=args.tiny)

    return {"a": conformance, "b": predictions, "c": training, "d": latency(False), "e": latency(True),
            "f": correlation}  # fmt: skip


def _run_part(part: Part, run: Callable[[Part, float], None], budget: Budget) -> None:
    start = time.perf_counter()
    deadline = budget.deadline(part.name)
    print(f"({part.name}) {part.title}: {max(0.0, deadline - start):.0f} s of budget", flush=True)
    try:
        run(part, deadline)
    except ImportError as err:
        part.status, part.reason = "skipped", f"needs a package that is missing here: {err}"
    except Exception as err:  # a part that breaks is reported; the next parts still run
        part.fail(f"{type(err).__name__}: {err}".splitlines()[0])
    part.seconds = time.perf_counter() - start
    print(f"({part.name}) {part.status}{f': {part.reason}' if part.reason else ''} ({part.seconds:.1f} s)", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the check; 0 when every part that ran passed, 1 when a check failed (2: bad arguments, from argparse)."""
    from bench.gpu_check.report import environment, write_outputs
    from bench.results import git_commit

    args = _arguments(argv)
    device = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    work = args.work or Path(tempfile.mkdtemp(prefix="pftryon-gpu-check-"))
    budget = Budget(args.budget, {name: PARTS[name][1] for name in PARTS if name in args.parts})
    record = {
        "kind": "gpu-check",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit() or "unknown (not a git checkout)",
        "arguments": " ".join(sys.argv[1:] if argv is None else argv),
        "budget_s": args.budget,
        "work": str(work),
    }
    from bench.gpu_check.correlation import preflight_correlation

    record["correlation"] = preflight_correlation(device)  # before the environment is read: it may set the kernel
    print(f"correlation kernel: {record['correlation']['kernel']} ({record['correlation']['preflight']})", flush=True)
    record["environment"] = environment(device)
    runners = _runners(args, device, work)
    parts: list[Part] = []
    for name in budget.weights:
        parts.append(Part(name, PARTS[name][0]))
        _run_part(parts[-1], runners[name], budget)
        record["elapsed_s"] = round(args.budget - budget.left(), 1)
        paths = write_outputs(args.out, record, parts)
    print("\n".join(f"wrote {path}" for path in paths))
    return 1 if any(part.status == "failed" for part in parts) else 0


if __name__ == "__main__":
    sys.exit(main())
