"""The ablation report's ``index.html``: written beside the other files, with the table and the chart, re-rendered."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.ablate import AblationResult
from bench.ablate.scoring import NO_WARP, TUTOR
from bench.errors import InputError
from bench.records import SCHEMA_VERSION, AblationRecord
from bench.report.ablation import rerender, write_report
from pftryon.train.config import STAGES

PAIRS = [f"{i:06d}__{i + 1:06d}" for i in range(8)]
STUDENTS = [("tt-adjustable", "teacher+tutor", "adjustable"), ("tutor-adjustable", "tutor", "adjustable")]
NOTE = "weights absent: alexnet.pth"


def _ci(mean: float) -> dict[str, float]:
    return {"mean": mean, "low": mean - 0.01, "high": mean + 0.01}


def _run(key: str) -> dict:
    return {"key": key, "steps": 40, "early_loss": 1.5, "final_loss": 0.5, "last_quarter_fall": 0.02,
            "converged": True, "term_falls": {"warp_l1": 0.1}, "distill_weight_mean": None,
            "wall_time_s": 3.0}  # fmt: skip


def make_ablation() -> AblationResult:
    """A small fake ablation: two students and the two references at one parse noise, eight pairs, two runs."""
    rng = np.random.default_rng(0)
    models = [(name, knowledge, distill, 0.5) for name, knowledge, distill in STUDENTS]
    models += [(TUTOR, "parse-based", None, 0.5), (NO_WARP, None, None, None)]
    rows, table = [], []
    for i, (name, knowledge, distill, noise) in enumerate(models):
        ssim = 0.8 - 0.05 * i + 0.01 * rng.standard_normal(len(PAIRS))
        rows += [{"variant": name, "knowledge": knowledge, "distill": distill, "parse_noise": noise, "pair": pair,
                  "ssim": float(s), "psnr": 20.0, "epe": 3.0} for pair, s in zip(PAIRS, ssim, strict=True)]  # fmt: skip
        entry = {"variant": name, "knowledge": knowledge, "distill": distill, "parse_noise": noise,
                 "ssim": _ci(float(ssim.mean())), "psnr": _ci(20.0), "epe": _ci(3.0), "fid": None,
                 "runs": [], "train_time_s": 10.0}  # fmt: skip
        if name != NO_WARP:
            entry["ssim_minus_no_warp"] = _ci(0.1 - 0.02 * i)
        table.append(entry)
    recipe = {
        "name": "fake", "description": "A fake ablation for the page tests.",
        "data": {"n": 20, "size": [32, 24], "layout": "viton", "seed": 0, "test_fraction": 0.4,
                 "categories": ["upper_body"], "background": "studio"},
        "width": 0.125, "scale_flow_heads": True, "variants": [dict(zip(("name", "knowledge", "distill"), s,
                                                                          strict=True)) for s in STUDENTS],
        "parse_noise": [0.5], "seed": 0, "perceptual": "none", "budget_s": 60, "fake_cache": True,
        "evaluation": {"split": "test", "ssim": "pytorch_ssim", "lpips_net": "alex", "batch_size": 4,
                       "resamples": 200, "confidence": 0.95},
    }  # fmt: skip
    gaps = [{"higher": "tt-adjustable", "lower": "tutor-adjustable", "difference": _ci(0.05)}]
    summary = AblationRecord(
        schema_version=SCHEMA_VERSION, kind="ablation", recipe=recipe,
        data={"manifest": {"n": 20}, "fingerprint_sha256": "ab" * 32}, train_pairs=12, test_pairs=len(PAIRS),
        table=table, orderings=[{"parse_noise": 0.5, "order": ["tt-adjustable", "tutor-adjustable"], "gaps": gaps}],
        metric_notes={"lpips": NOTE}, scoring={"by": "a test", "warnings": []},
        runs=[_run("tutor/pb-warp"), _run("noise-0.5/tt-adjustable/pf-warp")],
        timing={"total_s": 30.0, "training_s": 20.0, "evaluation_s": 5.0, "budget_s": 60.0,
                "training_wall_s_all_runs": 20.0},
        machine={"cpu": "test cpu", "cpu_count": 2, "torch_threads": 2, "load_average_start": [0.1, 0.1, 0.1],
                 "load_average_end": [0.2, 0.1, 0.1]},
        device="cpu",
        metadata={"date": "2026-12-04T10:00:00+00:00", "git_commit": "79b70ec", "versions": {"torch": "2.13.0"}},
    )  # fmt: skip
    steps = np.arange(1, 41)
    curves = {f"fake/{stage}": (steps, 1.5 / np.sqrt(steps)) for stage in STAGES}
    return AblationResult(summary=summary, rows=rows, curves=curves)


def test_the_page_is_written_with_the_table_the_chart_and_the_curves(tmp_path: Path) -> None:
    paths = write_report(make_ablation(), tmp_path)
    assert tmp_path / "index.html" in paths
    page = (tmp_path / "index.html").read_text()
    assert '<table id="ablation-table">' in page and '<table id="convergence-table">' in page
    assert page.count("<tr>") >= 4 + 1 + 2 + 1, "rows of the main and convergence tables"
    assert 'alt="paired differences"' in page and 'alt="loss curves"' in page
    assert page.count('src="data:image/png;base64,') == 2, "the chart and the loss curves are embedded"
    assert "<details>" in page and "79b70ec" in page and "How to read it" in page
    assert "n/a<sup>a</sup>" in page and NOTE in page, "the LPIPS note is a footnote, not a wide cell"
    assert "<script" not in page
    # Every two rows compared on each per-sample metric, the same rows in the CSV and the page's matrices.
    compared = pd.read_csv(tmp_path / "comparisons.csv")
    assert tmp_path / "comparisons.csv" in paths and set(compared.metric) >= {"ssim"}
    assert len(compared) == len(compared[["method_a", "method_b", "metric"]].drop_duplicates())
    assert 'id="comparisons"' in page and compared.p_holm.between(0, 1).all()


def test_rerender_redraws_the_page_from_the_folder_alone(tmp_path: Path) -> None:
    write_report(make_ablation(), tmp_path)
    first = (tmp_path / "index.html").read_text()
    (tmp_path / "index.html").unlink()
    markdown = (tmp_path / "ablation.md").read_bytes()
    assert rerender(tmp_path) == tmp_path / "index.html"
    assert (tmp_path / "index.html").read_text() == first, "per_sample.csv gives the same page as the rows"
    assert (tmp_path / "ablation.md").read_bytes() == markdown
    assert json.loads((tmp_path / "ablation.json").read_text())["recipe"]["name"] == "fake"


def test_rerender_refuses_a_record_of_another_kind(tmp_path: Path) -> None:
    (tmp_path / "ablation.json").write_text(json.dumps({"schema_version": 1, "kind": "eval-summary"}))
    with pytest.raises(InputError, match="'eval-summary' record, not a 'ablation' one"):
        rerender(tmp_path)
    assert not (tmp_path / "index.html").exists()
