"""Matching a user can trust in ``pftryon eval``: line order only on request (``--match lines``), the pairing check
(the given pairing against random re-pairings of the same files) and CatVTON's ``--gt`` id rule."""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from bench.cli import main
from bench.data import create_dataset
from bench.data.readers import InputError
from bench.data.synthetic import synthesize
from bench.eval import Journal, evaluate, match_dataset, match_folders, run_eval
from bench.eval.matching import catvton_id
from bench.eval.summary import PAIRING_RESAMPLES, _pairing_check
from bench.protocols import load_protocol


@pytest.fixture(scope="module")
def viton12(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic VITON with 12 test pairs (enough for the pairing check) at 64x48."""
    root = tmp_path_factory.mktemp("viton12")
    synthesize("viton", root, n=24, size=(64, 48), seed=3, test_fraction=0.5, progress=False)
    return root


@pytest.fixture(scope="module")
def by_line(viton12: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Perfect predictions (each paired line's person) named by their 0-based line number, as PF-AFN's test writes."""
    folder = tmp_path_factory.mktemp("by_line")
    for line, entry in enumerate(create_dataset("viton", viton12, split="test", pair_mode="paired").entries):
        shutil.copyfile(entry.files["person"], folder / f"{line}.jpg")
    return folder


@pytest.fixture(scope="module")
def reversed_root(viton12: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same dataset with its paired list in reverse order (every line-order pair now a wrong one)."""
    root = tmp_path_factory.mktemp("reversed") / "viton"
    shutil.copytree(viton12, root)
    lines = (root / "test_pairs_same.txt").read_text().splitlines()
    (root / "test_pairs_same.txt").write_text("\n".join(reversed(lines)) + "\n")
    return root


def _eval_args(pred: Path, root: Path, out: Path, *extra: str) -> list[str]:
    return ["eval", "--pred", str(pred), "--dataset", "viton", "--root", str(root), "--protocol", "pfafn",
            "--metrics", "ssim,psnr", "--out", str(out), *extra]  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------------
# Line order only when asked for.


def test_line_order_is_refused_without_the_flag_naming_it(viton12: Path, by_line: Path, tmp_path: Path) -> None:
    protocol = load_protocol("pfafn")
    with pytest.raises(InputError, match=r"12 listed pair\(s\) have no prediction under their names .* --match lines"):
        match_dataset(by_line, "viton", viton12, protocol)
    refused = CliRunner().invoke(main, _eval_args(by_line, viton12, tmp_path / "out"))
    last = refused.output.strip().splitlines()[-1]
    assert refused.exit_code == 2 and "--match lines" in last and len(refused.output.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
    eval_set = match_dataset(by_line, "viton", viton12, protocol, match="lines")
    assert [pred.name for _, pred, _ in eval_set.pairs] == [f"{i}.jpg" for i in range(12)]
    assert eval_set.matching["matched_by_line_order"]["count"] == 12
    assert eval_set.matching["rule"].startswith("line order")
    with pytest.raises(InputError, match="unknown matching 'order'"):
        match_dataset(by_line, "viton", viton12, protocol, match="order")
    with pytest.raises(InputError, match="--match lines pairs predictions by the line order of a dataset's list"):
        run_eval(by_line, tmp_path / "gt_out", "pfafn", gt=by_line, match="lines", progress=False)


def test_named_predictions_never_fall_back_to_line_numbers(viton12: Path, by_line: Path, tmp_path: Path) -> None:
    """Under ``names``, files named by line numbers are not pairs; under ``lines``, named files are not either."""
    entries = create_dataset("viton", viton12, split="test", pair_mode="paired").entries
    mixed = tmp_path / "mixed"
    shutil.copytree(by_line, mixed)
    for entry in entries:  # every pair also has its named file: the numbered ones are extras, not a fallback
        shutil.copyfile(entry.files["person"], mixed / f"{entry.person_id}__{entry.cloth_id}.jpg")
    named = match_dataset(mixed, "viton", viton12, load_protocol("pfafn"))
    assert named.matching["matched_by_line_order"]["count"] == 0 and named.matching["extra_predictions"]["count"] == 12
    lines = match_dataset(mixed, "viton", viton12, load_protocol("pfafn"), match="lines")
    assert [p.name for _, p, _ in lines.pairs] == [f"{i}.jpg" for i in range(12)]
    assert lines.matching["extra_predictions"]["count"] == 12


# ---------------------------------------------------------------------------------------------------------------------
# The pairing check.


def test_a_reversed_list_under_line_order_is_flagged_first_and_refused_under_strict(
    reversed_root: Path, by_line: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    args = _eval_args(by_line, reversed_root, tmp_path / "out", "--match", "lines")
    with caplog.at_level(logging.WARNING):
        done = CliRunner().invoke(main, args)
    assert done.exit_code == 0, done.output
    # One warning line (under the CLI, Python's last-resort handler prints it on stderr as it is).
    flagged = [r.getMessage() for r in caplog.records if "pairing check failed" in r.getMessage()]
    assert len(flagged) == 1 and flagged[0].startswith("warning: pairing check failed") and "\n" not in flagged[0]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    check = summary["inputs"]["pairing_check"]
    assert check["status"] == "flagged" and check["p_value"] >= 0.01 and check["resamples"] == PAIRING_RESAMPLES
    assert summary["warnings"][0] == check["verdict"]
    head = (tmp_path / "out" / "summary.md").read_text().splitlines()[:4]
    assert head[0].startswith("# pftryon eval") and head[2].startswith("**Warning: pairing check failed")
    strict = _eval_args(by_line, reversed_root, tmp_path / "strict", "--match", "lines", "--strict")
    refused = CliRunner().invoke(main, strict)
    errors = [line for line in refused.output.splitlines() if line.startswith("error:")]
    assert refused.exit_code == 2 and len(errors) == 1 and errors[0].startswith("error: --strict: pairing check failed")
    assert not (tmp_path / "strict").exists()


def test_a_correct_pairing_is_not_flagged(viton12: Path, by_line: Path, tmp_path: Path) -> None:
    args = _eval_args(by_line, viton12, tmp_path / "out", "--match", "lines", "--strict")
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    check = summary["inputs"]["pairing_check"]
    assert check["status"] == "passed" and check["p_value"] == pytest.approx(1 / (PAIRING_RESAMPLES + 1))
    assert not any("pairing check failed" in w for w in summary["warnings"])
    markdown = (tmp_path / "out" / "summary.md").read_text()
    assert "Warning: pairing check" not in markdown and "- pairing check passed" in markdown


def _direct_mean_mse(pred: torch.Tensor, gt: torch.Tensor, order: list[int]) -> float:
    """The statistic written out pair by pair (float64, no distance matrix)."""
    values = [((pred[i].double() - gt[j].double()) / 255).square().mean().item() for i, j in enumerate(order)]
    return float(np.mean(values))


def test_the_check_statistic_p_value_and_its_skips() -> None:
    generator = torch.Generator().manual_seed(0)
    gt = torch.randint(0, 256, (40, 576), dtype=torch.uint8, generator=generator)
    pred = (gt.int() + torch.randint(-20, 21, gt.shape, generator=generator)).clamp(0, 255).to(torch.uint8)
    check = _pairing_check(pred, gt, seed=0)
    assert check["given"] == pytest.approx(_direct_mean_mse(pred, gt, list(range(40))), rel=1e-9)
    # No re-pairing comes close to the given one: p is the +1-corrected minimum, 1 / (K + 1).
    assert check["status"] == "passed" and check["p_value"] == 1 / (PAIRING_RESAMPLES + 1)
    shift = [(i + 1) % 40 for i in range(40)]  # every prediction against its neighbour's reference
    shifted = _pairing_check(pred, gt[shift], seed=0)
    assert shifted["given"] == pytest.approx(_direct_mean_mse(pred, gt, shift), rel=1e-9)
    assert shifted["status"] == "flagged" and shifted["p_value"] > 0.05
    assert shifted["repairings"]["min"] <= shifted["repairings"]["median"] <= shifted["repairings"]["max"]
    assert _pairing_check(pred, gt, seed=0) == check, "a fixed seed gives the same check"
    same = torch.full((10, 576), 128, dtype=torch.uint8)  # every pairing scores alike: not clearly better
    tied = _pairing_check(same, same, seed=0)
    assert tied["status"] == "flagged" and tied["p_value"] == 1.0
    small = _pairing_check(pred[:7], gt[:7], seed=0)
    assert small["status"] == "skipped" and "7 pair(s), too few" in small["reason"]
    assert _pairing_check(None, None, seed=0)["status"] == "skipped"


def test_the_check_is_cheap() -> None:
    """At the largest tested size (2000 pairs; more are subsampled to it) the test takes well under a second's
    worth of work; the thumbnails are pooled from views the pass decodes anyway."""
    generator = torch.Generator().manual_seed(1)
    gt = torch.randint(0, 256, (5000, 576), dtype=torch.uint8, generator=generator)
    start = time.perf_counter()
    check = _pairing_check(gt, gt, seed=0)
    assert time.perf_counter() - start < 5.0  # about 0.5 s alone; generous for a shared machine
    assert check["n_pairs"] == 5000 and check["n_tested"] == 2000 and "2000 of 5000 pairs tested" in check["verdict"]


def test_a_resumed_run_checks_the_same_pairing(viton12: Path, by_line: Path, tmp_path: Path) -> None:
    """Rows read back from the journal are decoded again for their thumbnails: the check equals a fresh run's."""
    protocol = load_protocol("pfafn")
    eval_set = match_dataset(by_line, "viton", viton12, protocol, match="lines")
    fresh = evaluate(eval_set, protocol, metrics=("ssim",), batch_size=4, progress=False)
    evaluate(eval_set, protocol, metrics=("ssim",), batch_size=4, progress=False,
             journal=Journal(tmp_path, {"run": 1}, ["ssim"], resume=False))  # fmt: skip
    rows = tmp_path / ".partial" / "rows.jsonl"
    rows.write_text("".join(rows.read_text().splitlines(keepends=True)[:5]))  # stopped after 5 of 12 rows
    resumed = evaluate(eval_set, protocol, metrics=("ssim",), batch_size=4, progress=False,
                       journal=Journal(tmp_path, {"run": 1}, ["ssim"], resume=True))  # fmt: skip
    assert resumed.summary["inputs"]["pairing_check"] == fresh.summary["inputs"]["pairing_check"]
    assert fresh.summary["inputs"]["pairing_check"]["status"] == "passed"


# ---------------------------------------------------------------------------------------------------------------------
# CatVTON's --gt id rule.


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("00006_00.jpg", "00006_00"),  # VITON-HD image/<id>_00.jpg (CatVTON names outputs like the person)
        ("00006_00_00017_00.png", "00006_00"),  # HR-VITON-style <person>_<cloth> output
        ("tryon-00006_00.png", "00006_00"),  # letters before the first digit are skipped
        ("048392_0.jpg", "048392_0"),  # Dress Code images/<id>_0.jpg
        ("048392_0__048392_1.png", "048392_0"),  # pftryon's <person>__<cloth>
        ("7.png", "7.png"),  # a short number runs into the suffix
        ("person.png", None),  # no digit
    ],
)
def test_catvton_id_is_eight_characters_from_the_first_digit(name: str, expected: str | None) -> None:
    assert catvton_id(name) == expected


def _image(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((64, 48, 3), value, dtype=np.uint8)).save(path)


def test_catvton_protocols_match_gt_folders_by_id_and_others_by_stem(tmp_path: Path) -> None:
    assert load_protocol("catvton").gt_match == load_protocol("catvton-512").gt_match == "catvton-id"
    assert {load_protocol(n).gt_match for n in ("pfafn", "hrviton", "ladi", "vvt")} == {"stem"}
    ids = ["00006_00", "00008_00", "00013_00", "00017_00"]
    for i, person in enumerate(ids):
        _image(tmp_path / "gt" / f"{person}.jpg", 40 * i)
        _image(tmp_path / "pred" / f"{person}_{ids[(i + 1) % 4]}.png", 40 * i)  # <person>_<cloth>, unpaired style
    _image(tmp_path / "gt" / "dresscode" / "upper_body" / "048392_0.jpg", 200)  # Dress Code, nested
    _image(tmp_path / "pred" / "upper_body" / "048392_0.png", 200)
    eval_set = match_folders(tmp_path / "pred", tmp_path / "gt", rule="catvton-id")
    assert {(p.name, g.name) for _, p, g in eval_set.pairs} == {
        ("00006_00_00008_00.png", "00006_00.jpg"), ("00008_00_00013_00.png", "00008_00.jpg"),
        ("00013_00_00017_00.png", "00013_00.jpg"), ("00017_00_00006_00.png", "00017_00.jpg"),
        ("048392_0.png", "048392_0.jpg"),
    }  # fmt: skip
    matching = eval_set.matching
    assert matching["matched"] == matching["listed"] == 5 and matching["unmatched"]["count"] == 0
    assert matching["stems_differ"]["count"] == 4 and matching["rule"].startswith("CatVTON id")
    with pytest.raises(InputError, match=r"00006_00_00008_00\.png: no reference named 00006_00_00008_00\.\*"):
        match_folders(tmp_path / "pred", tmp_path / "gt")  # exact stems elsewhere
    result = run_eval(tmp_path / "pred", tmp_path / "out", "catvton", gt=tmp_path / "gt", metrics=["ssim"],
                      progress=False)  # fmt: skip
    summary = json.loads(result[0][1].read_text())
    assert summary["inputs"]["n_pairs"] == 5 and summary["metrics"]["ssim"]["mean"] == pytest.approx(1.0)


def test_catvton_ambiguous_or_unnamed_files_are_refused_in_one_line(tmp_path: Path) -> None:
    for folder in ("pred", "gt"):
        _image(tmp_path / folder / "00006_00.jpg", 0)
        _image(tmp_path / folder / "00008_00.jpg", 50)
    _image(tmp_path / "gt" / "00006_00_copy.png", 0)  # the same id as 00006_00.jpg
    with pytest.raises(InputError, match=r"ambiguous match, its CatVTON id '00006_00'") as info:
        match_folders(tmp_path / "pred", tmp_path / "gt", rule="catvton-id")
    assert "\n" not in str(info.value) and "00006_00" in str(info.value)
    (tmp_path / "gt" / "00006_00_copy.png").unlink()
    _image(tmp_path / "pred" / "person.png", 0)
    with pytest.raises(InputError, match=r"person\.png: no digit in the file name"):
        match_folders(tmp_path / "pred", tmp_path / "gt", rule="catvton-id")
    (tmp_path / "pred" / "person.png").unlink()
    _image(tmp_path / "pred" / "00099_00.jpg", 0)
    with pytest.raises(InputError, match=r"00099_00\.jpg: no reference with the CatVTON id '00099_00'"):
        match_folders(tmp_path / "pred", tmp_path / "gt", rule="catvton-id")
    (tmp_path / "pred" / "00099_00.jpg").unlink()
    (tmp_path / "pred" / "00008_00.jpg").unlink()
    with pytest.raises(InputError, match=r"no prediction for 1 of 2 references .*first: 00008_00"):
        match_folders(tmp_path / "pred", tmp_path / "gt", rule="catvton-id")
    partial = match_folders(tmp_path / "pred", tmp_path / "gt", rule="catvton-id", allow_partial=True)
    assert partial.matching["matched"] == 1 and partial.matching["unmatched"]["count"] == 1
