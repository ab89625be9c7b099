"""Starter cases: the ones fixed before the corpus existed, across eval and train."""

from __future__ import annotations

from corpus_lib import Case

CASES = [
    Case(
        id="eval-perfect-gt-folder",
        command="eval",
        corruption="none: perfect predictions against a folder of references",
        outcome="accepted",
        argv=lambda ws: [
            "eval",
            "--pred",
            ws.asset("preds"),
            "--gt",
            ws.asset("preds"),
            "--protocol",
            "pfafn",
            "--metrics",
            "ssim,psnr",
            "--out",
            ws.path("report"),
        ],
        writes=("report",),
    ),
    Case(
        id="eval-pred-folder-missing",
        command="eval",
        corruption="--pred names a folder that does not exist",
        outcome="error",
        argv=lambda ws: [
            "eval",
            "--pred",
            ws.path("nosuch"),
            "--gt",
            ws.asset("preds"),
            "--protocol",
            "pfafn",
            "--metrics",
            "ssim",
            "--out",
            ws.path("report"),
        ],
        names="nosuch",
    ),
    Case(
        id="train-set-not-key-value",
        command="train",
        corruption="--set without '='",
        outcome="error",
        argv=lambda ws: [
            "train",
            "--stage",
            "pb-warp",
            "--dataset",
            "viton",
            "--root",
            ws.asset("viton"),
            "--out",
            ws.path("run"),
            "--set",
            "lr",
        ],
        expect="--set expects key=value",
    ),
]
