"""Start-up of the ``pftryon`` command: help and argument errors import no heavy library (structure, not timing)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "torchvision", "torchmetrics", "bench.data.base", "pftryon.models")
_PROBE = """
import json, sys
from bench.cli import main
try:
    main({args}, prog_name="pftryon")
except SystemExit as done:
    code = done.code
print(json.dumps({{"code": code, "heavy": [m for m in {heavy} if m in sys.modules]}}))
"""


def _run(args: list[str]) -> dict:
    probe = _PROBE.format(args=args, heavy=HEAVY)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_importing_the_cli_imports_no_heavy_library() -> None:
    probe = f"import sys, bench.cli; print([m for m in {HEAVY} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", f"import bench.cli imported {done.stdout.strip()}"


@pytest.mark.parametrize(
    ("args", "code"),
    [(["--help"], 0), (["eval", "--help"], 0), (["data", "synth", "--help"], 0), (["eval", "--pred", "x"], 2),
     (["predict", "--dataset", "nope"], 2)],
)  # fmt: skip
def test_help_and_argument_errors_import_no_heavy_library(args: list[str], code: int) -> None:
    result = _run(args)
    assert result["code"] == code
    assert result["heavy"] == [], f"pftryon {' '.join(args)} imported {result['heavy']}"


def test_expected_errors_keep_their_old_homes() -> None:
    from bench.data.readers import InputError
    from bench.errors import EXPECTED_ERRORS
    from bench.metrics.weights import MissingWeightsError, UnofficialWeightsError, WeightsError
    from pftryon.models import CheckpointError

    assert set(EXPECTED_ERRORS) == {InputError, CheckpointError, WeightsError}
    assert issubclass(MissingWeightsError, WeightsError) and issubclass(UnofficialWeightsError, WeightsError)
