"""The committed reference report (``reports/synthetic``, made by ``make bench``) comes from the code in this tree.

Its ``run.json`` records the fingerprint of the source files that produce the numbers
(:func:`bench.results.code_fingerprint`: a sha256 over the contents of ``bench/``, ``pftryon/`` and ``baselines/``
``.py`` and ``.yaml`` files and ``pyproject.toml``). When that code changes, the report must be regenerated.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.results import code_fingerprint

REPORT = Path(__file__).parents[2] / "reports" / "synthetic"


def test_the_reference_report_was_made_by_this_code():
    run = json.loads((REPORT / "run.json").read_text())
    recorded = (run.get("metadata") or {}).get("code_fingerprint")
    if recorded is None:
        pytest.skip("reports/synthetic/run.json predates code fingerprints (no metadata.code_fingerprint): "
                    "regenerate it with `make bench`")  # fmt: skip
    current = code_fingerprint()
    assert recorded["sha256"] == current["sha256"], (
        f"reports/synthetic was made by other code (fingerprint {recorded['sha256'][:12]} over {recorded['files']} "
        f"files; this tree: {current['sha256'][:12]} over {current['files']} files): rerun `make bench` and commit "
        "reports/synthetic"
    )
