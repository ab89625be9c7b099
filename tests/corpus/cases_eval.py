"""Bad inputs of ``eval``, ``predict``, ``bench`` and ``latency``: matching, metric lists, protocols,
image modes, metric weights, the ``--out`` convention and ``--resume``.

Predictions are the ``preds`` template (the test persons named by person stem, so perfect paired outputs) scored
against the ``viton`` template's test list unless a case says otherwise.
"""

from __future__ import annotations

import fcntl
import io
import json
import shutil
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO

import numpy as np
import torch
from corpus_lib import Case, Workspace
from PIL import Image

REPORT = "report/summary.md"
_HELD: list[IO[str]] = []  # locks held by setups for the rest of the session (another run's lock)
NO_CUDA = not torch.cuda.is_available()


def _eval(*extra: str, pred: str = "preds", metrics: str = "ssim,psnr", protocol: str = "pfafn",
          gt: str | None = None) -> Callable[[Workspace], list]:  # fmt: skip
    """``eval`` of ``pred`` against the viton test list (or the folder ``gt``) into ``report``."""

    def argv(ws: Workspace) -> list:
        reference = ["--gt", ws.path(gt)] if gt else ["--dataset", "viton", "--root", ws.asset("viton")]
        return ["eval", "--pred", ws.path(pred) if pred != "preds" else ws.asset("preds"), *reference,
                "--protocol", protocol, "--metrics", metrics, "--out", ws.path("report"),
                *(ws.path(e[3:]) if e.startswith("ws:") else e for e in extra)]  # fmt: skip

    return argv


def _steps(*steps: Callable[[Workspace], None]) -> Callable[[Workspace], None]:
    def setup(ws: Workspace) -> None:
        for step in steps:
            step(ws)

    return setup


def _gt_folder(ws: Workspace) -> None:
    """``gt``: a copy of the perfect predictions, as a reference folder."""
    shutil.copytree(ws.asset("preds"), ws.path("gt"))


def _drop_prediction(ws: Workspace) -> None:
    sorted(ws.asset("preds").iterdir())[0].unlink()


def _only_first_prediction(ws: Workspace) -> None:
    for path in sorted(ws.asset("preds").iterdir())[1:]:
        path.unlink()


def _one_reference(ws: Workspace) -> None:
    _gt_folder(ws)
    for path in sorted(ws.path("gt").iterdir())[1:]:
        path.unlink()


def _stray_prediction(ws: Workspace) -> None:
    shutil.copy(sorted(ws.asset("preds").iterdir())[0], ws.asset("preds") / "stray.jpg")


def _only_stray(ws: Workspace) -> None:
    _stray_prediction(ws)
    for path in ws.asset("preds").iterdir():
        if path.name != "stray.jpg":
            path.unlink()


def _empty_folder(name: str) -> Callable[[Workspace], None]:
    return lambda ws: ws.path(name).mkdir()


def _file(name: str, data: bytes = b"not a folder\n") -> Callable[[Workspace], None]:
    def setup(ws: Workspace) -> None:
        ws.path(name).parent.mkdir(parents=True, exist_ok=True)
        ws.path(name).write_bytes(data)

    return setup


def _old_report(ws: Workspace) -> None:
    """``report``: an earlier report of no recorded run (made by hand or by an older pftryon)."""
    _file("report/summary.md", b"# an earlier report\n")(ws)
    _file("report/notes.md", b"notes\n")(ws)


def _ran(argv: Callable[[Workspace], list]) -> Callable[[Workspace], None]:
    """A setup step: ``pftryon ARGV`` runs to its end."""

    def setup(ws: Workspace) -> None:
        from click.testing import CliRunner

        from bench.cli import main

        result = CliRunner().invoke(main, [str(a) for a in argv(ws)])
        assert result.exit_code == 0, result.output

    return setup


def _as_if_killed(folder: str, drop: str | None = None) -> Callable[[Workspace], None]:
    """A setup step: the finished run in ``folder`` as a SIGKILL would have left it (its record not marked finished,
    and the output ``drop`` matches not yet written)."""

    def setup(ws: Workspace) -> None:
        from bench.output_dir import RECORD

        record = ws.path(folder) / RECORD
        record.write_text(json.dumps({**json.loads(record.read_text()), "finished": None}))
        if drop:
            sorted(ws.path(folder).glob(drop))[-1].unlink()

    return setup


def _swap_first_prediction(ws: Workspace) -> None:
    """The first prediction replaced by another one's bytes (a valid image, other contents)."""
    first, second = sorted(ws.asset("preds").iterdir())[:2]
    first.write_bytes(second.read_bytes())


def _held_lock(ws: Workspace) -> None:
    """Another run holds ``report``'s lock (a second open file description conflicts under flock)."""
    ws.path("report").mkdir()
    handle = ws.path("report/.lock").open("a")
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    _HELD.append(handle)


def _rewrite_predictions(convert: Callable[[Image.Image], Image.Image], suffix: str = ".png",
                         fmt: str = "PNG") -> Callable[[Workspace], None]:  # fmt: skip
    """Re-save every prediction through ``convert`` (same stem, ``suffix``)."""

    def setup(ws: Workspace) -> None:
        for path in sorted(ws.asset("preds").iterdir()):
            with Image.open(path) as image:
                converted = convert(image.convert("RGB"))
            path.unlink()
            converted.save(path.with_suffix(suffix), format=fmt)

    return setup


def _sixteen_bit_grey(image: Image.Image) -> Image.Image:
    grey = np.asarray(image.convert("L"), dtype=np.uint16) * 257
    return Image.fromarray(grey)


def _png_rgb16(array: np.ndarray) -> bytes:
    """A 48-bit RGB PNG (PIL cannot write one)."""
    height, width, _ = array.shape
    raw = b"".join(b"\x00" + array[y].astype(">u2").tobytes() for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def _rgb16_predictions(ws: Workspace) -> None:
    for path in sorted(ws.asset("preds").iterdir()):
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB"), dtype=np.uint16) * 257
        path.unlink()
        path.with_suffix(".png").write_bytes(_png_rgb16(pixels))


def _corrupt_first(data: Callable[[bytes], bytes]) -> Callable[[Workspace], None]:
    def setup(ws: Workspace) -> None:
        path = sorted(ws.asset("preds").iterdir())[0]
        path.write_bytes(data(path.read_bytes()))

    return setup


def _shrink_first(ws: Workspace) -> None:
    path = sorted(ws.asset("preds").iterdir())[0]
    with Image.open(path) as image:
        small = image.resize((32, 32))
    small.save(path)


def _edit_list(edit: Callable[[list[str], Path], list[str]]) -> Callable[[Workspace], None]:
    """Rewrite the viton test split's paired list (``test_pairs_same.txt``)."""

    def setup(ws: Workspace) -> None:
        root = ws.asset("viton")
        path = root / "test_pairs_same.txt"
        path.write_text("\n".join(edit(path.read_text().splitlines(), root)) + "\n")

    return setup


def _by_line_number(ws: Workspace) -> None:
    """Name every prediction by its line of the paired list, as PF-AFN's test script writes them."""
    lines = (ws.asset("viton") / "test_pairs_same.txt").read_text().splitlines()
    preds = ws.asset("preds")
    for number, line in enumerate(lines):
        person = Path(line.split()[0]).stem
        (preds / f"{person}.jpg").rename(preds / f"{number}.jpg")


def _protocol_file(edit: Callable[[str], str]) -> Callable[[Workspace], None]:
    def setup(ws: Workspace) -> None:
        shipped = Path(__file__).parents[2] / "bench" / "protocols" / "pfafn.yaml"
        ws.path("protocol.yaml").write_text(edit(shipped.read_text()))

    return setup


def _weights(data: Callable[[], bytes], name: str = "alexnet-owt-7be5be79.pth") -> Callable[[Workspace], None]:
    def setup(ws: Workspace) -> None:
        ws.path("weights").mkdir(exist_ok=True)
        ws.path(f"weights/{name}").write_bytes(data())

    return setup


def _random_squeezenet() -> bytes:
    import torchvision

    torch.manual_seed(0)
    buffer = io.BytesIO()
    torch.save(torchvision.models.squeezenet1_1(weights=None).state_dict(), buffer)
    return buffer.getvalue()


def _truncated_squeezenet() -> bytes:
    data = _random_squeezenet()
    return data[: len(data) // 2]


def _stale_journal(ws: Workspace) -> None:
    _file("report/.partial/identity.json", b'{"sha256": "another run"}\n')(ws)
    _file("report/.partial/rows.jsonl", b'{"index": 0, "pred_sha256": "00", "gt_sha256": "00", "ssim": 1.0}\n')(ws)


def _predict(*extra: str, out: str = "out", method: str = "no_warp") -> Callable[[Workspace], list]:
    return lambda ws: ["predict", "--method", method, "--dataset", "viton", "--root", ws.asset("viton"),
                       "--out", ws.path(out), "--device", "cpu", *extra]  # fmt: skip


def _break_test_person(index: int) -> Callable[[Workspace], None]:
    """A setup step: the ``index``-th test person of the viton template becomes random bytes (found when its batch is
    read, after the earlier batches' images were written)."""

    def setup(ws: Workspace) -> None:
        path = sorted((ws.asset("viton") / "test" / "image").iterdir())[index]
        path.write_bytes(np.random.default_rng(index).bytes(512))

    return setup


def _latency(*extra: str, out: str = "lat") -> Callable[[Workspace], list]:
    return lambda ws: ["latency", "--model", "no_warp", "--size", "64x64", "--warmup", "0", "--iters", "1",
                       "--out", ws.path(out), *extra]  # fmt: skip


def _bench(out: str = "report") -> Callable[[Workspace], list]:
    return lambda ws: ["bench", "--suite", "synthetic", "--work", ws.path("work"), "--out", ws.path(out)]


TINY_SUITE = """name: corpus
description: one weight-free method on the viton template, under one protocol, not timed
methods: [{name: no_warp}]
datasets: [{name: viton}]
protocols: [pfafn]
latency: []
qualitative: {pairs: 1, seed: 0}
"""


def _tiny_bench(*extra: str) -> Callable[[Workspace], list]:
    """``bench`` of :data:`TINY_SUITE` (``suite.yaml``, written unless there) on the viton template."""

    def argv(ws: Workspace) -> list:
        if not ws.path("suite.yaml").exists():
            ws.path("suite.yaml").write_text(TINY_SUITE)
        return ["bench", "--suite", ws.path("suite.yaml"), "--root-for", f"viton={ws.asset('viton')}",
                "--work", ws.path("work"), "--out", ws.path("report"), *extra]  # fmt: skip

    return argv


def _edit_suite(ws: Workspace) -> None:
    ws.path("suite.yaml").write_text(TINY_SUITE.replace("protocols: [pfafn]", "protocols: [pfafn, hrviton]"))


# fmt: off
CASES = [
    # Matching: nothing scored silently.
    Case("eval-dataset-missing-prediction", "eval", "one listed pair has no prediction (--dataset)", "error",
         _eval(), setup=_drop_prediction, names="preds", expect="no prediction for 1 of 4"),
    Case("eval-dataset-missing-prediction-allowed", "eval", "one prediction missing, --allow-partial", "warning",
         _eval("--allow-partial"), setup=_drop_prediction, expect="partial prediction folder: 3 of 4",
         report=REPORT, writes=("report",)),
    Case("eval-gt-missing-prediction", "eval", "a reference without its prediction (--gt)", "error",
         _eval(gt="gt"), setup=_steps(_gt_folder, _drop_prediction), names="preds", expect="no prediction for 1 of 4"),
    Case("eval-gt-missing-prediction-allowed", "eval", "--gt folder partial, --allow-partial", "warning",
         _eval("--allow-partial", gt="gt"), setup=_steps(_gt_folder, _drop_prediction),
         expect="partial prediction folder: 3 of 4", report=REPORT, writes=("report",)),
    Case("eval-dataset-extra-prediction", "eval", "a prediction the list does not name (--dataset)", "warning",
         _eval(), setup=_stray_prediction, expect="1 prediction.s. not in viton paired test list were not scored",
         report=REPORT, writes=("report",)),
    Case("eval-gt-extra-prediction", "eval", "a prediction without a reference (--gt)", "error",
         _eval(gt="gt"), setup=_steps(_gt_folder, _stray_prediction), names="stray.jpg", expect="no reference"),
    Case("eval-nothing-matched-allow-partial", "eval", "no listed pair has a prediction, --allow-partial", "error",
         _eval("--allow-partial"), setup=_only_stray, names="preds", expect="no prediction for 4 of 4"),
    Case("eval-empty-pred-folder", "eval", "--pred is an empty folder", "error",
         _eval(pred="empty"), setup=_empty_folder("empty"), names="empty", expect="no prediction images"),
    Case("eval-gt-and-dataset", "eval", "both --gt and --dataset", "error",
         _eval("--gt", "ws:preds"), expect="give either --gt"),
    Case("eval-pairs-file-not-for-layout", "eval", "--pairs-file for a layout with fixed lists", "error",
         _eval("--pairs-file", "ws:viton/test_pairs.txt"), names="viton", expect="does not apply"),
    # Pair lists: repeated lines, line-order names, unpaired lines in a paired list.
    Case("eval-repeated-list-line", "eval", "a line repeated in the paired list", "warning",
         _eval(), setup=_edit_list(lambda lines, _: [*lines, lines[0]]), expect="1 repeated line.s. in viton",
         report=REPORT, writes=("report",)),
    Case("eval-matched-by-line-order", "eval", "outputs named 0.jpg, 1.jpg, ... (PF-AFN's test script), --match lines",
         "warning", _eval("--match", "lines"), setup=_by_line_number, expect="matched by line order", report=REPORT,
         writes=("report",)),
    Case("eval-line-numbers-without-match-lines", "eval", "outputs named 0.jpg, 1.jpg, ... without --match lines",
         "error", _eval(), setup=_by_line_number, names="preds", expect="--match lines"),
    Case("eval-unpaired-lines-in-paired-list", "eval", "the unpaired list given as the paired one", "warning",
         _eval(), setup=_edit_list(lambda _, root: (root / "test_pairs.txt").read_text().splitlines()),
         expect="pair a person with another id's garment", report=REPORT, writes=("report",)),
    # Metric lists and protocols.
    Case("eval-metrics-empty", "eval", "--metrics ''", "error", _eval(metrics=""), expect="--metrics is empty"),
    Case("eval-metrics-only-commas", "eval", "--metrics ','", "error", _eval(metrics=","), expect="--metrics is empty"),
    Case("eval-metric-unknown", "eval", "--metrics ssim,sharpness", "error", _eval(metrics="ssim,sharpness"),
         names="sharpness"),
    Case("eval-metric-unknown-protocol-all", "eval", "an unknown metric under --protocol all", "error",
         _eval(metrics="sharpness", protocol="all"), names="sharpness"),
    Case("eval-metric-not-in-protocol", "eval", "--metrics tce under pfafn (an image protocol)", "error",
         _eval(metrics="tce"), names="tce"),
    Case("eval-protocol-all-every-protocol-skipped", "eval", "--protocol all where no protocol can score", "error",
         _eval(metrics="tce,flicker", protocol="all"), expect="every protocol was skipped"),
    Case("eval-protocol-unknown", "eval", "--protocol nosuch", "error", _eval(protocol="nosuch"), names="nosuch"),
    Case("eval-protocol-resolution-big", "eval", "protocol YAML with resolution: big", "error",
         lambda ws: _eval(protocol=str(ws.path("protocol.yaml")))(ws),
         setup=_protocol_file(lambda text: text.replace("resolution: [256, 192]", "resolution: big")),
         names="protocol.yaml", expect="resolution: expected a list of 2 integers, got 'big'"),
    Case("eval-protocol-resolution-one-number", "eval", "protocol YAML with resolution: [256]", "error",
         lambda ws: _eval(protocol=str(ws.path("protocol.yaml")))(ws),
         setup=_protocol_file(lambda text: text.replace("resolution: [256, 192]", "resolution: [256]")),
         names="protocol.yaml", expect=r"resolution: expected a list of 2 integers, got \[256\]"),
    Case("eval-protocol-ssim-variant-unknown", "eval", "protocol YAML with ssim: {variant: matlab}", "error",
         lambda ws: _eval(protocol=str(ws.path("protocol.yaml")))(ws),
         setup=_protocol_file(lambda text: text.replace("ssim: {variant: pytorch_ssim}", "ssim: {variant: matlab}")),
         names="protocol.yaml", expect="ssim.variant: expected one of 'pytorch_ssim', .*, got 'matlab'"),
    Case("eval-protocol-metrics-string", "eval", "protocol YAML with metrics: ssim (a string where a list belongs)",
         "error", lambda ws: _eval(protocol=str(ws.path("protocol.yaml")))(ws),
         setup=_protocol_file(lambda text: text.replace("metrics: [ssim, psnr, lpips, fid, kid]", "metrics: ssim")),
         names="protocol.yaml", expect="metrics: expected a list of strings, got 'ssim'"),
    Case("eval-resolution-not-hxw", "eval", "--resolution big", "error", _eval("--resolution", "big"),
         expect="resolution must be HxW"),
    Case("eval-crop-panel-indivisible", "eval", "--crop-panel 5 on 64-pixel-wide images", "error",
         _eval("--crop-panel", "5"), expect="not divisible into 5 panels"),
    Case("eval-fid-one-image", "eval", "FID against a one-image reference folder", "error",
         _eval(metrics="fid", gt="gt"), setup=_steps(_one_reference, _only_first_prediction), names="preds",
         expect="at least 2 images"),
    Case("eval-kid-one-image", "eval", "KID with one prediction", "error",
         _eval(metrics="kid", protocol="catvton", gt="gt"), setup=_steps(_one_reference, _only_first_prediction),
         names="preds", expect="at least 2 images"),
    Case("eval-device-cuda-without-gpu" if NO_CUDA else "eval-device-cuda", "eval", "--device cuda",
         "error" if NO_CUDA else "accepted", _eval("--device", "cuda"),
         expect="no CUDA device" if NO_CUDA else "", writes=("report",)),
    # Image files and modes.
    Case("eval-pred-16-bit-grey", "eval", "16-bit greyscale PNG predictions", "warning",
         _eval(), setup=_rewrite_predictions(_sixteen_bit_grey), expect="16-bit .*8-bit",
         report=REPORT, writes=("report",)),
    Case("eval-pred-16-bit-rgb", "eval", "48-bit RGB PNG predictions (read at 8 bits)", "accepted",
         _eval(), setup=_rgb16_predictions, writes=("report",)),
    Case("eval-pred-rgba", "eval", "RGBA PNG predictions", "warning",
         _eval(), setup=_rewrite_predictions(lambda im: im.convert("RGBA")), expect="alpha ignored",
         report=REPORT, writes=("report",)),
    Case("eval-pred-grey", "eval", "8-bit greyscale predictions", "warning",
         _eval(), setup=_rewrite_predictions(lambda im: im.convert("L")), expect="greyscale .*RGB",
         report=REPORT, writes=("report",)),
    Case("eval-pred-palette", "eval", "palette PNG predictions", "warning",
         _eval(), setup=_rewrite_predictions(lambda im: im.convert("P")), expect="palette .*RGB",
         report=REPORT, writes=("report",)),
    Case("eval-pred-cmyk-jpeg", "eval", "CMYK JPEG predictions", "warning",
         _eval(), setup=_rewrite_predictions(lambda im: im.convert("CMYK"), ".jpg", "JPEG"), expect="CMYK",
         report=REPORT, writes=("report",)),
    Case("eval-pred-random-bytes", "eval", "a prediction that is random bytes", "error",
         _eval(), setup=_corrupt_first(lambda _: np.random.default_rng(0).bytes(512)), names="000006_0.jpg",
         expect="not a readable image"),
    Case("eval-pred-empty-file", "eval", "a zero-byte prediction", "error",
         _eval(), setup=_corrupt_first(lambda _: b""), names="000006_0.jpg", expect="not a readable image"),
    Case("eval-pred-truncated", "eval", "a prediction cut in half", "error",
         _eval(), setup=_corrupt_first(lambda data: data[: len(data) // 2]), names="000006_0.jpg",
         expect="not a readable image"),
    Case("eval-pred-wrong-size", "eval", "a 32x32 prediction for a 64x64 reference (pfafn never resizes)", "error",
         _eval(), setup=_shrink_first, names="000006_0.jpg", expect="never resizes"),
    # Metric weights.
    Case("eval-weights-missing", "eval", "LPIPS without its weights file", "error",
         _eval("--weights-dir", "ws:weights", metrics="lpips"), setup=_empty_folder("weights"),
         names="alexnet-owt-7be5be79.pth"),
    Case("eval-extra-metric-weights-absent", "eval", "only an extra metric (clip_sim) whose weights are absent",
         "error", _eval("--weights-dir", "ws:weights", metrics="clip_sim"), setup=_empty_folder("weights"),
         expect="nothing to score"),
    Case("eval-weights-not-official", "eval", "an AlexNet file whose sha256 is not the official one", "error",
         _eval("--weights-dir", "ws:weights", metrics="lpips"), setup=_weights(lambda: b"some other weights"),
         names="weights/alexnet-owt-7be5be79.pth", expect="--allow-unofficial-weights"),
    Case("eval-weights-truncated", "eval", "a truncated SqueezeNet file, unofficial allowed", "error",
         _eval("--weights-dir", "ws:weights", "--allow-unofficial-weights", metrics="lpips", protocol="catvton"),
         setup=_weights(_truncated_squeezenet, "squeezenet1_1-b8a52dc0.pth"),
         names="weights/squeezenet1_1-b8a52dc0.pth", expect="unreadable weights file"),
    Case("eval-weights-unofficial-allowed", "eval", "random SqueezeNet weights with --allow-unofficial-weights",
         "warning", _eval("--weights-dir", "ws:weights", "--allow-unofficial-weights", metrics="lpips",
                          protocol="catvton"),
         setup=_weights(_random_squeezenet, "squeezenet1_1-b8a52dc0.pth"), expect="unofficial weights",
         report=REPORT, writes=("report",)),
    # The --out convention.
    Case("eval-out-is-a-file", "eval", "--out names an existing file", "error",
         _eval(), setup=_file("report"), names="report", expect="not a folder"),
    Case("eval-out-under-a-file", "eval", "--out lies under an existing file", "error",
         _eval("--out", "ws:afile/report"), setup=_file("afile"), names="afile", expect="not a folder"),
    Case("eval-out-not-empty", "eval", "--out holds an earlier report", "error",
         _eval(), setup=_old_report, names="report", expect="--overwrite"),
    Case("eval-out-not-empty-overwrite", "eval", "--out holds an earlier report, --overwrite", "replaced",
         _eval("--overwrite"), setup=_old_report, writes=("report",), gone=("report/notes.md",)),
    Case("eval-out-locked", "eval", "another run holds --out's lock", "error",
         _eval(), setup=_held_lock, names="report", expect="another run"),
    Case("eval-feature-cache-is-a-file", "eval", "--feature-cache names an existing file", "error",
         _eval("--feature-cache", "ws:cache"), setup=_file("cache"), names="cache",
         expect="--feature-cache is an existing file"),
    Case("eval-rerun-finished", "eval", "a finished report, rerun with other metrics and no flag", "error",
         _eval(metrics="ssim"), setup=_ran(_eval()), names="report",
         expect="finished run of pftryon eval.*--overwrite"),
    Case("eval-overwrite-all-by-one-protocol", "eval", "a --protocol all report overwritten by one protocol",
         "replaced", _eval("--overwrite"), setup=_ran(_eval(protocol="all")), writes=("report",),
         gone=("report/protocols.md", "report/pfafn/summary.json")),
    # Resume: only the recorded run, finished or stopped.
    Case("eval-resume-fresh", "eval", "--resume with nothing to continue: a new run, with a note", "warning",
         _eval("--resume"), expect="nothing to resume", writes=("report",)),
    Case("eval-resume-finished-report", "eval", "--resume where a report of no recorded run is", "error",
         _eval("--resume"), setup=_old_report, names="report", expect="cannot tell what made them"),
    Case("eval-resume-finished-same", "eval", "--resume of a finished run with the same settings", "noop",
         _eval("--resume"), setup=_ran(_eval()), expect="nothing to do"),
    Case("eval-resume-finished-other-metrics", "eval", "--resume of a finished run with other metrics", "error",
         _eval("--resume", metrics="ssim"), setup=_ran(_eval()), names="report", expect=r"--metrics \(ssim,psnr"),
    Case("eval-resume-predictions-changed", "eval", "--resume of a finished run whose predictions changed", "error",
         _eval("--resume"), setup=_steps(_ran(_eval()), _swap_first_prediction), names="report",
         expect=r"--pred \(other contents\)"),
    Case("eval-resume-stopped", "eval", "--resume of a killed run: continued", "accepted",
         _eval("--resume"), setup=_steps(_ran(_eval()), _as_if_killed("report")), writes=("report",)),
    Case("eval-stopped-no-flag", "eval", "a killed run's folder, no flag", "error",
         _eval(), setup=_steps(_ran(_eval()), _as_if_killed("report")), names="report",
         expect="stopped run .*--resume to continue it"),
    Case("eval-resume-with-fid", "eval", "--resume of a run with FID", "error",
         _eval("--resume", metrics="ssim,fid"), names="report", expect="per-sample metrics only"),
    Case("eval-resume-other-run", "eval", "--resume where the stopped run had other metrics", "error",
         _eval("--resume"), setup=_steps(_ran(_eval(metrics="ssim")), _as_if_killed("report"), _stale_journal),
         names="report", expect=r"cannot resume: the stopped run .*--metrics \(ssim -> ssim,psnr\)"),
    # predict, latency, bench: the same --out convention.
    Case("predict-fresh", "predict", "none: a weight-free method into a new folder", "accepted",
         _predict(), writes=("out",)),
    Case("predict-out-not-empty", "predict", "--out holds other files", "error",
         _predict(), setup=_file("out/notes.txt"), names="out", expect="--overwrite"),
    Case("predict-out-is-a-file", "predict", "--out names an existing file", "error",
         _predict(), setup=_file("out"), names="out", expect="not a folder"),
    Case("predict-resume", "predict", "--resume of a killed run", "accepted",
         _predict("--resume"), setup=_steps(_ran(_predict()), _as_if_killed("out", "*.png")), writes=("out",)),
    Case("predict-overwrite", "predict", "--overwrite of a finished run holding a stray file", "replaced",
         _predict("--overwrite"), setup=_steps(_ran(_predict()), _file("out/stray.png")), writes=("out",),
         gone=("out/stray.png",)),
    Case("predict-resume-finished-same", "predict", "--resume of a finished run with the same settings", "noop",
         _predict("--resume"), setup=_ran(_predict()), expect="nothing to do"),
    Case("predict-resume-finished-other-limit", "predict", "--resume of a finished run with another --limit",
         "error", _predict("--resume", "--limit", "2"), setup=_ran(_predict()), names="out", expect=r"--limit"),
    Case("predict-rerun-finished", "predict", "a finished run's folder, no flag", "error",
         _predict(), setup=_ran(_predict()), names="out", expect="finished run of pftryon predict.*--overwrite"),
    Case("predict-resume-and-overwrite", "predict", "--resume with --overwrite", "error",
         _predict("--resume", "--overwrite"), expect="give one"),
    Case("predict-split-unknown", "predict", "--split of a split the layout lacks", "error",
         _predict("--split", "nosuch"), names="nosuch", expect="--split nosuch: viton has no such split"),
    Case("predict-checkpoints-missing", "predict", "a method with weights and no --checkpoints", "error",
         _predict(method="pf_afn"), expect="pass --checkpoints DIR"),
    Case("predict-bad-image-mid-run", "predict", "the third test person is unreadable (batch size 1)", "error",
         _predict("--batch-size", "1"), setup=_break_test_person(2), names="000008_0.jpg",
         expect="not a readable image"),
    Case("predict-bad-image-mid-overwrite", "predict", "--overwrite of a finished run; a bad image midway", "error",
         _predict("--batch-size", "1", "--overwrite"), setup=_steps(_ran(_predict()), _break_test_person(2)),
         names="000008_0.jpg", expect="not a readable image"),
    Case("latency-fresh", "latency", "none: one configuration into a new folder", "accepted",
         _latency(), writes=("lat",)),
    Case("latency-out-is-a-file", "latency", "--out names an existing file", "error",
         _latency(), setup=_file("lat"), names="lat", expect="not a folder"),
    Case("latency-out-not-empty", "latency", "--out holds an earlier report", "error",
         _latency(), setup=_file("lat/latency_old.csv"), names="lat", expect="--overwrite"),
    Case("latency-out-not-empty-overwrite", "latency", "--out holds an earlier report, --overwrite", "replaced",
         _latency("--overwrite"), setup=_file("lat/latency_old.csv"), writes=("lat",), gone=("lat/latency_old.csv",)),
    Case("latency-rerun-finished", "latency", "a finished report, rerun with other --iters", "error",
         _latency("--iters", "2"), setup=_ran(_latency()), names="lat",
         expect="finished run of pftryon latency; pass --overwrite"),
    Case("latency-device-cuda-without-gpu" if NO_CUDA else "latency-device-cuda", "latency", "--device cuda",
         "error" if NO_CUDA else "accepted", _latency("--device", "cuda"),
         expect="no CUDA device" if NO_CUDA else "", writes=("lat",)),
    Case("bench-out-is-a-file", "bench", "--out names an existing file", "error",
         _bench(), setup=_file("report"), names="report", expect="not a folder"),
    Case("bench-out-not-empty", "bench", "--out holds an earlier report", "error",
         _bench(), setup=_old_report, names="report", expect="--overwrite"),
    Case("bench-tiny-suite", "bench", "none: one method, one dataset, one protocol", "accepted",
         _tiny_bench(), writes=("report", "work")),
    Case("bench-resume-finished-same", "bench", "--resume of a finished report with the same suite", "noop",
         _tiny_bench("--resume"), setup=_ran(_tiny_bench()), expect="nothing to do"),
    Case("bench-resume-other-suite", "bench", "--resume of a finished report after the suite file changed", "error",
         _tiny_bench("--resume"), setup=_steps(_ran(_tiny_bench()), _edit_suite), names="report",
         expect=r"--suite \(other contents\)"),
    Case("bench-overwrite", "bench", "--overwrite of a finished report holding a stray file", "replaced",
         _tiny_bench("--overwrite"), setup=_steps(_ran(_tiny_bench()), _file("report/stray.md")),
         writes=("report", "work"), gone=("report/stray.md",)),
    Case("bench-checkpoints-missing", "bench", "a suite method with weights and no --checkpoints-for", "error",
         _tiny_bench(), setup=_file("suite.yaml", TINY_SUITE.replace("name: no_warp", "name: pf_afn").encode()),
         names="pf_afn", expect="--checkpoints-for pf_afn=DIR"),
]
# fmt: on
