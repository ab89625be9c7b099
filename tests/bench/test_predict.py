"""`pftryon predict`: any method over any loader, resumable, atomic, refusing to mix outputs."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from bench.cli import main
from bench.data import create_dataset
from bench.data.readers import InputError
from bench.eval import match_dataset
from bench.methods import create_method
from bench.predict import MANIFEST, predict
from bench.protocols import load_protocol
from pftryon import PFAFN, create_model, save_pretrained
from pftryon.models import init_deterministic_


def _loader(root: Path, mode: str):
    return create_dataset("viton", root, split="test", pair_mode=mode, parse="image-parse-new")


def test_outputs_are_named_as_eval_matches_them(viton, tiny_pfafn, tmp_path):
    method = create_method("pf_afn", tiny_pfafn)
    for mode in ("paired", "unpaired"):
        result = predict(method, _loader(viton, mode), tmp_path / mode, progress=False, save_flow=True)
        assert result.written == result.total == 4 and result.done_before == 0
        assert len(list((tmp_path / mode).glob("*.npy"))) == 4
    eval_set = match_dataset(tmp_path / "paired", "viton", viton, load_protocol("pfafn"),
                             pred_unpaired_dir=tmp_path / "unpaired", parse="image-parse-new")  # fmt: skip
    assert len(eval_set.pairs) == 4 and len(eval_set.fake) == 4
    assert all(pred.parent == tmp_path / "paired" for _, pred, _ in eval_set.pairs)
    manifest = json.loads((tmp_path / "paired" / MANIFEST).read_text())
    assert manifest["method"]["card"]["name"] == "pf_afn"
    assert manifest["identity"]["checkpoint_sha256"] == sorted(method.checkpoints.values())
    assert len(manifest["dataset"]["fingerprint_sha256"]) == 64 and len(manifest["pairs"]) == 4


def test_a_rerun_resumes_and_writes_only_what_is_missing(viton, tiny_pfafn, tmp_path):
    method = create_method("pf_afn", tiny_pfafn)
    first = predict(method, _loader(viton, "paired"), tmp_path, progress=False)
    victim = tmp_path / f"{first.manifest['pairs'][2]}.png"
    before = victim.read_bytes()
    victim.unlink()
    again = predict(method, _loader(viton, "paired"), tmp_path, progress=False)
    assert (again.written, again.done_before) == (1, 3)
    assert victim.read_bytes() == before
    assert not list(tmp_path.glob("*.tmp*")), "no temporary file may stay behind"


def test_a_folder_of_another_checkpoint_is_refused(viton, tiny_pfafn, tiny, tmp_path):
    predict(create_method("pf_afn", tiny_pfafn), _loader(viton, "paired"), tmp_path, progress=False)
    other = create_model("pf_afn", **tiny)
    save_pretrained(other, tmp_path / "other")
    with pytest.raises(InputError, match="holds pf_afn outputs made with another checkpoint_sha256"):
        predict(create_method("pf_afn", tmp_path / "other"), _loader(viton, "paired"), tmp_path, progress=False)
    with pytest.raises(InputError, match="another method"):
        predict(create_method("no_warp"), _loader(viton, "paired"), tmp_path, progress=False)


def test_low_precision_is_opt_in_and_states_its_error_against_fp32(viton, tiny_pfafn, tmp_path):
    method = create_method("pf_afn", tiny_pfafn)
    fp32 = predict(method, _loader(viton, "paired"), tmp_path / "fp32", progress=False)
    assert fp32.manifest["identity"]["dtype"] == "fp32" and fp32.manifest["precision"] == {"dtype": "fp32"}
    int8 = predict(method, _loader(viton, "paired"), tmp_path / "int8", batch_size=2, progress=False, dtype="int8")
    precision = int8.manifest["precision"]
    assert int8.manifest["identity"]["dtype"] == "int8" and int8.written == 4
    assert precision["modules"]["gen"] == "int8" and precision["modules"]["warp"].startswith("fp32: ")
    error = precision["error_vs_fp32"]
    assert error["pairs"] == int8.manifest["pairs"][:2] and 0 < error["max_abs_diff"] <= 2 and 0 <= error["dssim"] < 1
    with pytest.raises(InputError, match="made with another dtype"):
        predict(method, _loader(viton, "paired"), tmp_path / "int8", progress=False, dtype="bf16")
    manifest = tmp_path / "fp32" / MANIFEST  # a folder written before --dtype existed holds fp32 outputs
    old = json.loads(manifest.read_text())
    del old["identity"]["dtype"]
    manifest.write_text(json.dumps(old))
    assert predict(method, _loader(viton, "paired"), tmp_path / "fp32", progress=False).done_before == 4


def test_cli_prints_the_low_precision_error(viton, tiny_pfafn, tmp_path):
    ran = CliRunner().invoke(main, ["predict", "--method", "pf_afn", "--checkpoints", tiny_pfafn, "--dataset", "viton",
                                    "--root", viton, "--out", tmp_path, "--device", "cpu", "--dtype", "bf16",
                                    "--limit", "2"])  # fmt: skip
    assert ran.exit_code == 0, ran.output
    assert "bf16 (all bf16 autocast): against fp32 on the first 2 pairs, max |diff|" in ran.output
    assert "1 - SSIM" in ran.output


def test_limit_and_duplicate_lines(viton_demo: Path, tmp_path: Path) -> None:
    lines = (viton_demo / "demo.txt").read_text().splitlines()
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("\n".join([lines[0], lines[0], lines[1]]) + "\n")
    loader = create_dataset("viton-pfafn", viton_demo / "dataset", split="test", pairs_file=pairs)
    result = predict(create_method("no_warp"), loader, tmp_path / "out", progress=False)
    assert result.total == 2 and result.manifest["duplicates_in_list"] == 1
    limited = predict(create_method("no_warp"), loader, tmp_path / "one", limit=1, progress=False)
    assert limited.total == 1


def test_cli_on_the_real_fixtures_equals_the_official_test(viton_demo: Path, tmp_path: Path) -> None:
    """predict on PF-AFN's test layout with official-format files gives tryon's outputs byte for byte."""
    model = PFAFN()
    init_deterministic_(model.warp)
    init_deterministic_(model.gen)
    torch.save(model.warp.state_dict(), tmp_path / "warp_model_final.pth")
    torch.save(model.gen.state_dict(), tmp_path / "gen_model_final.pth")
    pairs = tmp_path / "two.txt"
    pairs.write_text((viton_demo / "demo.txt").read_text().splitlines()[0] + "\n")
    runner = CliRunner()
    common = ["--checkpoints", tmp_path, "--device", "cpu", "--batch-size", "1"]  # batch size moves float rounding
    data = ["--dataset", "viton-pfafn", "--root", viton_demo / "dataset", "--pairs-file", pairs]
    ours = runner.invoke(main, ["predict", "--method", "pf_afn", *data, "--out", tmp_path / "ours", *common])
    assert ours.exit_code == 0, ours.output
    theirs = runner.invoke(main, ["tryon", "--dataroot", viton_demo / "dataset", "--pairs", pairs, "--out",
                                  tmp_path / "theirs", *common])  # fmt: skip
    assert theirs.exit_code == 0, theirs.output
    # tryon names outputs by file stem (<person>_0__<cloth>_1), predict by sample id (<person>__<cloth>).
    theirs_files = sorted((tmp_path / "theirs").glob("*.png"))
    ours_files = [tmp_path / "ours" / p.name.replace("_0__", "__").replace("_1.png", ".png") for p in theirs_files]
    assert len(theirs_files) == 1 and sorted(ours_files) == sorted((tmp_path / "ours").glob("*.png"))
    for a, b in zip(ours_files, theirs_files, strict=True):
        assert np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b))), a.name


def test_cli_errors_are_one_line(viton, tmp_path):
    runner = CliRunner()
    unknown = runner.invoke(main, ["predict", "--method", "pfafn", "--dataset", "viton", "--root", viton,
                                   "--out", tmp_path])  # fmt: skip
    assert unknown.exit_code == 2 and "Did you mean: pf_afn" in unknown.output
    missing = runner.invoke(main, ["predict", "--method", "pf_afn", "--checkpoints", tmp_path / "nope", "--dataset",
                                   "viton", "--root", viton, "--out", tmp_path / "o", "--device", "cpu"])  # fmt: skip
    assert missing.exit_code == 2 and "Traceback" not in missing.output
    assert missing.stderr.strip().splitlines()[-1].startswith("error: ") and "nope" in missing.stderr


def test_a_failed_predict_leaves_nothing_and_the_same_command_then_runs(viton, tmp_path):
    """A bad image found at the third pair (after two images and predict.json were written) removes the new folder;
    the same command then runs, neither --overwrite nor --resume asked for."""
    root = tmp_path / "viton"
    shutil.copytree(viton, root)
    person = sorted((root / "test" / "image").iterdir())[2]
    good = person.read_bytes()
    person.write_bytes(b"not an image at all")
    argv = ["predict", "--method", "no_warp", "--dataset", "viton", "--root", root, "--out", tmp_path / "runs" / "out",
            "--device", "cpu", "--batch-size", "1"]  # fmt: skip
    failed = CliRunner().invoke(main, [str(a) for a in argv])
    assert failed.exit_code == 2 and person.name in failed.stderr.strip().splitlines()[-1], failed.output
    assert not (tmp_path / "runs").exists()
    person.write_bytes(good)
    again = CliRunner().invoke(main, [str(a) for a in argv])
    assert again.exit_code == 0 and "wrote 4 new images" in again.output, again.output


def test_cli_names_predicts_own_flags(viton, tmp_path):
    runner = CliRunner()
    common = ["--dataset", "viton", "--root", viton, "--out", tmp_path / "o", "--device", "cpu"]
    weights = runner.invoke(main, [str(a) for a in ["predict", "--method", "pf_afn", *common]])
    assert weights.exit_code == 2 and "pass --checkpoints DIR" in weights.stderr
    assert "--checkpoints-for" not in weights.output, "bench's flag, not predict's"
    split = runner.invoke(main, [str(a) for a in ["predict", "--method", "no_warp", *common, "--split", "val"]])
    assert (
        split.exit_code == 2
        and split.stderr.strip() == "error: --split val: viton has no such split (it has train, test)"
    )
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_torchrun_shards_the_pairs(viton, tiny_pfafn, tmp_path):
    """Two processes write the same files as one (each a contiguous block of the pairs)."""
    repo = Path(__file__).parents[2]
    common = ["-m", "bench.cli", "predict", "--method", "pf_afn", "--checkpoints", str(tiny_pfafn), "--dataset",
              "viton", "--root", str(viton), "--option", "parse=image-parse-new", "--device", "cpu",
              "--batch-size", "1"]  # fmt: skip
    single = CliRunner().invoke(main, [*common[2:], "--out", str(tmp_path / "one")])  # in process: one import less
    assert single.exit_code == 0, single.output
    with socket.socket() as probe:  # a free port (torchrun's --master-port 0 does not pick one)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", str(port)]
    double = subprocess.run([*torchrun, *common, "--out", str(tmp_path / "two")], cwd=repo, capture_output=True,
                            text=True, timeout=300)  # fmt: skip
    assert double.returncode == 0, double.stderr[-3000:]
    assert double.stdout.count("wrote 2 new images") == 2, double.stdout
    names = sorted(p.name for p in (tmp_path / "one").glob("*.png"))
    assert len(names) == 4 and names == sorted(p.name for p in (tmp_path / "two").glob("*.png"))
    for name in names:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name
