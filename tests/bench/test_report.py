"""The benchmark report: table layout, Pareto fronts, plots, the qualitative grid, HTML, determinism, rerendering."""

from __future__ import annotations

import math
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from bench.metrics.specs import MetricSpec
from bench.report import COLUMNS, QualitativeRow, pareto_front, rerender, write_report
from bench.report.qualitative import FLAT_STD, write_grid
from bench.report.tables import METRICS, Cell, below_lower_bounds, latency_tables, prepare, quality_tables

WEIGHTS_NOTE = "weights absent: alexnet-owt-7be5be79.pth (put it in $TORCH_HOME/hub/checkpoints)"
KID_NOTE = "weights absent: pt_inception-2015-12-05-6726825d.pth (not in /weights; see --weights-dir)"
IS_NOTE = "weights absent: inception_v3_google-0cc3c7bd.pth (not in /weights; see --weights-dir)"
FETCH = "pftryon weights fetch --suite synthetic-small"
CITATION = "PF-AFN Tab.1 (CVPR 2021)"
PAIRED, UNPAIRED = "test_pairs_same.txt:aaaa1111", "test_pairs.txt:bbbb2222"
CPU = "cpu (AMD EPYC 9R14, 2 threads)"
NAN = math.nan


def row(method: str, metric: str, value: float, **fields) -> dict:
    """One tidy results row; quality rows by default (viton/test under protocol pfafn, the paired list)."""
    base = dict(method=method, dataset="viton", split="test", protocol="pfafn", metric=metric, value=value,
                ci_low=NAN, ci_high=NAN, n=2032, pairs=PAIRED, source="measured", device="", dtype="", batch="",
                note="", citation="")  # fmt: skip
    return base | fields


def truth(method: str, metric: str, value: float, width: float) -> dict:
    """One exact-truth row with a CI of ``width`` either side."""
    return row(method, metric, value, protocol="exact-truth", pairs=UNPAIRED, ci_low=value - width,
               ci_high=value + width)  # fmt: skip


def speed(method: str, metric: str, value: float, device: str = CPU, **fields) -> dict:
    """One latency row (protocol latency, fp32, batch 1 unless given)."""
    fields = dict(dataset="", split="", protocol="latency", device=device, dtype="fp32", batch=1, n=NAN,
                  pairs="") | fields  # fmt: skip
    return row(method, metric, value, **fields)


def make_results(*, latency: bool = True) -> pd.DataFrame:
    """Three methods under two protocols and the exact truth, one published row, cells that could not be computed
    (LPIPS for one method; KID and IS for every method: weights absent), latency rows on two devices and one device
    that is absent."""
    rows = [
        row("pf_afn", "ssim", 0.8712, ci_low=0.8650, ci_high=0.8771),
        row("pf_afn", "fid", 10.8321, pairs=UNPAIRED),
        row("pf_afn", "lpips", NAN, n=NAN, note=WEIGHTS_NOTE),
        row("pf_afn", "ssim", 0.8601, ci_low=0.8540, ci_high=0.8660, protocol="hr_viton"),
        row("pf_afn", "fid", 10.09, source="published", citation=CITATION, pairs=""),
        row("pb_afn", "ssim", 0.8523, ci_low=0.8460, ci_high=0.8590),
        row("pb_afn", "fid", 12.5003, pairs=UNPAIRED),
        row("pb_afn", "lpips", 0.1032, ci_low=0.1001, ci_high=0.1065),
        row("pb_afn", "ssim", 0.8411, ci_low=0.8350, ci_high=0.8470, protocol="hr_viton"),
        row("no_warp", "ssim", 0.7904, ci_low=0.7850, ci_high=0.7960),
        row("no_warp", "fid", 30.1, pairs=UNPAIRED),
        truth("pf_afn", "ssim_truth", 0.81, 0.01),
        truth("pb_afn", "ssim_truth", 0.74, 0.01),
        truth("no_warp", "ssim_truth", 0.77, 0.02),
        truth("pf_afn", "flow_epe", 8.1, 0.8),
        truth("pb_afn", "flow_epe", 10.4, 1.1),
    ]
    rows += [row(m, "kid", NAN, n=NAN, note=KID_NOTE, pairs=UNPAIRED) for m in ("pf_afn", "pb_afn", "no_warp")]
    rows += [row(m, "is", NAN, n=NAN, note=IS_NOTE, protocol="hr_viton") for m in ("pf_afn", "pb_afn")]
    if latency:
        for method, ms, gflops in (("pf_afn", 41.3, 32.4), ("pb_afn", 63.0, 55.1), ("no_warp", 1.2, 0.01)):
            rows += [
                speed(method, "ms_per_image", ms, ci_low=ms * 0.97, ci_high=ms * 1.04),
                speed(method, "images_per_s", 1000 / ms),
                speed(method, "gflops", gflops),
                speed(method, "params_m", gflops / 2),
                speed(method, "peak_mem_mb", NAN, note="peak memory is measured on CUDA only"),
                speed(method, "ms_per_image", ms / 20, device="cuda (NVIDIA H200)", dtype="bf16", batch=8),
                speed(method, "ms_per_image", NAN, device="cuda", note="no CUDA device on this machine"),
            ]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def make_run(name: str = "synthetic-small") -> dict:
    """A run dict with every optional key filled."""
    return {
        "suite": {
            "name": name,
            "description": "Three methods on a small made-up set.",
            "latency": [{"devices": ["cpu", "cuda"], "warmup": 3, "iters": 10}],
            "report": {
                "lead": ["ssim_truth", "flow_epe"],
                "quality_speed": ["ssim_truth", "flow_epe"],
                "caveats": ["Paired SSIM rewards keeping the person's pixels."],
            },  # fmt: skip
        },
        "protocols": {
            "pfafn": {
                "description": "PF-AFN's evaluation: pytorch-ssim, pytorch-fid.",
                "source": "PF-AFN",
                "version": 1,
            },
            "hr_viton": {"description": "HR-VITON evaluate.py: grey SSIM.", "source": "HR-VITON", "version": 2},
            "exact-truth": {"description": "Against the true try-on; flow end-point error in pixels."},
        },
        "methods": {
            "pf_afn": {
                "family": "pf_afn",
                "citation": "Ge et al., CVPR 2021",
                "checkpoints": {"warp.pth": "ab" * 32},
                "inputs": ["person", "cloth", "cloth_mask"],
            },
            "pb_afn": {"family": "pf_afn", "citation": "Ge et al., CVPR 2021", "checkpoints": {}, "inputs": ["parse"]},
            "no_warp": {
                "family": "lower bound: the garment pasted",
                "citation": "",
                "checkpoints": {},
                "inputs": ["person", "cloth"],
                "title": "Paste (lower bound)",
            },
        },  # fmt: skip
        "datasets": {"viton": {"root": "/data/viton", "fingerprint": "cd" * 32, "pairs": 2032}},
        "skipped": ["pb_afn / kid: kid needs 1000 images, have 4"],
        "warnings": ["FID on 4 images is meaningless"],
        "metadata": {
            "date": "2026-12-03T10:00:00+00:00",
            "git_commit": "79b70ec4d2a1e5f6 (with uncommitted changes)",
            "git_clean": False,
            "versions": {"torch": "2.5"},
            "device": CPU,
            "command": ["/venv/bin/pftryon", "bench", "--suite", name, "--out", "reports/x y"],
            "machine": {
                "cpu": "AMD EPYC 9R14",
                "isa": "AVX-512",
                "torch_cpu_capability": "AVX512",
                "cores": 2,
                "torch_threads": 2,
                "gpu": None,
                "gpus": 0,
                "torch": "2.5.1",
                "cuda": None,
                "cudnn": None,
            },
            "seeds": {"bootstrap": 0, "qualitative pairs": 3, "smoke data": 11, "smoke training": 12},
            "recipes": {"smoke": {"sha256": "0850fa251fa6" + "0" * 52, "contents": {"name": "smoke"}}},
            "bootstrap": {"method": "percentile", "resamples": 10_000, "confidence": 0.95, "seed": 0},
            "code_fingerprint": {"sha256": "f00d" * 16, "files": 174, "scope": "bench/"},
            "weights_fetch": FETCH,
        },  # fmt: skip
        "timings": {"setup_s": 100.0, "total_s": 612.5},
    }


def make_pairs(folder: Path, methods: list[str], pairs: int = 2, *, truth: bool = False) -> list[QualitativeRow]:
    """Tiny generated images: magenta persons, cyan garments, yellow true try-ons, a noisy image per method."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rows = []
    for p in range(pairs):
        pair = f"00012{p}__00045{p}"
        person, garment = folder / f"{pair}_person.png", folder / f"{pair}_garment.png"
        Image.new("RGB", (24, 32), (255, 0, 255)).save(person)
        Image.new("RGB", (24, 32), (0, 255, 255)).save(garment)
        true = folder / f"{pair}_truth.png" if truth else None
        if true is not None:
            Image.new("RGB", (24, 32), (255, 255, 0)).save(true)
        outputs = {}
        for i, method in enumerate(methods):
            outputs[method] = folder / f"{pair}_{i}.png"
            noise = rng.integers(0, 255, size=(32, 24, 3), dtype=np.uint8)
            Image.fromarray(noise // 4 + np.array([60 * i % 190, 120, 40], dtype=np.uint8)).save(outputs[method])
        rows.append(QualitativeRow(pair, person, garment, outputs, truth=true))
    return rows


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """One full report (plots and grid included), shared: drawing the plots is the slow part."""
    out = tmp_path_factory.mktemp("report")
    pairs = make_pairs(out.parent / f"{out.name}-inputs", ["pf_afn", "pb_afn", "no_warp"], truth=True)
    return out, write_report(make_results(), make_run(), out, qualitative=pairs)


def _markdown_rows(text: str, title: str) -> list[list[str]]:
    """The cells of the Markdown table under ``### title``."""
    block = text.split(f"### {title}\n", 1)[1].strip().split("\n\n", 1)[0]
    return [[c.strip() for c in line.strip().strip("|").split("|")] for line in block.splitlines()]


def _svg_texts(path: Path) -> list[str]:
    """The texts of a matplotlib SVG (drawn as paths, each preceded by its text as a comment)."""
    return re.findall(r"<!-- (.*?) -->", path.read_text())


# ---------------------------------------------------------------------------------------------------------------------
# Tables.


def test_quality_table_leads_with_the_suites_metrics_grouped_by_protocol_with_titles():
    frame = prepare(make_results())
    (table,) = quality_tables(frame, make_run())
    assert [(c.protocol, c.metric) for c in table.columns] == [
        ("exact-truth", "ssim_truth"), ("exact-truth", "flow_epe"),  # the lead metrics, in the suite's order
        ("pfafn", "ssim"), ("pfafn", "lpips"), ("pfafn", "fid"),  # then each protocol in run order
        ("hr_viton", "ssim"),
    ]  # fmt: skip
    assert [c.lead for c in table.columns] == [True, True, False, False, False, False]
    assert table.groups == [("exact-truth", 2, True), ("pfafn", 3, False), ("hr_viton", 1, False)]
    # titles: the run's title, else the method card's
    assert [(r.label, r.source) for r in table.rows] == [
        ("PF-AFN", "measured"), ("PF-AFN", "published"), ("PB-AFN (tutor)", "measured"),
        ("Paste (lower bound)", "measured"),
    ]  # fmt: skip
    measured, published = table.rows[0], table.rows[1]
    assert measured.cells[2].text == "0.8712" and measured.cells[2].ci == "[0.8650, 0.8771]"
    assert measured.cells[4].text == "10.83" and measured.cells[4].ci == ""  # no CI computed: none shown
    assert published.cells[4].text == "10.09" and published.reference == 1 and table.citations == (CITATION,)
    assert [c is None for c in published.cells] == [True, True, True, True, False, True]  # only what the paper gave
    assert measured.cells[3].missing and table.reasons == (("a", WEIGHTS_NOTE),)
    assert table.n == "2032" and not table.per_row_n and table.pairs == (UNPAIRED, PAIRED)


def test_a_column_no_row_could_compute_is_one_note_with_the_fix():
    (table,) = quality_tables(prepare(make_results()), make_run())
    assert not {"kid", "is"} & {c.metric for c in table.columns}
    (dropped,) = table.dropped  # both weights files in one note
    assert dropped.what == "KID (pfafn); IS (hr_viton)"
    assert "pt_inception-2015-12-05-6726825d.pth" in dropped.reason and "inception_v3_google" in dropped.reason
    assert dropped.reason.endswith(f"run `{FETCH}`")
    # LPIPS keeps its column: one method has it
    assert "lpips" in {c.metric for c in table.columns}


def test_latency_tables_split_by_device_and_an_absent_device_is_a_note():
    tables = latency_tables(prepare(make_results()), make_run())
    assert [t.title for t in tables] == [f"{CPU}, fp32, batch 1", "cuda, fp32, batch 1",
                                         "cuda (NVIDIA H200), bf16, batch 8"]  # fmt: skip
    absent = tables[1]
    assert absent.columns == () and [(d.what, d.reason) for d in absent.dropped] == [
        ("ms/image", "no CUDA device on this machine")
    ]
    assert [r.label for r in tables[2].rows] == ["PF-AFN", "PB-AFN (tutor)", "Paste (lower bound)"]
    assert not tables[0].per_row_n  # latency rows carry no n: no n column


def test_ms_per_image_shows_its_p10_p90_spread_where_measured(monkeypatch, tmp_path):
    for name in ("ms_p10", "ms_p90"):  # the latency helper's rows, registered here for the test
        monkeypatch.setitem(METRICS, name, MetricSpec(name, name, False, 2, "latency", "value", 241))
    rows = [speed("pf_afn", "ms_per_image", 41.3, ci_low=40.5, ci_high=42.0, n=20), speed("pf_afn", "ms_p10", 40.0),
            speed("pf_afn", "ms_p90", 45.5), speed("no_warp", "ms_per_image", 1.2)]  # fmt: skip
    results = pd.DataFrame(rows, columns=list(COLUMNS))
    (table,) = latency_tables(prepare(results), {"suite": {"name": "x"}})
    assert [c.metric for c in table.columns] == ["ms_per_image"]  # p10 and p90 are not columns
    cells = {r.method: r.cells[0] for r in table.rows}
    assert cells["pf_afn"] == Cell("41.30", "[40.50, 42.00]; p10–p90 40.00–45.50")
    assert cells["no_warp"] == Cell("1.20")  # no interval, no spread measured: none claimed
    assert not table.per_row_n  # the calls timed are in the notes, not an n column
    write_report(results, {"suite": {"name": "x"}}, tmp_path)
    assert "ms/image per method (median; whiskers p10–p90)" in _svg_texts(tmp_path / "plots" / "bars_ms_per_image.svg")


def test_markdown_has_titles_lead_columns_first_and_the_notes(report):
    text = (report[0] / "table.md").read_text()
    rows = _markdown_rows(text, "viton / test")
    assert rows[0] == ["method", "SSIM vs truth ↑ (exact-truth)", "flow EPE (px) ↓ (exact-truth)", "SSIM ↑ (pfafn)",
                       "LPIPS ↓ (pfafn)", "FID ↓ (pfafn)", "SSIM ↑ (hr_viton)"]  # fmt: skip
    assert rows[2] == ["PF-AFN", "0.8100 [0.8000, 0.8200]", "8.100 [7.300, 8.900]", "0.8712 [0.8650, 0.8771]",
                       "n/a [a]", "10.83", "0.8601 [0.8540, 0.8660]"]  # fmt: skip
    assert rows[3] == ["PF-AFN † [1]", "–", "–", "–", "–", "10.09", "–"]
    assert f"- [1] {CITATION}" in text and f"- [a] {WEIGHTS_NOTE}" in text
    assert "n = 2032 per cell." in text and f"Pair lists: {UNPAIRED}, {PAIRED}." in text
    assert "- KID (pfafn); IS (hr_viton): weights missing (" in text and f"run `{FETCH}`" in text
    latency = _markdown_rows(text, f"{CPU}, fp32, batch 1")
    assert latency[0] == ["method", "ms/image ↓", "images/s ↑", "GFLOPs ↓", "params (M) ↓"]
    assert latency[2][1] == "41.30 [40.06, 42.95]"
    assert "- peak memory (MB): peak memory is measured on CUDA only" in text  # n/a for every row: a note
    assert "### cuda (NVIDIA H200), bf16, batch 8" in text
    assert "### cuda, fp32, batch 1\n\nNot shown: ms/image: no CUDA device on this machine" in text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns="note"), "exactly the columns"),
        (lambda f: f.drop(columns="pairs"), "exactly the columns"),
        (lambda f: f.assign(metric="accuracy"), "Unknown metric"),
        (lambda f: f.assign(source="guessed"), "'source' must be"),
        (lambda f: f.assign(citation=""), "published rows need a citation"),
        (lambda f: pd.concat([f, f.iloc[:1]]), "same cell"),
        (lambda f: f.assign(value="high"), "must hold numbers"),
    ],
)
def test_prepare_rejects_tables_that_break_the_contract(change, message):
    with pytest.raises(ValueError, match=message):
        prepare(change(make_results()))


def test_tables_are_the_same_from_the_csv_read_back(report):
    back = pd.read_csv(report[0] / "results.csv")  # batch as floats, empty text as NaN
    run = make_run()
    assert quality_tables(prepare(back), run) == quality_tables(prepare(make_results()), run)
    assert latency_tables(prepare(back), run) == latency_tables(prepare(make_results()), run)


def test_rows_worse_than_every_lower_bound_are_named():
    frame = prepare(make_results())
    # SSIM vs truth: PB-AFN 0.74 < the lower bound's 0.77; flow EPE: no lower bound has one
    assert below_lower_bounds(frame, make_run()) == ["Worse than every lower bound on SSIM vs truth (exact-truth): "
                                                     "PB-AFN (tutor)."]  # fmt: skip
    run = make_run()
    run["methods"]["no_warp"]["family"] = "baseline"
    assert below_lower_bounds(frame, run) == []


def test_published_only_and_math_like_names_are_drawn_as_text(tmp_path):
    name = r"$\frac{a$ net"  # would be a mathtext error if parsed
    rows = [
        row(name, "fid", 27.3, source="published", citation="DM-VTON README"),
        speed(name, "ms_per_image", 35.8, source="published", citation="DM-VTON README", device="GPU (T4)"),
    ]
    run = {"suite": {"name": "anchors", "report": {"quality_speed": ["fid"]}}}
    paths = write_report(pd.DataFrame(rows, columns=list(COLUMNS)), run, tmp_path)
    assert {"quality_speed_pfafn_gpu.svg", "bars_fid.png"} <= {p.name for p in paths}
    assert "| $\\\\frac{a$ net † [1] | 27.3 |" in (tmp_path / "table.md").read_text()
    assert "† published, hatched" in _svg_texts(tmp_path / "plots" / "bars_fid.svg")[-1]


def test_write_report_needs_a_suite_name(tmp_path):
    with pytest.raises(ValueError, match="suite"):
        write_report(make_results(), {"suite": {}}, tmp_path)


# ---------------------------------------------------------------------------------------------------------------------
# Pareto front.


def test_pareto_front_keeps_only_undominated_points():
    ms = [10, 20, 30, 15, 40, np.nan]
    ssim = [0.80, 0.90, 0.85, 0.80, 0.90, 0.99]
    assert pareto_front(ms, ssim).tolist() == [True, True, False, False, False, False]
    # lower-is-better quality (FID, flow EPE): flip the direction
    assert pareto_front([1, 2, 3], [30.0, 20.0, 25.0], y_higher_is_better=False).tolist() == [True, True, False]
    # equal points do not dominate each other
    assert pareto_front([5, 5], [0.5, 0.5]).tolist() == [True, True]
    assert pareto_front([], []).tolist() == []
    with pytest.raises(ValueError, match="same length"):
        pareto_front([1, 2], [1])


# ---------------------------------------------------------------------------------------------------------------------
# Plots.


def test_quality_speed_plots_the_suites_metrics_per_protocol_and_device_with_labels(report):
    names = {p.name for p in report[1]}
    assert {"quality_speed_exact-truth_cpu.png", "quality_speed_exact-truth_cpu.svg",
            "quality_speed_exact-truth_cuda.svg"} <= names  # fmt: skip
    assert not [n for n in names if n.startswith("quality_speed_pfafn")]  # paired SSIM is not the suite's choice
    texts = _svg_texts(report[0] / "plots" / "quality_speed_exact-truth_cpu.svg")
    # every method labelled by its title beside its point; one panel per metric; the front in the legend
    assert {"PF-AFN", "PB-AFN (tutor)", "Paste (lower bound)", "SSIM vs truth ↑", "flow EPE (px) ↓",
            "Pareto front (measured)"} <= set(texts)  # fmt: skip
    assert texts.count("Paste (lower bound)") == 1  # no flow EPE for the lower bound: in the SSIM panel only
    assert not any("published" in t for t in texts)  # nothing published under the exact truth


def test_bar_titles_claim_only_what_is_drawn_and_no_panel_is_empty(report):
    plots = report[0] / "plots"
    ssim = _svg_texts(plots / "bars_ssim.svg")
    assert "SSIM per method (95% CI; † published, hatched)" not in ssim  # SSIM has no published row
    assert "SSIM per method (95% CI)" in ssim and "PF-AFN" in ssim
    fid = _svg_texts(plots / "bars_fid.svg")
    assert "FID per method († published, hatched)" in fid and "PF-AFN †" in fid  # FID: no CI, one published row
    gflops = _svg_texts(plots / "bars_gflops.svg")
    assert "GFLOPs per method" in gflops  # no interval measured: none claimed
    names = {p.name for p in report[1]}
    assert "cross_protocol_ssim.svg" in names and "cross_protocol_fid.svg" not in names  # FID: one protocol only
    ms = _svg_texts(plots / "bars_ms_per_image.svg")
    assert "cuda, fp32, batch 1" not in ms  # the absent device: no panel
    assert {f"{CPU}, fp32, batch 1", "cuda (NVIDIA H200), bf16, batch 8"} <= set(ms)


def test_plots_without_latency_rows_are_skipped_and_listed(tmp_path):
    paths = write_report(make_results(latency=False), make_run(), tmp_path)
    assert not [p for p in paths if p.name.startswith("quality_speed")]
    assert any(p.name == "bars_ssim.png" for p in paths)
    page = (tmp_path / "index.html").read_text()
    assert "Plots not drawn" in page and "quality_speed: no ms/image values" in page
    assert "### cpu" not in (tmp_path / "table.md").read_text()


def test_fid_below_ten_thousand_images_is_flagged_once(tmp_path):
    """The measured FIDs come from 2,032 images: one warning (not one per row) in table.md and on the page; a
    published FID has no n and is not flagged."""
    write_report(make_results(latency=False), make_run(), tmp_path, plots=False)
    table, page = (tmp_path / "table.md").read_text(), (tmp_path / "index.html").read_text()
    assert table.count("FID from 2,032 images, below the 10,000") == 1
    assert "FID from 2,032 images, below the 10,000" in page


# ---------------------------------------------------------------------------------------------------------------------
# The qualitative grid.


def test_grid_shows_the_truth_and_titles_and_marks_missing_images(report, tmp_path):
    pairs = make_pairs(tmp_path / "in", ["pf_afn", "pb_afn"])
    pairs[1].outputs["pb_afn"].unlink()
    write_report(make_results(), make_run(), tmp_path, qualitative=pairs, plots=False)
    with Image.open(tmp_path / "qualitative.png") as grid, Image.open(report[0] / "qualitative.png") as wide:
        assert grid.height == wide.height and grid.width < wide.width  # fewer columns (no truth, one method less)
        assert grid.convert("RGB").getpixel((grid.width - 60, grid.height - 60)) == (225, 225, 225)  # placeholder
        colours = {colour for _, colour in wide.convert("RGB").getcolors(1 << 20)}
        assert (255, 255, 0) in colours and (255, 255, 0) not in {c for _, c in grid.convert("RGB").getcolors(1 << 20)}
    page = (tmp_path / "index.html").read_text()
    assert "pair 000121__000451, pb_afn" in page
    wide_page = (report[0] / "index.html").read_text()
    assert "person, garment, true try-on, PF-AFN, PB-AFN (tutor), Paste (lower bound)" in wide_page


def test_grid_flags_a_near_constant_method_and_one_that_could_not_run(tmp_path):
    rows = make_pairs(tmp_path / "in", ["pf_afn", "flat"])
    for row_ in rows:
        Image.new("RGB", (24, 32), (128, 128, 128)).save(row_.outputs["flat"])  # a collapsed model
    rows = [QualitativeRow(r.pair, r.person, r.garment, r.outputs, failed={"broken": "cannot run: no densepose"})
            for r in rows]  # fmt: skip
    grid = write_grid(rows, ["pf_afn", "flat", "broken"], tmp_path / "grid.png", {"flat": "Flat"})
    assert set(grid.flagged) == {"flat", "broken"} and str(FLAT_STD) in grid.flagged["flat"]
    assert grid.flagged["broken"] == "cannot run: no densepose" and grid.columns[-2:] == ("Flat", "broken")
    with Image.open(tmp_path / "grid.png") as image:
        colours = {colour for _, colour in image.convert("RGB").getcolors(1 << 20)}
    assert {(190, 0, 32), (250, 222, 222)} <= colours  # the red frame and the failed tiles
    # a noisy output is not flagged
    assert "pf_afn" not in grid.flagged


# ---------------------------------------------------------------------------------------------------------------------
# HTML.


class _Collector(HTMLParser):
    """Tags, attribute values and text of a page; the text inside each ``<details>``."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[str] = []
        self.text: list[str] = []
        self.depth = 0
        self.folded: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += [value or "" for _, value in attrs]
        self.depth += tag == "details"

    def handle_endtag(self, tag: str) -> None:
        self.depth -= tag == "details"

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self.depth:
            self.folded.append(data)


def test_html_escapes_hostile_names_and_paths(tmp_path):
    hostile = '<script>alert("m")</script>'
    results = make_results().replace({"method": {"no_warp": hostile}})
    run = make_run("<b>suite</b>")
    run["methods"][hostile] = run["methods"].pop("no_warp") | {"title": hostile}
    run["datasets"]["viton"]["root"] = '/data/"><img src=x onerror=alert(1)>'
    run["warnings"].append("<iframe src='https://example.com'>")
    run["metadata"]["command"].append("<b>")
    write_report(results, run, tmp_path, qualitative=make_pairs(tmp_path / "in", ["pf_afn", hostile]), plots=False)
    page = (tmp_path / "index.html").read_text()
    parsed = _Collector()
    parsed.feed(page)
    assert "script" not in parsed.tags and "iframe" not in parsed.tags and "b" not in parsed.tags
    assert all("onerror" not in a for a in parsed.attributes)
    text = "".join(parsed.text)
    assert hostile in text and "<b>suite</b>" in text and "onerror=alert(1)" in text  # shown as text
    assert "&lt;script&gt;" in page


def test_html_leads_with_provenance_then_results_and_explains_them(report):
    page = (report[0] / "index.html").read_text()
    parsed = _Collector()
    parsed.feed(page)
    text = "".join(parsed.text)
    box = text.split("Commit", 1)[1].split("Results", 1)[0]  # the box comes before the first section
    for fact in ("79b70ec4d2a1", "uncommitted changes", "pftryon bench --suite synthetic-small --out 'reports/x y'",
                 "AMD EPYC 9R14, AVX-512", "2 cores", "GPU none", "torch 2.5.1", "qualitative pairs 3",
                 "smoke training 12", "smoke 0850fa251fa6", "10,000 resamples", "10.2 min", "f00df00df00d",
                 "174 files"):  # fmt: skip
        assert fact in box, fact
    read = text.split("How to read it", 2)[2].split("Latency", 1)[0]
    for fact in ("flow end-point error", "Against the true try-on", "pytorch-ssim", "grey SSIM",
                 "SSIM vs truth ↑ higher is better", "flow EPE (px) ↓ lower is better",
                 "Paired SSIM rewards keeping the person's pixels.",
                 "Worse than every lower bound on SSIM vs truth (exact-truth): PB-AFN (tutor)."):  # fmt: skip
        assert fact in read, fact
    assert page.index('id="quality"') < page.index('id="read"') < page.index('id="plots"')
    sources = [a for a in parsed.attributes if a.endswith((".png", ".svg"))]
    assert "qualitative.png" in sources and "plots/quality_speed_exact-truth_cpu.png" in sources
    assert all((report[0] / s).is_file() for s in sources)
    assert "http://" not in page and "https://" not in page
    assert 'class="published"' in page and 'class="method" scope="row">PF-AFN<' in page


def test_html_folds_the_provenance_details(report):
    page = (report[0] / "index.html").read_text()
    parsed = _Collector()
    parsed.feed(page)
    folded = "".join(parsed.folded)
    for fact in ("ab" * 32, "cd" * 32, "/data/viton", "kid needs 1000 images", "FID on 4 images", "total_s",
                 '"contents"'):  # fmt: skip
        assert fact in folded, fact
    assert page.count('<pre class="json">') == page.count("</pre></details>") > 5  # every block folded
    assert '<table class="kv">' not in page  # no nested key-value dump


# ---------------------------------------------------------------------------------------------------------------------
# Files, determinism, rerendering.


def test_rerun_on_shuffled_rows_writes_identical_files(report, tmp_path):
    shuffled = make_results().sample(frac=1, random_state=3)
    pairs = make_pairs(tmp_path / "in", ["pf_afn", "pb_afn", "no_warp"], truth=True)
    first, second = report[0], tmp_path / "out"
    written = write_report(shuffled, make_run(), second, qualitative=pairs)
    assert [p.relative_to(second) for p in written] == [p.relative_to(first) for p in report[1]]
    for path in written:  # results.csv, table.md, plots (PNG and SVG), qualitative.png, index.html
        assert path.read_bytes() == (first / path.relative_to(second)).read_bytes(), path.name
    back = pd.read_csv(second / "results.csv", keep_default_na=False, na_values=[""])
    assert list(back.columns) == list(COLUMNS) and len(back) == len(shuffled)
    assert set(zip(back["method"], back["metric"], back["value"].fillna(-1), strict=True)) == set(
        zip(shuffled["method"], shuffled["metric"], shuffled["value"].fillna(-1), strict=True)
    )
    assert not list(second.rglob("*.tmp"))


def test_rerender_redraws_a_finished_report_from_its_files(report, tmp_path):
    import json
    import shutil

    folder = tmp_path / "r"
    shutil.copytree(report[0], folder)
    run = make_run() | {"kind": "suite-run", "schema_version": 1}
    (folder / "run.json").write_text(json.dumps(run))
    table = pd.read_csv(folder / "results.csv", keep_default_na=False, na_values=[""])
    table.drop(columns="pairs").to_csv(folder / "results.csv", index=False)  # written before the column existed
    (folder / "plots" / "quality_speed_ssim.png").write_bytes(b"stale")
    grid = (folder / "qualitative.png").read_bytes()
    (folder / "index.html").unlink()
    paths = rerender(folder)
    assert (folder / "index.html").is_file() and (folder / "qualitative.png").read_bytes() == grid
    assert not (folder / "plots" / "quality_speed_ssim.png").exists()
    assert (folder / "plots" / "bars_ssim.png").read_bytes() == (report[0] / "plots" / "bars_ssim.png").read_bytes()
    page = (folder / "index.html").read_text()
    assert "qualitative.png" in page and "How to read it" in page and "pair lists:" not in page
    assert {p.name for p in paths} >= {"table.md", "index.html", "bars_ssim.svg"}
    with pytest.raises(Exception, match="run.json"):
        rerender(tmp_path)


def test_whole_number_columns_are_written_as_integers() -> None:
    from bench.report import with_integers

    table = pd.DataFrame({"n": [54.0, np.nan, ""], "seeds": [3.0, "", ""], "batch": [1.0, "", 8.0],
                          "value": [0.5, 1.0, 2.0]})  # fmt: skip
    text = with_integers(table).to_csv(index=False)
    assert text.splitlines() == ["n,seeds,batch,value", "54,3,1,0.5", ",,,1.0", ",,8,2.0"]


def test_point_labels_stay_inside_their_axes():
    """A long label of a point at the right edge goes left of it, not over the next panel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bench.report.plots import _place_labels

    fig, (ax, _) = plt.subplots(1, 2, figsize=(8, 3))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 10)
    points = [(9.8, 5.0, "a long label for the point at the right edge", "C0"), (0.2, 9.9, "top left", "C1"),
              (9.8, 5.2, "a second label beside the first", "C2")]  # fmt: skip
    _place_labels(ax, points)
    fig.canvas.draw()
    frame = ax.get_window_extent()
    for text in ax.texts:
        box = text.get_window_extent()
        assert frame.x0 - 1 <= box.x0 and box.x1 <= frame.x1 + 1, text.get_text()
        assert frame.y0 - 1 <= box.y0 and box.y1 <= frame.y1 + 1, text.get_text()
    plt.close(fig)
