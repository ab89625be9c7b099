"""`pftryon tryon`: the official PF-AFN test pipeline from the command line.

The six real demo pairs run once through a tiny pftryon checkpoint (deterministic weights). The person and
masked-garment panels are checked against the official output triptychs (they are the preprocessed inputs, so they
must match up to JPEG noise, whatever the weights); the try-on panel against the Python API. The full-size model from
official-format files runs on one pair (and in test_predict.py against ``pftryon predict``).
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner, Result
from PIL import Image

from bench.cli import main
from bench.data.readers import InputError, read_mask, read_rgb
from bench.images import to_uint8
from bench.tryon import Pair, run_tryon
from pftryon import PFAFN, create_model, save_pretrained
from pftryon.models import init_deterministic_, mask_garment

WIDTH, HEIGHT = 192, 256
TINY = {"ngf": 8, "channels": (8, 8, 16, 16, 16), "fpn_dim": 16}


def _tryon(*args: object) -> Result:
    return CliRunner().invoke(main, ["tryon", *map(str, args)])


def _assert_error(result: Result, *fragments: object) -> None:
    """Exit code 2, no traceback, and the message alone on the last line of stderr, naming ``fragments``."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output
    assert result.stderr.count("error:") == 1, result.stderr
    last = result.stderr.splitlines()[-1]
    assert last.startswith("error: "), f"the error must be on its own line, got {result.stderr!r}"
    for fragment in fragments:
        assert str(fragment) in last, (fragment, last)


def _read_png(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        assert image.mode == "RGB", path
        return np.asarray(image)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def _round_uint8(image: torch.Tensor) -> np.ndarray:
    """A near miss of :func:`to_uint8`: rounding instead of the official truncation."""
    return ((image.clamp(-1, 1) + 1) / 2 * 255).round().permute(1, 2, 0).numpy().astype(np.uint8)


@torch.inference_mode()
def _api_tryon(model: PFAFN, person: Path, cloth: Path, edge: Path) -> np.ndarray:
    """The try-on panel through the Python API, as documented for :class:`PFAFN`."""
    garment, mask = mask_garment(read_rgb(cloth)[None], read_mask(edge)[None])
    return to_uint8(model.eval()(read_rgb(person)[None], garment, mask)["tryon"][0])


def _write_pairs(path: Path, *lines: str) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


@pytest.fixture(scope="module")
def demo_pairs(viton_demo) -> list[tuple[str, str]]:
    pairs = [tuple(line.split()) for line in (viton_demo / "demo.txt").read_text().splitlines() if line.strip()]
    assert len(pairs) == 6
    return pairs


def _paths(demo: Path, person: str, cloth: str) -> tuple[Path, Path, Path]:
    root = demo / "dataset"
    return root / "test_img" / person, root / "test_clothes" / cloth, root / "test_edge" / cloth


@pytest.fixture(scope="module")
def model() -> PFAFN:
    model = PFAFN()
    init_deterministic_(model.warp)  # the conformance rule is per official file
    init_deterministic_(model.gen)
    return model.eval()


@pytest.fixture(scope="module")
def official_dir(model, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("official")
    torch.save(model.warp.state_dict(), folder / "warp_model_final.pth")
    torch.save(model.gen.state_dict(), folder / "gen_model_final.pth")
    return folder


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, PFAFN]:
    model = init_deterministic_(create_model("pf_afn", **TINY)).eval()
    return save_pretrained(model, tmp_path_factory.mktemp("tiny")), model


@pytest.fixture(scope="module")
def demo_run(viton_demo, tiny, tmp_path_factory) -> tuple[Result, Path]:
    """All six demo pairs through the tiny checkpoint, as triptychs (done once)."""
    out = tmp_path_factory.mktemp("demo_out")
    result = _tryon("--dataroot", viton_demo / "dataset", "--pairs", viton_demo / "demo.txt", "--checkpoints", tiny[0],
                    "--out", out, "--device", "cpu", "--triptych")  # fmt: skip
    return result, out


def _output(out: Path, person: str, cloth: str) -> Path:
    return out / f"{Path(person).stem}__{Path(cloth).stem}.png"


# --- end to end on the real demo pairs --------------------------------------------------------------------------


def test_demo_writes_one_triptych_per_pair(demo_run, demo_pairs):
    result, out = demo_run
    assert result.exit_code == 0, (result.output, result.exception)
    assert "wrote 6 new images" in result.stdout
    names = sorted(_output(out, *pair).name for pair in demo_pairs)
    assert sorted(p.name for p in out.iterdir()) == sorted([*names, "tryon.json"])
    for pair in demo_pairs:
        assert _read_png(_output(out, *pair)).shape == (HEIGHT, 3 * WIDTH, 3), pair


def test_demo_input_panels_match_the_official_triptychs(demo_run, viton_demo, demo_pairs):
    """Person and masked garment (edge > 0.5, garment * edge, truncating uint8) against the official output.

    JPEG noise alone keeps the PSNR above 35 dB, so the test also checks that our panels are closer to the
    official ones than those of two near misses: rounding instead of truncating, and a soft (unbinarised) mask.
    """
    _, out = demo_run
    psnrs, errors = {}, {"ours": 0.0, "rounded": 0.0, "soft mask": 0.0}
    for k, pair in enumerate(demo_pairs):
        ours = _read_png(_output(out, *pair))[:, : 2 * WIDTH]
        with Image.open(viton_demo / "results" / "demo" / "PFAFN" / f"{k}.jpg") as image:
            official = np.asarray(image.convert("RGB"))
        assert official.shape == (HEIGHT, 3 * WIDTH, 3), k
        official = official[:, : 2 * WIDTH]
        for panel, name in enumerate(("person", "garment")):
            columns = slice(panel * WIDTH, (panel + 1) * WIDTH)
            psnrs[k, name] = _psnr(ours[:, columns], official[:, columns])

        person_file, cloth_file, edge_file = _paths(viton_demo, *pair)
        person, cloth, edge = read_rgb(person_file), read_rgb(cloth_file), read_mask(edge_file)
        garment = mask_garment(cloth[None], edge[None])[0][0]
        rounded = np.concatenate([_round_uint8(person), _round_uint8(garment)], axis=1)
        with Image.open(edge_file) as image:
            grey = torch.from_numpy(np.asarray(image.convert("L"), dtype=np.float32) / 255.0)
        soft = np.concatenate([to_uint8(person), to_uint8(cloth * grey)], axis=1)
        for name, pixels in (("ours", ours), ("rounded", rounded), ("soft mask", soft)):
            errors[name] += float(np.sum((pixels.astype(np.float64) - official) ** 2))
    assert min(psnrs.values()) > 35, psnrs
    assert errors["ours"] * 1.1 < min(errors["rounded"], errors["soft mask"]), errors


def test_demo_tryon_panel_equals_the_python_api(demo_run, viton_demo, demo_pairs, tiny):
    _, out = demo_run
    pair = demo_pairs[2]
    person, cloth, edge = _paths(viton_demo, *pair)
    garment, _ = mask_garment(read_rgb(cloth)[None], read_mask(edge)[None])
    ours = _read_png(_output(out, *pair))
    np.testing.assert_array_equal(ours[:, 2 * WIDTH :], _api_tryon(tiny[1], person, cloth, edge))
    np.testing.assert_array_equal(ours[:, :WIDTH], to_uint8(read_rgb(person)))
    np.testing.assert_array_equal(ours[:, WIDTH : 2 * WIDTH], to_uint8(garment[0]))


def test_rerun_skips_finished_pairs(demo_run, viton_demo, demo_pairs, tiny, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(demo_run[1], out)
    args = ("--dataroot", viton_demo / "dataset", "--pairs", viton_demo / "demo.txt", "--checkpoints", tiny[0],
            "--out", out, "--device", "cpu", "--triptych")  # fmt: skip
    outputs = [_output(out, *pair) for pair in demo_pairs]

    def stamps() -> list[tuple[int, int]]:
        return [(path.stat().st_ino, path.stat().st_mtime_ns) for path in outputs]

    before = stamps()
    result = _tryon(*args)
    assert result.exit_code == 0, (result.output, result.exception)
    assert stamps() == before, "finished pairs must not be rewritten"

    removed = outputs[3]
    original = _read_png(removed)
    removed.unlink()
    result = _tryon(*args)
    assert result.exit_code == 0, (result.output, result.exception)
    after = stamps()
    assert [a == b for a, b in zip(before, after, strict=True)] == [True, True, True, False, True, True]
    np.testing.assert_array_equal(_read_png(removed), original)


def test_single_pair_mode_writes_the_tryon_only(demo_run, viton_demo, demo_pairs, tiny, tmp_path):
    pair = demo_pairs[0]
    person, cloth, edge = _paths(viton_demo, *pair)
    result = _tryon("--person", person, "--cloth", cloth, "--edge", edge, "--checkpoints", tiny[0],
                    "--out", tmp_path, "--device", "cpu")  # fmt: skip
    assert result.exit_code == 0, (result.output, result.exception)
    assert sorted(p.name for p in tmp_path.iterdir()) == [_output(tmp_path, *pair).name, "tryon.json"]
    ours = _read_png(_output(tmp_path, *pair))
    assert ours.shape == (HEIGHT, WIDTH, 3)
    np.testing.assert_array_equal(ours, _read_png(_output(demo_run[1], *pair))[:, 2 * WIDTH :])


def test_official_files_give_the_full_size_model(official_dir, model, viton_demo, demo_pairs, tmp_path):
    """The official file names load into the full-size model: the output is the Python API's."""
    pair = demo_pairs[1]
    pairs = _write_pairs(tmp_path / "pairs.txt", " ".join(pair))
    out = tmp_path / "out"
    result = _tryon("--dataroot", viton_demo / "dataset", "--pairs", pairs, "--checkpoints", official_dir, "--out", out,
                    "--device", "cpu")  # fmt: skip
    assert result.exit_code == 0, (result.output, result.exception)
    assert sorted(p.name for p in out.iterdir()) == [_output(out, *pair).name, "tryon.json"]
    np.testing.assert_array_equal(_read_png(_output(out, *pair)), _api_tryon(model, *_paths(viton_demo, *pair)))


# --- errors: one line on stderr naming the file, exit code 2 -----------------------------------------------------


@pytest.fixture
def one_pair(viton_demo, demo_pairs, tmp_path) -> tuple[Path, Path]:
    """``(dataroot, pairs file)`` for the first demo pair."""
    return viton_demo / "dataset", _write_pairs(tmp_path / "pairs.txt", " ".join(demo_pairs[0]))


def test_missing_checkpoint_folder(one_pair, tmp_path):
    dataroot, pairs = one_pair
    missing = tmp_path / "no_such_folder"
    result = _tryon("--dataroot", dataroot, "--pairs", pairs, "--checkpoints", missing, "--out", tmp_path / "out")
    _assert_error(result, missing)


def test_checkpoint_folder_without_generator(one_pair, official_dir, tmp_path):
    dataroot, pairs = one_pair
    folder = tmp_path / "ckpt"
    folder.mkdir()
    shutil.copy(official_dir / "warp_model_final.pth", folder)
    result = _tryon("--dataroot", dataroot, "--pairs", pairs, "--checkpoints", folder, "--out", tmp_path / "out")
    _assert_error(result, f"{folder / 'gen_model_final.pth'}: ")


def test_unreadable_checkpoint_file(one_pair, tmp_path):
    dataroot, pairs = one_pair
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "warp_model_final.pth").write_bytes(b"not a checkpoint")
    (folder / "gen_model_final.pth").write_bytes(b"not a checkpoint")
    result = _tryon("--dataroot", dataroot, "--pairs", pairs, "--checkpoints", folder, "--out", tmp_path / "out")
    _assert_error(result, folder / "warp_model_final.pth")


def test_pairs_line_with_three_fields(viton_demo, demo_pairs, tiny, tmp_path):
    pairs = _write_pairs(tmp_path / "pairs.txt", " ".join(demo_pairs[0]), "a.jpg b.jpg c.jpg")
    result = _tryon("--dataroot", viton_demo / "dataset", "--pairs", pairs, "--checkpoints", tiny[0], "--out", tmp_path)
    _assert_error(result, f"{pairs}:2:")


def test_pairs_naming_a_missing_image(viton_demo, demo_pairs, tiny, tmp_path):
    person = demo_pairs[0][0]
    pairs = _write_pairs(tmp_path / "pairs.txt", " ".join(demo_pairs[0]), f"{person} 999999_1.jpg")
    result = _tryon("--dataroot", viton_demo / "dataset", "--pairs", pairs, "--checkpoints", tiny[0], "--out", tmp_path)
    _assert_error(result, viton_demo / "dataset" / "test_clothes" / "999999_1.jpg")


def test_truncated_jpeg(viton_demo, demo_pairs, tiny, tmp_path):
    dataroot = tmp_path / "dataset"
    shutil.copytree(viton_demo / "dataset", dataroot)
    person, cloth = demo_pairs[0]
    broken = dataroot / "test_edge" / cloth
    broken.write_bytes(broken.read_bytes()[: broken.stat().st_size // 2])
    pairs = _write_pairs(tmp_path / "pairs.txt", f"{person} {cloth}")
    result = _tryon("--dataroot", dataroot, "--pairs", pairs, "--checkpoints", tiny[0], "--out", tmp_path / "out",
                    "--device", "cpu")  # fmt: skip
    _assert_error(result, broken)
    assert not list((tmp_path / "out").glob("*.png"))


def test_cloth_of_the_wrong_size(viton_demo, demo_pairs, tiny, tmp_path):
    person, cloth, edge = _paths(viton_demo, *demo_pairs[0])
    small = tmp_path / "small.png"
    Image.new("RGB", (100, 100), (200, 30, 30)).save(small)
    result = _tryon("--person", person, "--cloth", small, "--edge", edge, "--checkpoints", tiny[0],
                    "--out", tmp_path / "out", "--device", "cpu")  # fmt: skip
    _assert_error(result, small, "100x100")


def test_missing_single_file(viton_demo, demo_pairs, tiny, tmp_path):
    person, cloth, _ = _paths(viton_demo, *demo_pairs[0])
    missing = tmp_path / "edge.jpg"
    result = _tryon("--person", person, "--cloth", cloth, "--edge", missing, "--checkpoints", tiny[0],
                    "--out", tmp_path / "out")  # fmt: skip
    _assert_error(result, missing)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_requested_without_cuda(one_pair, tiny, tmp_path):
    dataroot, pairs = one_pair
    result = _tryon("--dataroot", dataroot, "--pairs", pairs, "--checkpoints", tiny[0], "--out", tmp_path / "out",
                    "--device", "cuda")  # fmt: skip
    _assert_error(result, "--device cuda")


@pytest.mark.parametrize(
    "inputs",
    [("--dataroot", "--pairs", "--person"), ("--dataroot",), ("--person", "--cloth"), ()],
    ids=["both-modes", "no-pairs", "no-edge", "nothing"],
)
def test_inputs_must_be_one_complete_mode(inputs, one_pair, viton_demo, demo_pairs, tiny, tmp_path):
    dataroot, pairs = one_pair
    person, cloth, edge = _paths(viton_demo, *demo_pairs[0])
    values = {"--dataroot": dataroot, "--pairs": pairs, "--person": person, "--cloth": cloth, "--edge": edge}
    args = [item for option in inputs for item in (option, values[option])]
    result = _tryon(*args, "--checkpoints", tiny[0], "--out", tmp_path / "out", "--device", "cpu")
    assert result.exit_code == 2, (result.output, result.exception)
    assert "Traceback" not in result.output
    assert "Usage:" in result.stderr
    assert "give either --dataroot and --pairs, or --person, --cloth and --edge" in result.stderr


def test_a_non_finite_try_on_writes_nothing_and_names_the_pair(viton_demo, demo_pairs, tiny, tmp_path):
    """The shared write loop checks a batch before writing it, and tryon.json comes with the first image."""
    broken = copy.deepcopy(tiny[1])
    with torch.no_grad():
        for parameter in broken.parameters():
            parameter.fill_(float("nan"))
    person, cloth = demo_pairs[0]
    out = tmp_path / "out"
    with pytest.raises(InputError, match=rf"non-finite try-on for pair {Path(person).stem}__{Path(cloth).stem}; "):
        run_tryon(broken, [Pair(*_paths(viton_demo, person, cloth))], out, device=torch.device("cpu"),
                  checkpoints={"model.safetensors": "0" * 64}, progress=False)  # fmt: skip
    assert not out.exists() or not list(out.iterdir()), "a failed first batch must leave nothing behind"
