"""End to end for every layout: synthesize, check, load a batch; the Arrow cache; the data CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from torch.utils.data import DataLoader

from bench.cli import main
from bench.data import DATASETS, create_dataset
from bench.data.cache import cache_dataset, fingerprint
from bench.data.check import check_dataset
from bench.data.synthetic import LAYOUTS, derangement, synthesize

SIZE = (64, 48)


@pytest.fixture(scope="module", params=sorted(LAYOUTS))
def synthetic(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(request.param)
    synthesize(request.param, root, n=5, size=SIZE, seed=3, test_fraction=0.4, frames=3, progress=False)
    return request.param, root


def test_layout_names_match_the_loaders():
    assert set(LAYOUTS) == set(DATASETS)


def test_synth_then_check_then_batch(synthetic):
    name, root = synthetic
    report = check_dataset(name, root, progress=False)
    assert report.ok, report.problems
    assert all(count > 0 for count in report.counts.values()), report.counts
    assert {split for split, _ in report.counts} == {"train", "test"}
    dataset = create_dataset(name, root, split="test", pair_mode="unpaired")
    batch = next(iter(DataLoader(dataset, batch_size=2)))
    assert batch["person"].shape[1:] == (3, *SIZE) and batch["person"].dtype == torch.float32
    assert batch["person"].min() >= -1 and batch["person"].max() <= 1
    assert batch["cloth"].shape[1:] == (3, *SIZE)
    assert set(batch["pair_mode"]) == {"unpaired"}
    if "cloth_mask" in batch:
        assert set(batch["cloth_mask"].unique().tolist()) <= {0.0, 1.0}
    if "keypoints" in batch:
        assert batch["keypoints"].shape[1:] == (18, 3)


def test_unpaired_pairs_differ_from_paired(synthetic):
    name, root = synthetic
    paired = create_dataset(name, root, split="test", pair_mode="paired")
    unpaired = create_dataset(name, root, split="test", pair_mode="unpaired")
    assert {(e.person_id, e.cloth_id) for e in paired.entries}.isdisjoint(
        {(e.person_id, e.cloth_id) for e in unpaired.entries}
    )


def test_manifest_and_truth(synthetic):
    name, root = synthetic
    manifest = json.loads((root / "synth.json").read_text())
    assert manifest["layout"] == name and manifest["seed"] == 3 and manifest["size"] == list(SIZE)
    assert manifest["background"] == "varied"
    if name != "vvt":
        assert len(list((root / "_truth" / "test" / "tryon").glob("*.png"))) == manifest["pairs"]["test"]


def test_derangement_has_no_fixed_point():
    for n in (2, 3, 10, 101):
        target = derangement(n, seed=n)
        assert sorted(target) == list(range(n)) and all(t != i for i, t in enumerate(target))


def test_parse_noise_changes_parse_maps_only(tmp_path):
    clean, noisy = tmp_path / "clean", tmp_path / "noisy"
    for out, noise in ((clean, 0.0), (noisy, 0.5)):
        synthesize("viton", out, n=3, size=SIZE, seed=1, parse_noise=noise, progress=False)
    a = create_dataset("viton", clean, split="test")[0]
    b = create_dataset("viton", noisy, split="test")[0]
    torch.testing.assert_close(a["person"], b["person"], rtol=0, atol=0)
    assert (a["parse"] != b["parse"]).any()


def test_cache_reuses_and_invalidates(tmp_path):
    root = tmp_path / "data"
    synthesize("viton", root, n=4, size=SIZE, seed=2, progress=False)
    dataset = create_dataset("viton", root, split="test", pair_mode="paired")
    cached = cache_dataset(dataset, tmp_path / "cache")
    assert len(cached) == len(dataset)
    for index in range(len(dataset)):
        expected, got = dataset[index], cached[index]
        assert set(got) == set(expected)
        for key, value in expected.items():
            if isinstance(value, torch.Tensor):
                torch.testing.assert_close(got[key], value, rtol=0, atol=0, msg=key)
            else:
                assert got[key] == value, key
    stamp = (cached.path / "dataset_info.json").stat().st_mtime_ns
    again = cache_dataset(create_dataset("viton", root, split="test", pair_mode="paired"), tmp_path / "cache")
    assert again.path == cached.path and (again.path / "dataset_info.json").stat().st_mtime_ns == stamp
    person = dataset.entries[0].files["person"]
    stat = person.stat()
    os.utime(person, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # a new mtime alone: same content, reused
    assert fingerprint(create_dataset("viton", root, split="test", pair_mode="paired")) == cached.fingerprint
    data = bytearray(person.read_bytes())
    data[-3] ^= 0xFF  # same name and size, and (touch -r) the old mtime
    person.write_bytes(bytes(data))
    os.utime(person, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    changed = create_dataset("viton", root, split="test", pair_mode="paired")
    assert fingerprint(changed) != cached.fingerprint
    assert cache_dataset(changed, tmp_path / "cache").path != cached.path


def test_cli_synth_and_check(tmp_path):
    runner = CliRunner()
    out = tmp_path / "mpv"
    result = runner.invoke(main, ["data", "synth", "--layout", "mpv", "--out", str(out), "--n", "4",
                                  "--size", "64x48", "--seed", "5"])  # fmt: skip
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["data", "check", "--dataset", "mpv", "--root", str(out)])
    assert result.exit_code == 0, result.output
    assert "mpv test  paired" in result.stdout


def test_cli_check_lists_every_problem_and_fails(tmp_path):
    out = tmp_path / "viton"
    synthesize("viton", out, n=4, size=SIZE, seed=2, progress=False)
    broken = sorted((out / "test" / "image").glob("*.jpg"))
    broken[0].write_bytes(broken[0].read_bytes()[:50])  # truncated JPEG
    (out / "test" / "cloth").joinpath(broken[0].name.replace("_0.jpg", "_1.jpg")).unlink()  # missing garment
    runner = CliRunner()
    result = runner.invoke(main, ["data", "check", "--dataset", "viton", "--root", str(out)])
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("problem:")]
    assert any(broken[0].name in line for line in lines) and any("_1.jpg" in line for line in lines)
    assert "Traceback" not in result.output
    skipped = runner.invoke(main, ["data", "check", "--dataset", "viton", "--root", str(out), "--skip-bad"])
    assert skipped.exit_code == 0 and "skipped:" in skipped.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["data", "check", "--dataset", "viton", "--root", "/nonexistent/tree"], "dataset folder not found"),
        (["data", "synth", "--layout", "viton", "--out", "x", "--size", "64by48"], "expected HxW"),
    ],
)
def test_cli_bad_arguments(args, message):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and message in result.output


def test_cli_checks_the_real_fixture(viton_demo: Path) -> None:
    args = ["data", "check", "--dataset", "viton-pfafn", "--root", str(viton_demo / "dataset"), "--split", "test",
            "--pairs-file", str(viton_demo / "demo.txt")]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "viton-pfafn test  paired         6 samples" in result.stdout
    wrong = CliRunner().invoke(
        main, ["data", "check", "--dataset", "viton", "--root", str(viton_demo), "--pairs-file", "x"]
    )
    assert wrong.exit_code == 2 and "does not apply to viton" in wrong.output
