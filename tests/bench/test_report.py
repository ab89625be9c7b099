"""The benchmark report: table layout, Pareto fronts, HTML escaping, determinism and plots."""

from __future__ import annotations

import math
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from bench.report import COLUMNS, QualitativeRow, pareto_front, write_report
from bench.report.tables import latency_tables, prepare, quality_tables

WEIGHTS_NOTE = "weights absent: alexnet-owt-7be5be79.pth (put it in $TORCH_HOME/hub/checkpoints)"
CITATION = "PF-AFN Tab.1 (CVPR 2021)"
NAN = math.nan


def row(method: str, metric: str, value: float, **fields) -> dict:
    """One tidy results row; quality rows by default (viton/test under protocol pfafn)."""
    base = dict(method=method, dataset="viton", split="test", protocol="pfafn", metric=metric, value=value,
                ci_low=NAN, ci_high=NAN, n=2032, source="measured", device="", dtype="", batch="", note="",
                citation="")  # fmt: skip
    return base | fields


def speed(method: str, metric: str, value: float, device: str = "cpu (AMD EPYC 9R14, 2 threads)", **fields) -> dict:
    """One latency row (protocol latency, fp32, batch 1 unless given)."""
    fields = dict(dataset="", split="", protocol="latency", device=device, dtype="fp32", batch=1, n=50) | fields
    return row(method, metric, value, **fields)


def make_results(*, latency: bool = True) -> pd.DataFrame:
    """A few methods under two protocols, one published row, one cell that could not be computed, latency rows."""
    rows = [
        row("pf_afn", "ssim", 0.8712, ci_low=0.8650, ci_high=0.8771),
        row("pf_afn", "fid", 10.8321),
        row("pf_afn", "lpips", NAN, n=NAN, note=WEIGHTS_NOTE),
        row("pf_afn", "ssim", 0.8601, ci_low=0.8540, ci_high=0.8660, protocol="hr_viton"),
        row("pf_afn", "fid", 10.09, source="published", citation=CITATION),
        row("pb_afn", "ssim", 0.8523, ci_low=0.8460, ci_high=0.8590),
        row("pb_afn", "fid", 12.5003),
        row("pb_afn", "lpips", 0.1032, ci_low=0.1001, ci_high=0.1065),
        row("pb_afn", "ssim", 0.8411, ci_low=0.8350, ci_high=0.8470, protocol="hr_viton"),
        row("no_warp", "ssim", 0.7904, ci_low=0.7850, ci_high=0.7960),
        row("no_warp", "fid", 30.1),
    ]
    if latency:
        for method, ms, gflops in (("pf_afn", 41.3, 32.4), ("pb_afn", 63.0, 55.1), ("no_warp", 1.2, 0.01)):
            rows += [
                speed(method, "ms_per_image", ms, ci_low=ms * 0.97, ci_high=ms * 1.04),
                speed(method, "images_per_s", 1000 / ms),
                speed(method, "gflops", gflops),
                speed(method, "params_m", gflops / 2),
                speed(method, "peak_mem_mb", NAN, note="peak memory is measured on CUDA only"),
                speed(method, "ms_per_image", ms / 20, device="cuda (NVIDIA H200)", dtype="bf16", batch=8),
            ]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def make_run(name: str = "synthetic-small") -> dict:
    """A run dict with every optional key filled."""
    return {
        "suite": {"name": name, "description": "Three methods on a small made-up set."},
        "protocols": {
            "pfafn": {
                "description": "PF-AFN's evaluation: pytorch-ssim, pytorch-fid.",
                "source": "PF-AFN",
                "version": 1,
            },
            "hr_viton": {"description": "HR-VITON evaluate.py: grey SSIM.", "source": "HR-VITON", "version": 2},
        },
        "methods": {
            "pf_afn": {
                "family": "pf_afn",
                "citation": "Ge et al., CVPR 2021",
                "checkpoints": {"warp.pth": "ab" * 32},
                "inputs": ["person", "cloth", "cloth_mask"],
            },
            "pb_afn": {"family": "pf_afn", "citation": "Ge et al., CVPR 2021", "checkpoints": {}, "inputs": ["parse"]},
            "no_warp": {"family": "baseline", "citation": "", "checkpoints": {}, "inputs": ["person", "cloth"]},
        },  # fmt: skip
        "datasets": {"viton": {"root": "/data/viton", "fingerprint": "cd" * 32, "pairs": 2032}},
        "skipped": ["pb_afn / kid: kid needs 1000 images, have 4"],
        "warnings": ["FID on 4 images is meaningless"],
        "metadata": {
            "date": "2026-12-03T10:00:00+00:00",
            "git_commit": "79b70ec",
            "versions": {"torch": "2.5"},
            "device": "cpu (AMD EPYC 9R14, 2 threads)",
        },  # fmt: skip
        "timings": {"total_s": 12.5},
    }


def make_pairs(folder: Path, methods: list[str], pairs: int = 2) -> list[QualitativeRow]:
    """Tiny generated images: magenta persons, cyan garments, a grey level per method."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for p in range(pairs):
        pair = f"00012{p}__00045{p}"
        person, garment = folder / f"{pair}_person.png", folder / f"{pair}_garment.png"
        Image.new("RGB", (24, 32), (255, 0, 255)).save(person)
        Image.new("RGB", (24, 32), (0, 255, 255)).save(garment)
        outputs = {}
        for i, method in enumerate(methods):
            outputs[method] = folder / f"{pair}_{i}.png"
            Image.new("RGB", (24, 32), (60 * i, 120, 40)).save(outputs[method])
        rows.append(QualitativeRow(pair, person, garment, outputs))
    return rows


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """One full report (plots and grid included), shared: drawing the plots is the slow part."""
    out = tmp_path_factory.mktemp("report")
    pairs = make_pairs(out.parent / f"{out.name}-inputs", ["pf_afn", "pb_afn", "no_warp"])
    return out, write_report(make_results(), make_run(), out, qualitative=pairs)


def _markdown_rows(text: str, title: str) -> list[list[str]]:
    """The cells of the Markdown table under ``### title``."""
    block = text.split(f"### {title}\n", 1)[1].strip().split("\n\n", 1)[0]
    return [[c.strip() for c in line.strip().strip("|").split("|")] for line in block.splitlines()]


# ---------------------------------------------------------------------------------------------------------------------
# Tables.


def test_quality_table_keeps_published_rows_apart_and_formats_cis():
    frame = prepare(make_results())
    (table,) = quality_tables(frame, make_run())
    labels = [c.label for c in table.columns]
    assert labels == ["SSIM ↑ (pfafn)", "LPIPS ↓ (pfafn)", "FID ↓ (pfafn)", "SSIM ↑ (hr_viton)"]
    keys = [(r.method, r.source) for r in table.rows]
    assert keys == [("pf_afn", "measured"), ("pf_afn", "published"), ("pb_afn", "measured"),
                    ("no_warp", "measured")]  # fmt: skip
    measured, published = table.rows[0], table.rows[1]
    assert measured.cells[0].text == "0.8712" and measured.cells[0].ci == "[0.8650, 0.8771]"
    assert measured.cells[2].text == "10.83" and measured.cells[2].ci == ""  # no CI computed: none shown
    assert published.cells[2].text == "10.09" and published.reference == 1 and table.citations == (CITATION,)
    assert [c is None for c in published.cells] == [True, True, False, True]  # only what the paper gave
    assert measured.cells[1].missing and table.reasons == (("a", WEIGHTS_NOTE),)


def test_markdown_marks_published_rows_and_lists_reasons(report):
    text = (report[0] / "table.md").read_text()
    rows = _markdown_rows(text, "viton / test")
    assert rows[0][:3] == ["method", "source", "n"] and rows[1][0] == "---"
    assert rows[2] == ["pf_afn", "measured", "2032", "0.8712 [0.8650, 0.8771]", "n/a [a]", "10.83",
                       "0.8601 [0.8540, 0.8660]"]  # fmt: skip
    assert rows[3] == ["pf_afn", "† published [1]", "2032", "–", "–", "10.09", "–"]
    assert f"- [1] {CITATION}" in text and f"- [a] {WEIGHTS_NOTE}" in text
    latency = _markdown_rows(text, "cpu (AMD EPYC 9R14, 2 threads), fp32, batch 1")
    assert latency[0][3:] == ["ms/image ↓", "images/s ↑", "GFLOPs ↓", "params (M) ↓", "peak memory (MB) ↓"]
    assert latency[2][3] == "41.30 [40.06, 42.95]" and latency[2][7] == "n/a [a]"
    assert "### cuda (NVIDIA H200), bf16, batch 8" in text


def test_latency_tables_split_by_device_dtype_and_batch():
    tables = latency_tables(prepare(make_results()), make_run())
    assert [t.title for t in tables] == ["cpu (AMD EPYC 9R14, 2 threads), fp32, batch 1",
                                         "cuda (NVIDIA H200), bf16, batch 8"]  # fmt: skip
    assert [r.method for r in tables[1].rows] == ["pf_afn", "pb_afn", "no_warp"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns="note"), "exactly the columns"),
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


def test_published_only_and_math_like_names_are_drawn_as_text(tmp_path):
    name = r"$\frac{a$ net"  # would be a mathtext error if parsed
    rows = [
        row(name, "fid", 27.3, source="published", citation="DM-VTON README"),
        speed(name, "ms_per_image", 35.8, source="published", citation="DM-VTON README", device="GPU (T4)"),
    ]
    paths = write_report(pd.DataFrame(rows, columns=list(COLUMNS)), {"suite": {"name": "anchors"}}, tmp_path)
    assert {"quality_speed_fid.svg", "bars_fid.png"} <= {p.name for p in paths}
    assert "| † published [1] | 2032 | 27.3 |" in (tmp_path / "table.md").read_text()


def test_write_report_needs_a_suite_name(tmp_path):
    with pytest.raises(ValueError, match="suite"):
        write_report(make_results(), {"suite": {}}, tmp_path)


# ---------------------------------------------------------------------------------------------------------------------
# Pareto front.


def test_pareto_front_keeps_only_undominated_points():
    ms = [10, 20, 30, 15, 40, np.nan]
    ssim = [0.80, 0.90, 0.85, 0.80, 0.90, 0.99]
    assert pareto_front(ms, ssim).tolist() == [True, True, False, False, False, False]
    # lower-is-better quality (FID): flip the direction
    assert pareto_front([1, 2, 3], [30.0, 20.0, 25.0], y_higher_is_better=False).tolist() == [True, True, False]
    # equal points do not dominate each other
    assert pareto_front([5, 5], [0.5, 0.5]).tolist() == [True, True]
    assert pareto_front([], []).tolist() == []
    with pytest.raises(ValueError, match="same length"):
        pareto_front([1, 2], [1])


# ---------------------------------------------------------------------------------------------------------------------
# HTML.


class _Collector(HTMLParser):
    """Tags, attribute values and text of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += [value or "" for _, value in attrs]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_escapes_hostile_names_and_paths(tmp_path):
    hostile = '<script>alert("m")</script>'
    results = make_results().replace({"method": {"no_warp": hostile}})
    run = make_run("<b>suite</b>")
    run["methods"][hostile] = run["methods"].pop("no_warp")
    run["datasets"]["viton"]["root"] = '/data/"><img src=x onerror=alert(1)>'
    run["warnings"].append("<iframe src='https://example.com'>")
    write_report(results, run, tmp_path, qualitative=make_pairs(tmp_path / "in", ["pf_afn", hostile]), plots=False)
    page = (tmp_path / "index.html").read_text()
    parsed = _Collector()
    parsed.feed(page)
    assert "script" not in parsed.tags and "iframe" not in parsed.tags and "b" not in parsed.tags
    assert all("onerror" not in a for a in parsed.attributes)
    text = "".join(parsed.text)
    assert hostile in text and "<b>suite</b>" in text and "onerror=alert(1)" in text  # shown as text
    assert "&lt;script&gt;" in page


def test_html_has_tables_plots_grid_provenance_and_no_network(report):
    page = (report[0] / "index.html").read_text()
    parsed = _Collector()
    parsed.feed(page)
    assert parsed.tags.count("table") >= 3 and "style" in parsed.tags
    sources = [a for a in parsed.attributes if a.endswith((".png", ".svg"))]
    assert "qualitative.png" in sources and "plots/quality_speed_ssim.png" in sources
    assert all((report[0] / s).is_file() for s in sources)
    assert "http://" not in page and "https://" not in page
    for fact in ("79b70ec", "ab" * 32, "cd" * 32, "/data/viton", "pytorch-ssim", WEIGHTS_NOTE, CITATION,
                 "kid needs 1000 images", "FID on 4 images", "total_s"):  # fmt: skip
        assert fact in page, fact
    assert 'class="published"' in page


# ---------------------------------------------------------------------------------------------------------------------
# Files, determinism, plots.


def test_rerun_on_shuffled_rows_writes_identical_files(report, tmp_path):
    shuffled = make_results().sample(frac=1, random_state=3)
    pairs = make_pairs(tmp_path / "in", ["pf_afn", "pb_afn", "no_warp"])
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


def test_plots_written_as_png_and_svg(report):
    names = {p.name for p in report[1]}
    for stem in ("quality_speed_ssim", "quality_speed_fid", "quality_speed_lpips", "bars_ssim", "bars_ms_per_image",
                 "cross_protocol_ssim"):  # fmt: skip
        assert {f"{stem}.png", f"{stem}.svg"} <= names, stem
    assert "cross_protocol_fid.png" not in names  # FID under one protocol only
    with Image.open(report[0] / "plots" / "bars_ssim.png") as image:
        assert image.width > 200 and len(image.convert("RGB").getcolors(1 << 16) or ()) > 10


def test_plots_without_latency_rows_are_skipped_and_listed(tmp_path):
    paths = write_report(make_results(latency=False), make_run(), tmp_path)
    assert not [p for p in paths if p.name.startswith("quality_speed")]
    assert any(p.name == "bars_ssim.png" for p in paths)
    page = (tmp_path / "index.html").read_text()
    assert "Plots not drawn" in page and "quality_speed_ssim: no ms/image or GFLOPs rows" in page
    assert "### cpu" not in (tmp_path / "table.md").read_text()


def test_qualitative_grid_has_a_column_per_method_and_marks_missing_images(report, tmp_path):
    pairs = make_pairs(tmp_path / "in", ["pf_afn", "pb_afn"])
    pairs[1].outputs["pb_afn"].unlink()
    write_report(make_results(), make_run(), tmp_path, qualitative=pairs, plots=False)
    with Image.open(tmp_path / "qualitative.png") as grid, Image.open(report[0] / "qualitative.png") as wide:
        assert grid.height == wide.height and grid.width < wide.width  # one column fewer, same rows
        assert grid.convert("RGB").getpixel((grid.width - 60, grid.height - 60)) == (225, 225, 225)  # placeholder
    page = (tmp_path / "index.html").read_text()
    assert "pair 000121__000451, pb_afn" in page


def test_whole_number_columns_are_written_as_integers() -> None:
    from bench.report import _with_integers

    table = pd.DataFrame({"n": [54.0, np.nan, ""], "batch": [1.0, "", 8.0], "value": [0.5, 1.0, 2.0]})
    text = _with_integers(table).to_csv(index=False)
    assert text.splitlines() == ["n,batch,value", "54,1,0.5", ",,1.0", ",8,2.0"]
