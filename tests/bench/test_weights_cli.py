"""``pftryon weights`` list / fetch / verify against a local HTTP server, and the one-line missing-weights message of
``eval``, ``bench`` and ``ablate``."""

from __future__ import annotations

import dataclasses
import hashlib
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from PIL import Image

from bench.cli import main
from bench.metrics.fetch import MIRROR_ENV
from bench.metrics.needs import Selection
from bench.metrics.weights import WEIGHTS

DATA = bytes(range(256)) * 40  # 10,240 bytes


class _Files(BaseHTTPRequestHandler):
    """Serves ``files`` by name, honours ``Range`` unless ``honour_range`` is off, and for a name in ``cut`` sends
    only that many bytes under the full Content-Length, then closes."""

    files: dict[str, bytes]
    cut: dict[str, int]
    ranges: list[str | None]
    honour_range: bool

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        name = self.path.lstrip("/")
        requested = self.headers.get("Range")
        self.ranges.append(requested)
        if name not in self.files:
            self.send_error(404)
            return
        body, start = self.files[name], 0
        if requested and self.honour_range:
            start = int(requested.removeprefix("bytes=").rstrip("-"))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        self.wfile.write(body[start:][: self.cut.get(name)])
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[type[_Files]]:
    """A server on 127.0.0.1 (port 0) that every download goes to (``$PFTRYON_WEIGHTS_MIRROR``); stopped after."""
    handler = type("Files", (_Files,), {"files": {}, "cut": {}, "ranges": [], "honour_range": True})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    monkeypatch.setenv(MIRROR_ENV, f"http://127.0.0.1:{httpd.server_address[1]}")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    yield handler
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def _publish(server: type[_Files], monkeypatch: pytest.MonkeyPatch, name: str, data: bytes = DATA,
             pinned: bytes | None = None) -> str:  # fmt: skip
    """Serve ``data`` as ``name``'s file, with the table pinning the size and sha256 of ``pinned`` (default: data)."""
    pinned = data if pinned is None else pinned
    spec = dataclasses.replace(WEIGHTS[name], size=len(pinned), sha256=hashlib.sha256(pinned).hexdigest())
    monkeypatch.setitem(WEIGHTS, name, spec)
    server.files[spec.filename] = data
    return spec.filename


def _weights(*args: str) -> Result:
    return CliRunner().invoke(main, ["weights", *args], catch_exceptions=False)


def _fetch(folder: Path, *args: str) -> Result:
    return _weights("fetch", "--weights-dir", str(folder), "--timeout", "5", *args)


def _errors(result: Result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("error:")]


def test_fetch_checks_the_file_and_renames_it_into_place(server: type[_Files], monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:  # fmt: skip
    filename = _publish(server, monkeypatch, "dists")
    result = _fetch(tmp_path / "w", "--names", "dists")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "w" / filename).read_bytes() == DATA
    assert sorted(p.name for p in (tmp_path / "w").iterdir()) == [filename]  # no .part left behind
    assert "(size and sha256 checked)" in result.output
    again = _fetch(tmp_path / "w", "--names", "dists")
    assert again.exit_code == 0 and "all 1 file(s) present" in again.output and len(server.ranges) == 1


def test_a_wrong_sha256_is_refused_and_nothing_gets_the_name(server: type[_Files], monkeypatch: pytest.MonkeyPatch,
                                                             tmp_path: Path) -> None:  # fmt: skip
    filename = _publish(server, monkeypatch, "dists", pinned=DATA[::-1])
    result = _fetch(tmp_path / "w", "--names", "dists")
    assert result.exit_code == 1
    (line,) = _errors(result)
    assert line.startswith(f"error: {filename}: sha256 ") and "refused" in line and line.endswith(f"/{filename})")
    assert not (tmp_path / "w" / filename).exists() and not (tmp_path / "w" / f"{filename}.part").exists()


def test_a_cut_transfer_keeps_the_part_and_the_next_fetch_resumes_it(
    server: type[_Files], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    filename = _publish(server, monkeypatch, "dists")
    server.cut[filename] = 4000  # Content-Length says 10,240, the server closes after 4,000
    result = _fetch(tmp_path / "w", "--names", "dists")
    assert result.exit_code == 1
    (line,) = _errors(result)
    assert "4,000 of 10,240 bytes" in line and f"{filename}.part kept" in line
    assert (tmp_path / "w" / f"{filename}.part").read_bytes() == DATA[:4000]
    assert not (tmp_path / "w" / filename).exists()
    del server.cut[filename]
    resumed = _fetch(tmp_path / "w", "--names", "dists")
    assert resumed.exit_code == 0, resumed.output
    assert server.ranges == [None, "bytes=4000-"]
    assert (tmp_path / "w" / filename).read_bytes() == DATA


def test_a_partial_file_is_resumed_or_restarted_when_range_is_ignored(
    server: type[_Files], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    filename = _publish(server, monkeypatch, "dists")
    folder = tmp_path / "w"
    folder.mkdir()
    (folder / f"{filename}.part").write_bytes(DATA[:6000])
    assert _fetch(folder, "--names", "dists").exit_code == 0
    assert server.ranges == ["bytes=6000-"] and (folder / filename).read_bytes() == DATA
    (folder / filename).unlink()
    (folder / f"{filename}.part").write_bytes(b"stale bytes from another file")
    server.honour_range = False  # answers 200 with the whole file: the part must start over
    assert _fetch(folder, "--names", "dists").exit_code == 0
    assert (folder / filename).read_bytes() == DATA


def test_a_404_is_one_line_and_a_failure(server: type[_Files], monkeypatch: pytest.MonkeyPatch,
                                         tmp_path: Path) -> None:  # fmt: skip
    served = _publish(server, monkeypatch, "dists")
    result = _fetch(tmp_path / "w", "--names", "dists,cleanfid_inception")
    assert result.exit_code == 1
    (line,) = _errors(result)
    assert line.startswith("error: inception-2015-12-05.pt: HTTP 404") and line.endswith("/inception-2015-12-05.pt)")
    assert (tmp_path / "w" / served).read_bytes() == DATA  # the other file still came


def test_offline_ok_says_what_is_missing_in_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on: connection refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv(MIRROR_ENV, f"http://127.0.0.1:{port}")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    result = _fetch(tmp_path / "w", "--suite", "synthetic", "--offline-ok")
    assert result.exit_code == 0, result.output
    (line,) = [line for line in result.output.splitlines() if line.strip()]
    for name in ("alex", "pt_inception"):  # the synthetic suite's protocol: pfafn
        assert WEIGHTS[name].filename in line
    assert "pftryon weights fetch --suite synthetic" in line and "pftryon weights list --suite synthetic" in line
    assert _fetch(tmp_path / "w", "--suite", "synthetic").exit_code == 1  # without it: a failure per file


def test_list_is_narrowed_by_the_protocol(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / WEIGHTS["alex"].filename).write_bytes(b"x")
    result = _weights("list", "--protocol", "pfafn", "--weights-dir", str(tmp_path / "w"))
    assert result.exit_code == 0
    rows = {line.split()[0]: line for line in result.output.splitlines()[2:]}
    assert set(rows) == {"alex", "pt_inception"}
    assert f"present in {tmp_path / 'w'}" in rows["alex"] and "lpips: pfafn" in rows["alex"]
    assert "missing" in rows["pt_inception"] and WEIGHTS["pt_inception"].sha256 in rows["pt_inception"]
    everything = _weights("list", "--all").output
    assert all(spec.filename in everything for spec in WEIGHTS.values())
    assert "warp_model_final.pth" in everything and "manual download (--checkpoints-for pf_afn=DIR)" in everything


def test_verify_compares_size_and_sha256(server: type[_Files], monkeypatch: pytest.MonkeyPatch,
                                         tmp_path: Path) -> None:  # fmt: skip
    good = _publish(server, monkeypatch, "dists")
    bad = _publish(server, monkeypatch, "cleanfid_inception", pinned=DATA[::-1])
    folder = tmp_path / "w"
    folder.mkdir()
    (folder / good).write_bytes(DATA)
    result = _weights("verify", "--weights-dir", str(folder))
    assert result.exit_code == 0 and f"{folder / good}: ok (size and sha256 checked)" in result.output
    (folder / bad).write_bytes(DATA)
    result = _weights("verify", "--weights-dir", str(folder))
    assert result.exit_code == 1 and f"{folder / bad}: MISMATCH, sha256 " in result.output


def _image_pairs(folder: Path, count: int = 2) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    for side in ("pred", "gt"):
        (folder / side).mkdir(parents=True)
        for i in range(count):
            Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(folder / side / f"{i}.png")
    return folder / "pred", folder / "gt"


def test_eval_names_every_missing_file_with_the_fetch_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    pred, gt = _image_pairs(tmp_path)
    empty = tmp_path / "weights"
    args = ["eval", "--pred", str(pred), "--gt", str(gt), "--protocol", "pfafn", "--out", str(tmp_path / "out"),
            "--weights-dir", str(empty), "--no-feature-cache"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    (line,) = result.output.splitlines()
    assert line.startswith("error: missing weights: alexnet-owt-7be5be79.pth, pt_inception-2015-12-05-6726825d.pth")
    assert line.endswith(f"get them with: pftryon weights fetch --protocol pfafn --weights-dir {empty}")
    assert not (tmp_path / "out").exists()


def test_eval_fetch_weights_fails_in_one_line(server: type[_Files], tmp_path: Path) -> None:
    pred, gt = _image_pairs(tmp_path)
    args = ["eval", "--pred", str(pred), "--gt", str(gt), "--protocol", "pfafn", "--metrics", "ssim,lpips",
            "--out", str(tmp_path / "out"), "--weights-dir", str(tmp_path / "w"), "--fetch-weights"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    (line,) = _errors(result)
    assert line.startswith("error: alexnet-owt-7be5be79.pth: HTTP 404") and server.ranges == [None]


def test_one_answer_for_what_a_run_needs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.ablate.scoring import prepare_weights
    from bench.suite import load_suite
    from bench.suite.runner import _check_weights
    from bench.train.recipe import load_recipe
    from pftryon.losses import VGG19_FILE, VGG19_URL

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    suite = load_suite("synthetic")
    assert list(Selection.of_suite(suite).needs()) == ["alex", "pt_inception"]
    assert Selection.of_suite(suite).needs() == Selection(suite="synthetic").needs()
    assert list(Selection(("catvton",), ("lpips", "dists")).needs()) == ["vgg", "squeeze", "dists"]
    messages: list[str] = []
    _check_weights(suite, tmp_path, False, messages.append)
    (message,) = messages
    assert all(WEIGHTS[n].filename in message for n in ("alex", "pt_inception"))
    assert "pftryon weights fetch --protocol pfafn" in message and "n/a cells" in message
    note = prepare_weights(load_recipe("smoke"), tmp_path)
    assert note is not None and "alexnet-owt-7be5be79.pth, weights-inception-2015-12-05-6726825d.pth" in note
    assert "pftryon weights fetch --names alex,inception" in note
    assert (WEIGHTS["vgg19"].filename, WEIGHTS["vgg19"].url) == (VGG19_FILE, VGG19_URL)
