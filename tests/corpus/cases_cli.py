"""Bad inputs of ``tryon``, ``data``, ``train``, ``ablate`` and ``methods``: checkpoints, output folders,
pair lists, dataset trees, training settings and recipes."""

from __future__ import annotations

import json
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path

import torch
from corpus_lib import Case, Workspace
from PIL import Image
from safetensors.torch import load_file, save_file

from bench.data.readers import file_sha256

LFS_POINTER = "version https://git-lfs.github.com/spec/v1\noid sha256:{}\nsize 1048576\n".format("0" * 64)
OFFICIAL = ("warp_model_final.pth", "gen_model_final.pth")
TINY_TRAIN = ("--set", "width=0.0625", "--set", "size=[64,64]", "--set", "perceptual=none", "--set", "max_steps=1",
              "--set", "batch_size=1")  # fmt: skip


# --- workspace helpers -------------------------------------------------------------------------------------------


def _pfafn_root(ws: Workspace) -> Path:
    """The viton template's test split in PF-AFN's test layout (test_img / test_clothes / test_edge)."""
    root = ws.path("pf")
    if not root.exists():
        test = ws.asset("viton") / "test"
        for source, target in (("image", "test_img"), ("cloth", "test_clothes"), ("cloth-mask", "test_edge")):
            shutil.copytree(test / source, root / target)
    return root


def _pair_lines(ws: Workspace) -> list[str]:
    return [line for line in (ws.asset("viton") / "test_pairs.txt").read_text().splitlines() if line.strip()]


def _write_pairs(ws: Workspace, lines: list[str], name: str = "pairs.txt") -> Path:
    path = ws.path(name)
    path.write_text("".join(line + "\n" for line in lines))
    return path


def _tryon(ws: Workspace, *extra: object, checkpoints: str = "ckpt", out: str = "out") -> list[object]:
    """``tryon`` of the first two test pairs (pairs.txt, written by the case's setup unless it exists)."""
    root = _pfafn_root(ws)
    pairs = ws.path("pairs.txt")
    if not pairs.exists():
        _write_pairs(ws, _pair_lines(ws)[:2])
    folder = ws.asset("ckpt") if checkpoints == "ckpt" else ws.path(checkpoints)
    return ["tryon", "--dataroot", root, "--pairs", pairs, "--checkpoints", folder, "--out", ws.path(out),
            "--device", "cpu", *extra]  # fmt: skip


def _ckpt_file(ws: Workspace, name: str = "model.safetensors") -> Path:
    return ws.asset("ckpt") / name


def _poison_tensor(ws: Workspace) -> None:
    path = _ckpt_file(ws)
    state = load_file(str(path))
    key = sorted(k for k, v in state.items() if v.is_floating_point())[3]
    state[key].view(-1)[0] = float("inf")
    save_file(state, str(path))


def _bit_rot(ws: Workspace) -> None:
    path = _ckpt_file(ws)
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = b"\xff" * 64  # NaN in whatever float32 tensor lies there
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _official(ws: Workspace, content: Callable[[str], bytes]) -> None:
    """An official-layout checkpoint folder ``official/`` whose two files hold ``content(name)``."""
    folder = ws.path("official")
    folder.mkdir()
    for name in OFFICIAL:
        (folder / name).write_bytes(content(name))


def _torch_bytes(state: object) -> bytes:
    import io

    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


class _Hostile:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return os.system, ("echo pwned",)


def _config(ws: Workspace, **changes: object) -> None:
    path = _ckpt_file(ws, "config.json")
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def _manifest(ws: Workspace, *, triptych: bool = False, sha: str | None = None) -> None:
    """``out/`` holding one try-on and a manifest of the tiny checkpoint (or of another one, ``sha``)."""
    out = ws.path("out")
    out.mkdir()
    files = {name: sha or file_sha256(_ckpt_file(ws, name)) for name in ("model.safetensors", "config.json")}
    (out / "tryon.json").write_text(json.dumps({"checkpoint_sha256": files, "triptych": triptych}))
    Image.new("RGB", (64, 64)).save(out / "old__other.png")


# --- data helpers -------------------------------------------------------------------------------------------------


def _synth(ws: Workspace, *extra: object, layout: str = "viton", out: str = "synth") -> list[object]:
    return ["data", "synth", "--layout", layout, "--n", 6, "--size", "64x64", "--out", ws.path(out), *extra]


def _overlap(ws: Workspace, *extra: object) -> list[object]:
    return ["data", "overlap", "--dataset", "viton", "--root", ws.asset("viton"), "--out", ws.path("overlap"), *extra]


def _official_parent(ws: Workspace) -> Path:
    """A ``--weights`` folder holding ``pf_afn/`` with the official file names (see :func:`_official`)."""
    parent = ws.path("weights")
    parent.mkdir(exist_ok=True)
    if not (parent / "pf_afn").exists():
        ws.path("official").rename(parent / "pf_afn")
    return parent


def _check(ws: Workspace, *extra: object) -> list[object]:
    return ["data", "check", "--dataset", "viton", "--root", ws.asset("viton"), *extra]


def _break_sample(ws: Workspace) -> None:
    """Test sample 000006: a truncated person image and a missing garment."""
    test = ws.asset("viton") / "test"
    _truncate(test / "image" / "000006_0.jpg")
    (test / "cloth" / "000006_1.jpg").unlink()


# --- train helpers ------------------------------------------------------------------------------------------------


def _train(ws: Workspace, *extra: object, stage: str = "pb-warp", out: str = "run") -> list[object]:
    return ["train", "--stage", stage, "--dataset", "viton", "--root", ws.asset("viton"), "--out", ws.path(out),
            *TINY_TRAIN, *extra]  # fmt: skip


def _cli(argv: list[object]) -> None:
    """Run ``pftryon ARGV`` (a case's setup), which must succeed."""
    from click.testing import CliRunner

    from bench.cli import main

    result = CliRunner().invoke(main, [str(a) for a in argv])
    assert result.exit_code == 0, result.output


def _trained(ws: Workspace) -> None:
    """A finished one-step pb-warp run in ``run/`` (its checkpoint included)."""
    _cli(_train(ws))


def _changed_copy(ws: Workspace, name: str, copy: str) -> None:
    """``copy``: the asset ``name`` with one more file (so its fingerprint differs)."""
    shutil.copytree(ws.asset(name), ws.path(copy))
    ws.path(f"{copy}/notes.txt").write_text("one more file")


def _text(name: str, content: str | bytes) -> Callable[[Workspace], None]:
    def setup(ws: Workspace) -> None:
        path = ws.path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())

    return setup


def _recipe(ws: Workspace, name: str = "recipe.yaml") -> list[object]:
    return ["ablate", "--recipe", ws.path(name), "--work", ws.path("work"), "--out", ws.path("report")]


SMOKE = (Path(__file__).parents[2] / "bench" / "recipes" / "smoke.yaml").read_text()


# --- the cases ----------------------------------------------------------------------------------------------------

TRYON = [
    Case(
        "tryon-pftryon-checkpoint",
        "tryon",
        "none: two pairs with a pftryon checkpoint",
        "accepted",
        argv=lambda ws: _tryon(ws),
        writes=("out",),
    ),
    Case(
        "tryon-duplicated-pair",
        "tryon",
        "a pair listed twice: written once and counted as repeated",
        "warning",
        setup=lambda ws: _write_pairs(ws, _pair_lines(ws)[:1] * 2),
        argv=lambda ws: _tryon(ws),
        expect=r"wrote 1 new images .*1 repeated pair",
        writes=("out",),
    ),
    Case(
        "tryon-other-checkpoint-folder",
        "tryon",
        "--out holds try-ons of another checkpoint",
        "error",
        setup=(lambda ws: _manifest(ws, sha="0" * 64)),
        argv=lambda ws: _tryon(ws),
        names="out/tryon.json",
        expect="another checkpoint_sha256.*--overwrite",
    ),
    Case(
        "tryon-other-checkpoint-overwrite",
        "tryon",
        "--out of another checkpoint with --overwrite: replaced, nothing of it left",
        "replaced",
        setup=(lambda ws: _manifest(ws, sha="0" * 64)),
        argv=lambda ws: _tryon(ws, "--overwrite"),
        writes=("out",),
        gone=("out/old__other.png",),
    ),
    Case(
        "tryon-same-checkpoint-resumes",
        "tryon",
        "--out of the same checkpoint: finished pairs kept",
        "accepted",
        setup=(_manifest),
        argv=lambda ws: _tryon(ws),
        writes=("out",),
    ),
    Case(
        "tryon-triptych-into-plain-folder",
        "tryon",
        "--triptych into a folder of plain try-ons",
        "error",
        setup=(_manifest),
        argv=lambda ws: _tryon(ws, "--triptych"),
        names="out/tryon.json",
        expect="another triptych",
    ),
    Case(
        "tryon-unrecorded-images",
        "tryon",
        "--out holds PNGs without a manifest",
        "error",
        setup=(lambda ws: (ws.path("out").mkdir(), Image.new("RGB", (8, 8)).save(ws.path("out/x.png")))),
        argv=lambda ws: _tryon(ws),
        names="out",
        expect="no recorded checkpoint",
    ),
    Case(
        "tryon-manifest-corrupt",
        "tryon",
        "tryon.json is not JSON",
        "error",
        setup=(_text("out/tryon.json", "{not json")),
        argv=lambda ws: _tryon(ws),
        names="out/tryon.json",
    ),
    Case(
        "tryon-out-is-a-file",
        "tryon",
        "--out names an existing file",
        "error",
        setup=(_text("out", "a file")),
        argv=lambda ws: _tryon(ws),
        names="out",
        expect="is an existing file, not a folder",
    ),
    Case(
        "tryon-out-under-a-file",
        "tryon",
        "--out lies under an existing file",
        "error",
        setup=(_text("blocker", "a file")),
        argv=lambda ws: _tryon(ws, out="blocker/out"),
        names="blocker/out",
        expect="which is an existing file, not a folder",
    ),
    Case(
        "tryon-edge-size-mismatch",
        "tryon",
        "a garment mask of another size than the person",
        "error",
        setup=(
            lambda ws: Image.new("L", (32, 32)).save(
                _pfafn_root(ws) / "test_edge" / _pair_lines(ws)[0].split()[1], "JPEG"
            )
        ),
        argv=lambda ws: _tryon(ws),
        names="test_edge",
        expect="differs from the person",
    ),
    Case(
        "tryon-pair-names-missing-image",
        "tryon",
        "the pair list names a person image that does not exist",
        "error",
        setup=lambda ws: _write_pairs(ws, ["nosuch_0.jpg 000006_1.jpg"]),
        argv=lambda ws: _tryon(ws),
        names="nosuch_0.jpg",
    ),
    Case(
        "tryon-pair-list-bom",
        "tryon",
        "a pair list with a UTF-8 byte-order mark",
        "accepted",
        setup=lambda ws: ws.path("pairs.txt").write_bytes(b"\xef\xbb\xbf" + (_pair_lines(ws)[0] + "\n").encode()),
        argv=lambda ws: _tryon(ws),
        writes=("out",),
    ),
    Case(
        "tryon-pair-list-latin1",
        "tryon",
        "a pair list that is not UTF-8",
        "error",
        setup=_text("pairs.txt", b"caf\xe9_0.jpg 000006_1.jpg\n"),
        argv=lambda ws: _tryon(ws),
        names="pairs.txt",
        expect="not UTF-8",
    ),
    Case(
        "tryon-pair-list-three-columns",
        "tryon",
        "a pair list line with three fields",
        "error",
        setup=_text("pairs.txt", "000006_0.jpg 000006_1.jpg extra\n"),
        argv=lambda ws: _tryon(ws),
        names="pairs.txt",
        expect="expected 2 fields",
    ),
    Case(
        "tryon-person-not-an-image",
        "tryon",
        "the person file is text",
        "error",
        setup=(lambda ws: (_pfafn_root(ws) / "test_img" / _pair_lines(ws)[0].split()[0]).write_text("hi")),
        argv=lambda ws: _tryon(ws),
        names="test_img",
    ),
    Case(
        "tryon-device-cuda-without-gpu",
        "tryon",
        "--device cuda on a machine without CUDA",
        "error",
        argv=lambda ws: [*_tryon(ws)[:-2], "--device", "cuda"],
        names="cuda",
    ),
]

CHECKPOINTS = [
    Case(
        "ckpt-nonfinite-weights",
        "tryon",
        "a pftryon checkpoint with an infinite weight",
        "error",
        setup=(_poison_tensor),
        argv=lambda ws: _tryon(ws),
        names="ckpt/model.safetensors",
        expect="NaN or infinite",
    ),
    Case(
        "ckpt-bit-rot",
        "tryon",
        "0xff bytes in the middle of model.safetensors (bit-rot)",
        "error",
        setup=(_bit_rot),
        argv=lambda ws: _tryon(ws),
        names="ckpt/model.safetensors",
        expect="NaN or infinite",
    ),
    Case(
        "ckpt-truncated-safetensors",
        "tryon",
        "model.safetensors cut in half",
        "error",
        setup=(lambda ws: _truncate(_ckpt_file(ws))),
        argv=lambda ws: _tryon(ws),
        names="ckpt/model.safetensors",
        expect="truncated",
    ),
    Case(
        "ckpt-lfs-pointer-safetensors",
        "tryon",
        "model.safetensors is a git-lfs pointer",
        "error",
        setup=(lambda ws: _ckpt_file(ws).write_text(LFS_POINTER)),
        argv=lambda ws: _tryon(ws),
        names="ckpt/model.safetensors",
        expect="git-lfs pointer, not the weights: run git lfs pull",
    ),
    Case(
        "ckpt-lfs-pointer-official",
        "tryon",
        "the official .pth files are git-lfs pointers",
        "error",
        setup=(lambda ws: _official(ws, lambda _: LFS_POINTER.encode())),
        argv=lambda ws: _tryon(ws, checkpoints="official"),
        names="official/warp_model_final.pth",
        expect="git-lfs pointer",
    ),
    Case(
        "ckpt-random-bytes-official",
        "tryon",
        "the official .pth files hold random bytes",
        "error",
        setup=(lambda ws: _official(ws, lambda _: bytes(range(1, 256)) * 8)),
        argv=lambda ws: _tryon(ws, checkpoints="official"),
        names="official/warp_model_final.pth",
        expect=r"^(?!.*(unsafe|weights_only)).*not a torch checkpoint",
    ),
    Case(
        "ckpt-random-bytes-like-a-pickle",
        "tryon",
        "random bytes that open like a pickle (0x80)",
        "error",
        setup=(lambda ws: _official(ws, lambda _: b"\x80\x02" + bytes(range(255, 0, -1)) * 8)),
        argv=lambda ws: _tryon(ws, checkpoints="official"),
        names="official/warp_model_final.pth",
        expect=r"^(?!.*weights_only).*not a torch checkpoint",
    ),
    Case(
        "ckpt-truncated-official",
        "tryon",
        "an official .pth cut in half",
        "error",
        setup=(
            lambda ws: (
                _official(ws, lambda _: _torch_bytes({"w": torch.ones(256)})),
                _truncate(ws.path("official") / OFFICIAL[0]),
            )
        ),
        argv=lambda ws: _tryon(ws, checkpoints="official"),
        names="official/warp_model_final.pth",
        expect="truncated or corrupt",
    ),
    Case(
        "ckpt-hostile-pickle",
        "tryon",
        "an official .pth whose pickle calls os.system",
        "error",
        setup=(lambda ws: _official(ws, lambda _: pickle.dumps({"w": _Hostile()}))),
        argv=lambda ws: _tryon(ws, checkpoints="official"),
        names="official/warp_model_final.pth",
        expect=r"^(?!.*weights_only=False).*refused to load",
    ),
    Case(
        "ckpt-official-missing-generator",
        "tryon",
        "the official folder lacks gen_model_final.pth",
        "error",
        setup=(lambda ws: (_official(ws, lambda _: b""), (ws.path("official") / OFFICIAL[1]).unlink())),
        argv=lambda ws: _tryon(ws, checkpoints="official"),
        names="official/gen_model_final.pth",
    ),
    Case(
        "ckpt-unknown-architecture",
        "tryon",
        "config.json names an architecture that does not exist",
        "error",
        setup=(lambda ws: _config(ws, architecture="pf_afn_v9")),
        argv=lambda ws: _tryon(ws),
        names="ckpt/config.json",
        expect="pf_afn_v9",
    ),
    Case(
        "ckpt-unknown-config-key",
        "tryon",
        "config.json has a constructor argument the model lacks",
        "error",
        setup=(lambda ws: _config(ws, config={"bogus": 1})),
        argv=lambda ws: _tryon(ws),
        names="ckpt/config.json",
        expect="bogus",
    ),
    Case(
        "ckpt-config-not-json",
        "tryon",
        "config.json is not JSON",
        "error",
        setup=(lambda ws: _ckpt_file(ws, "config.json").write_text("architecture: pf_afn")),
        argv=lambda ws: _tryon(ws),
        names="ckpt/config.json",
    ),
    Case(
        "ckpt-folder-missing",
        "tryon",
        "--checkpoints names no folder",
        "error",
        argv=lambda ws: _tryon(ws, checkpoints="nosuch"),
        names="nosuch",
    ),
]

DATA = [
    Case(
        "data-synth-into-old-folder",
        "data",
        "data synth into a folder holding an earlier dataset",
        "error",
        setup=_text("synth/old_0.jpg", "stale"),
        argv=lambda ws: _synth(ws),
        names="synth",
        expect="--overwrite",
    ),
    Case(
        "data-synth-overwrite",
        "data",
        "data synth --overwrite into an old folder: replaced, nothing of it left",
        "replaced",
        setup=_text("synth/old_0.jpg", "stale"),
        argv=lambda ws: _synth(ws, "--overwrite"),
        writes=("synth",),
        gone=("synth/old_0.jpg",),
    ),
    Case(
        "data-synth-rerun-finished",
        "data",
        "data synth again into its own finished dataset, no flag",
        "error",
        setup=lambda ws: _cli(_synth(ws)),
        argv=lambda ws: _synth(ws, "--seed", 1),
        names="synth",
        expect="finished run of pftryon data synth.*--overwrite",
    ),
    Case(
        "data-synth-out-is-a-file",
        "data",
        "data synth --out names a file",
        "error",
        setup=_text("synth", "a file"),
        argv=lambda ws: _synth(ws),
        names="synth",
        expect="is an existing file, not a folder",
    ),
    Case(
        "data-synth-dresscode-n6-seed3",
        "data",
        "dresscode, 6 pairs, seed 3 (empty unpaired lists before)",
        "accepted",
        argv=lambda ws: _synth(ws, "--seed", 3, layout="dresscode"),
        writes=("synth",),
    ),
    Case(
        "data-synth-size-too-small",
        "data",
        "--size below 32x32",
        "error",
        argv=lambda ws: _synth(ws, "--size", "16x16"),
        names="16x16",
    ),
    Case(
        "data-synth-size-garbage",
        "data",
        "--size that is no HxW",
        "error",
        argv=lambda ws: _synth(ws, "--size", "big"),
        names="big",
    ),
    Case("data-check-clean", "data", "none: data check of a synthetic tree", "accepted", argv=_check),
    Case(
        "data-check-split-nosuch",
        "data",
        "data check --split of a split the layout lacks",
        "error",
        argv=lambda ws: _check(ws, "--split", "nosuch"),
        names="nosuch",
    ),
    Case(
        "data-check-root-missing",
        "data",
        "data check --root of no folder",
        "error",
        argv=lambda ws: ["data", "check", "--dataset", "viton", "--root", ws.path("nosuch")],
        names="nosuch",
    ),
    Case(
        "data-check-broken-sample",
        "data",
        "a sample with a truncated person image and a missing garment",
        "error",
        setup=_break_sample,
        argv=_check,
        names="viton",
        expect="problem",
    ),
    Case(
        "data-check-skip-bad",
        "data",
        "data check --skip-bad of a broken sample",
        "warning",
        setup=_break_sample,
        argv=lambda ws: _check(ws, "--skip-bad"),
        expect=r"skipped: .*000006_1\.jpg",
    ),
    Case(
        "data-check-pairs-file-not-applicable",
        "data",
        "--pairs-file for a layout without one",
        "error",
        argv=lambda ws: _check(ws, "--pairs-file", ws.asset("viton") / "test_pairs.txt"),
        expect="--pairs-file",
    ),
]

TRAIN = [
    Case(
        "train-exponent-learning-rate",
        "train",
        "--set lr=1e-4 (YAML 1.1 reads it as text)",
        "accepted",
        argv=lambda ws: _train(ws, "--set", "lr=1e-4"),
        writes=("run",),
    ),
    Case(
        "train-log-fewer-steps-than-log-every",
        "train",
        "max_steps=1 < log_every: the last step is logged",
        "accepted",
        argv=lambda ws: _train(ws),
        writes=("run",),
    ),
    Case(
        "train-amp-maybe",
        "train",
        "--set amp=maybe",
        "error",
        argv=lambda ws: _train(ws, "--set", "amp=maybe"),
        names="amp",
        expect="true or false",
    ),
    Case(
        "train-niter-fraction",
        "train",
        "--set niter=1.5",
        "error",
        argv=lambda ws: _train(ws, "--set", "niter=1.5"),
        names="niter",
        expect="expected an integer",
    ),
    Case(
        "train-max-steps-negative",
        "train",
        "--set max_steps=-1 (an untrained final before)",
        "error",
        argv=lambda ws: _train(ws, "--set", "max_steps=-1"),
        names="max_steps",
    ),
    Case(
        "train-max-steps-zero",
        "train",
        "--set max_steps=0",
        "error",
        argv=lambda ws: _train(ws, "--set", "max_steps=0"),
        names="max_steps",
    ),
    Case(
        "train-size-not-a-pair",
        "train",
        "--set size=64",
        "error",
        argv=lambda ws: _train(ws, "--set", "size=64"),
        names="size",
    ),
    Case(
        "train-size-not-multiple-of-32",
        "train",
        "--set size=[50,50]",
        "error",
        argv=lambda ws: _train(ws, "--set", "size=[50,50]"),
        names="size",
    ),
    Case(
        "train-width-text",
        "train",
        "--set width=wide",
        "error",
        argv=lambda ws: _train(ws, "--set", "width=wide"),
        names="width",
    ),
    Case("train-lr-nan", "train", "--set lr=.nan", "error", argv=lambda ws: _train(ws, "--set", "lr=.nan"), names="lr"),
    Case(
        "train-unknown-setting",
        "train",
        "--set of a field TrainConfig lacks",
        "error",
        argv=lambda ws: _train(ws, "--set", "nosuch=1"),
        names="nosuch",
    ),
    Case(
        "train-pf-warp-without-tutor",
        "train",
        "pf-warp without --tutor",
        "error",
        argv=lambda ws: _train(ws, stage="pf-warp"),
        names="--tutor",
    ),
    Case(
        "train-tutor-folder-missing",
        "train",
        "--tutor names no folder",
        "error",
        argv=lambda ws: _train(ws, "--tutor", ws.path("nosuch"), stage="pf-warp"),
        names="nosuch",
    ),
    Case(
        "train-init-wrong-model",
        "train",
        "--init of a PF-AFN checkpoint where PB-AFN is expected",
        "error",
        argv=lambda ws: _train(ws, "--init", ws.asset("ckpt"), stage="pb-e2e"),
        names="ckpt",
        expect="expected PBAFN",
    ),
    Case(
        "train-config-missing",
        "train",
        "--config names no file",
        "error",
        argv=lambda ws: _train(ws, "--config", ws.path("nosuch.yaml")),
        names="nosuch.yaml",
    ),
    Case(
        "train-config-bad-yaml",
        "train",
        "--config is not YAML",
        "error",
        setup=_text("c.yaml", "lr: [1, 2\n"),
        argv=lambda ws: _train(ws, "--config", ws.path("c.yaml")),
        names="c.yaml",
    ),
    Case(
        "train-config-wrong-type",
        "train",
        "--config with amp: maybe",
        "error",
        setup=_text("c.yaml", "amp: maybe\n"),
        argv=lambda ws: _train(ws, "--config", ws.path("c.yaml")),
        names="amp",
    ),
    Case(
        "train-config-not-utf8",
        "train",
        "--config that is not UTF-8",
        "error",
        setup=_text("c.yaml", b"lr: \xe9\n"),
        argv=lambda ws: _train(ws, "--config", ws.path("c.yaml")),
        names="c.yaml",
    ),
    Case(
        "train-vgg-weights-missing",
        "train",
        "perceptual vgg19 without the VGG19 weights file",
        "error",
        argv=lambda ws: _train(ws, "--set", "perceptual=vgg19", "--set", f"vgg_weights={ws.path('vgg')}"),
        names="vgg",
        expect="vgg19-dcbb9e9d.pth.*--set perceptual=none",
    ),
    Case(
        "train-resume-changed-config",
        "train",
        "--resume with another learning rate",
        "error",
        setup=_trained,
        argv=lambda ws: _train(ws, "--resume", "--set", "lr=1e-3"),
        names="lr",
        expect="cannot resume",
    ),
    Case(
        "train-resume-finished-same",
        "train",
        "--resume of a finished run with the same settings",
        "noop",
        setup=_trained,
        argv=lambda ws: _train(ws, "--resume"),
        expect="nothing to do",
    ),
    Case(
        "train-resume-finished-longer",
        "train",
        "--resume of a finished run with a larger max_steps: trains on",
        "accepted",
        setup=_trained,
        argv=lambda ws: _train(ws, "--resume", "--set", "max_steps=2"),
        writes=("run",),
    ),
    Case(
        "train-resume-nothing-there",
        "train",
        "--resume into an empty folder: a new run, with a note",
        "warning",
        argv=lambda ws: _train(ws, "--resume"),
        expect="nothing to resume in --out; starting a new run",
        writes=("run",),
    ),
    Case(
        "train-resume-other-root",
        "train",
        "--resume of a finished run with another dataset folder",
        "error",
        setup=lambda ws: (_trained(ws), _changed_copy(ws, "viton", "viton2")),
        argv=lambda ws: [*_train(ws, "--resume")[:6], ws.path("viton2"), *_train(ws, "--resume")[7:]],
        names="run",
        expect="--root",
    ),
    Case(
        "train-rerun-without-resume",
        "train",
        "a second run into a run folder without --resume",
        "error",
        setup=_trained,
        argv=lambda ws: _train(ws),
        names="run",
        expect="--resume",
    ),
    Case(
        "train-out-is-a-file",
        "train",
        "--out names a file",
        "error",
        setup=_text("run", "a file"),
        argv=lambda ws: _train(ws),
        names="run",
        expect="is an existing file, not a folder",
    ),
    Case(
        "train-out-under-a-file",
        "train",
        "--out lies under a file",
        "error",
        setup=_text("run", "a file"),
        argv=lambda ws: _train(ws, out="run/sub"),
        names="run/sub",
    ),
    Case(
        "train-batch-larger-than-dataset",
        "train",
        "batch_size above the number of training pairs",
        "error",
        argv=lambda ws: _train(ws, "--set", "batch_size=64"),
        names="viton",
        expect="fewer than one batch",
    ),
    Case(
        "train-device-cuda-without-gpu",
        "train",
        "--device cuda on a machine without CUDA",
        "error",
        argv=lambda ws: _train(ws, "--device", "cuda"),
        names="cuda",
    ),
    Case(
        "train-root-missing",
        "train",
        "--root names no folder",
        "error",
        argv=lambda ws: [*_train(ws)[:6], ws.path("nosuch"), *_train(ws)[7:]],
        names="nosuch",
    ),
    Case(
        "train-stage-unknown",
        "train",
        "--stage of no stage",
        "error",
        argv=lambda ws: _train(ws, stage="pb-nothing"),
        names="pb-nothing",
    ),
]

ABLATE = [
    Case("ablate-recipe-missing", "ablate", "--recipe names no file", "error", argv=_recipe, names="recipe.yaml"),
    Case(
        "ablate-recipe-unknown-name",
        "ablate",
        "--recipe of no shipped recipe",
        "error",
        argv=lambda ws: ["ablate", "--recipe", "nosuch", "--work", ws.path("work")],
        names="nosuch",
    ),
    Case(
        "ablate-recipe-bad-yaml",
        "ablate",
        "a recipe that is not YAML",
        "error",
        setup=_text("recipe.yaml", "a: [\n"),
        argv=_recipe,
        names="recipe.yaml",
    ),
    Case(
        "ablate-recipe-not-utf8",
        "ablate",
        "a recipe that is not UTF-8",
        "error",
        setup=_text("recipe.yaml", b"name: \xe9\n"),
        argv=_recipe,
        names="recipe.yaml",
    ),
    Case(
        "ablate-recipe-unknown-key",
        "ablate",
        "a recipe with a key the format lacks",
        "error",
        setup=_text("recipe.yaml", SMOKE + "bogus: 1\n"),
        argv=_recipe,
        names="bogus",
    ),
    Case(
        "ablate-device-cuda-without-gpu",
        "ablate",
        "--device cuda without CUDA",
        "error",
        setup=_text("recipe.yaml", SMOKE),
        argv=lambda ws: [*_recipe(ws), "--device", "cuda"],
        names="cuda",
    ),
    Case(
        "ablate-out-is-a-file",
        "ablate",
        "--out names a file",
        "error",
        setup=lambda ws: (_text("recipe.yaml", SMOKE)(ws), _text("report", "a file")(ws)),
        argv=_recipe,
        names="report",
        expect="is an existing file, not a folder",
    ),
    Case(
        "ablate-work-is-a-file",
        "ablate",
        "--work names a file",
        "error",
        setup=lambda ws: (_text("recipe.yaml", SMOKE)(ws), _text("work", "a file")(ws)),
        argv=_recipe,
        names="work",
        expect="--work",
    ),
]

METHODS = [
    Case("methods-list", "methods", "none: the method list", "accepted", argv=lambda ws: ["methods"]),
    Case(
        "methods-weights-folder-missing",
        "methods",
        "--weights of a missing folder: each says NOT found",
        "warning",
        argv=lambda ws: ["methods", "--weights", ws.path("nosuch")],
        expect="NOT found",
    ),
    Case(
        "methods-weights-is-a-file",
        "methods",
        "--weights names a file, not a folder: each says NOT found",
        "warning",
        argv=lambda ws: ["methods", "--weights", ws.asset("viton") / "test_pairs.txt"],
        expect="NOT found",
    ),
    Case(
        "methods-weights-found",
        "methods",
        "--weights holding a method's official files: found",
        "warning",
        setup=lambda ws: _official(ws, lambda name: b"not read by methods"),
        argv=lambda ws: ["methods", "--weights", _official_parent(ws)],
        expect=r"weights found in .*pf_afn",
    ),
    Case(
        "methods-option-unknown",
        "methods",
        "an option methods does not have (--out)",
        "error",
        argv=lambda ws: ["methods", "--out", ws.path("x")],
        names="--out",
    ),
]

OVERLAP = [
    Case(
        "data-overlap-rerun-finished",
        "data",
        "data overlap again into its finished report, other threshold, no flag",
        "error",
        setup=lambda ws: _cli(_overlap(ws)),
        argv=lambda ws: _overlap(ws, "--threshold", 5),
        names="overlap",
        expect="finished run of pftryon data overlap; pass --overwrite",
    ),
    Case(
        "data-overlap-overwrite",
        "data",
        "data overlap --overwrite of a finished report holding a stray file",
        "replaced",
        setup=lambda ws: (_cli(_overlap(ws)), _text("overlap/stray.csv", "stray")(ws)),
        argv=lambda ws: _overlap(ws, "--threshold", 5, "--overwrite"),
        writes=("overlap",),
        gone=("overlap/stray.csv",),
    ),
]

CASES = [*TRYON, *CHECKPOINTS, *DATA, *OVERLAP, *TRAIN, *ABLATE, *METHODS]
