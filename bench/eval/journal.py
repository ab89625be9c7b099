"""Per-sample eval rows written as they are computed, so a killed ``pftryon eval`` continues (``--resume``).

``<out>/.partial/rows.jsonl`` holds one JSON line per scored pair (its index, the two files' sha256 digests and the
metric values), appended and flushed per batch; ``identity.json`` what must match to continue (protocol, metrics,
the pairs, the options). A resumed run keeps the complete lines in order (a line cut by the kill is dropped),
preloads their values and digests and scores the rest: rows and summary equal an uninterrupted run's, and the CSV is
byte-identical (JSON keeps every float exactly). Only per-sample metrics resume; FID, KID, IS and the temporal
metrics need the whole set at once, so a run with them writes no journal and ``--resume`` is refused for it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from bench.data.readers import InputError
from bench.runtime import atomic_write

__all__ = ["RESUMABLE", "Journal"]

RESUMABLE = ("ssim", "psnr", "mse", "lpips")
_FOLDER = ".partial"


class Journal:
    """The rows of one run's paired pass on disk (see the module docstring).

    Args:
        out: the run's output folder (the journal lives in ``out/.partial``).
        identity: what a resumed run must share with the stopped one (JSON-serialisable).
        metrics: the per-sample metrics the rows carry.
        resume: continue a journal found there; otherwise any old journal is discarded.

    Nothing is written before the first batch, so a run that fails before scoring leaves no journal.
    """

    def __init__(self, out: Path, identity: dict[str, Any], metrics: Sequence[str], resume: bool) -> None:
        unsupported = sorted(set(metrics) - set(RESUMABLE))
        if unsupported:
            raise InputError(f"{out}: --resume continues per-sample metrics only ({', '.join(RESUMABLE)}); "
                             f"{unsupported} need the whole set: rerun with --overwrite")  # fmt: skip
        self.folder, self.metrics = out / _FOLDER, list(metrics)
        self.digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()
        self.done: list[dict[str, Any]] = []
        self._handle: IO[str] | None = None
        if resume and (self.folder / "identity.json").is_file():
            stored = json.loads((self.folder / "identity.json").read_text()).get("sha256")
            if stored != self.digest:
                raise InputError(f"{self.folder}: the stopped run had other inputs, protocol, metrics or options; "
                                 "--resume needs the same arguments (or pass --overwrite)")  # fmt: skip
            self.done = self._read()
        else:
            shutil.rmtree(self.folder, ignore_errors=True)

    def _read(self) -> list[dict[str, Any]]:
        """The complete rows, in order (a last line cut by a kill is dropped and cut off the file)."""
        path = self.folder / "rows.jsonl"
        rows, keep = [], 0
        data = path.read_bytes() if path.is_file() else b""
        for line in data.splitlines(keepends=True):
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                break
            if not line.endswith(b"\n") or row.get("index") != len(rows):
                break
            rows.append(row)
            keep += len(line)
        if path.is_file():
            os.truncate(path, keep)
        return rows

    def append(self, indices: Sequence[int], pred_sha: Sequence[str], gt_sha: Sequence[str],
               values: dict[str, Sequence[float]]) -> None:  # fmt: skip
        """Record one batch (flushed to disk before the next one starts)."""
        if self._handle is None:
            if not (self.folder / "identity.json").is_file():
                self.folder.mkdir(parents=True, exist_ok=True)
                atomic_write(self.folder / "identity.json", json.dumps({"sha256": self.digest}) + "\n")
            self._handle = (self.folder / "rows.jsonl").open("a")
        for k, index in enumerate(indices):
            row = {"index": index, "pred_sha256": pred_sha[k], "gt_sha256": gt_sha[k],
                   **{name: values[name][k] for name in self.metrics}}  # fmt: skip
            self._handle.write(json.dumps(row) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def finish(self) -> None:
        """The report is written: drop the journal."""
        if self._handle is not None:
            self._handle.close()
        shutil.rmtree(self.folder, ignore_errors=True)
