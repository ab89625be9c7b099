"""``pftryon weights``: list, download and verify the files of :data:`~bench.metrics.weights.WEIGHTS`.

Downloads use the standard library only (``urllib``), never happen implicitly (only ``pftryon weights fetch`` and the
``--fetch-weights`` flag of ``eval``, ``bench`` and ``ablate``), and go into ``--weights-dir`` or the torch hub cache
(``torch.hub.get_dir()/checkpoints``), where :func:`~bench.metrics.weights.resolve_weights` looks. A transfer writes
``<file>.part`` and resumes it with an HTTP ``Range`` request (a server that ignores it restarts the file); the size and
sha256 are checked where the table pins them (else the hash prefix a torchvision file name carries) before an atomic
rename, so a wrong or partial file never gets the real name.

Environment:
    PFTRYON_WEIGHTS_MIRROR: a base URL replacing every file's origin: files are fetched from
        ``<mirror>/<file name>`` (a local mirror, a server in tests).
"""

from __future__ import annotations

import http.client
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from bench.errors import FetchError, MissingWeightsError
from bench.metrics.needs import Selection, missing_message, missing_weights
from bench.metrics.weights import METHOD_PAGES, WEIGHTS, WeightsFile, file_sha256, resolve_weights, search_dirs

__all__ = [
    "MIRROR_ENV", "FetchReport", "Verified", "check_file", "download", "fetch", "fetch_or_raise", "source_url",
    "verify", "weights_table",
]  # fmt: skip

MIRROR_ENV = "PFTRYON_WEIGHTS_MIRROR"
TIMEOUT_S = 60.0
_BLOCK = 1 << 20


class _Offline(FetchError):
    """No connection to the server at all (name resolution, refused, connect timeout)."""


def source_url(spec: WeightsFile) -> str:
    """Where ``spec`` is downloaded from: its URL, or ``$PFTRYON_WEIGHTS_MIRROR/<file name>``."""
    mirror = os.environ.get(MIRROR_ENV)
    return f"{mirror.rstrip('/')}/{spec.filename}" if mirror else spec.url


def _checks(spec: WeightsFile) -> str:
    """What :func:`check_file` compares for ``spec`` (size, full sha256 or the name's hash prefix), in words."""
    prefix = spec.expected_sha256_prefix
    what = ["size"] if spec.size is not None else []
    what += ["sha256"] if spec.sha256 else [f"sha256 prefix {prefix}"] if prefix else []
    checked = f"{' and '.join(what)} checked" if what else "nothing checked"
    return checked if spec.sha256 else f"{checked}; sha256 not pinned"


def _found(name: str, weights_dir: str | os.PathLike[str] | None) -> Path | None:
    """Where :func:`resolve_weights` finds ``name``'s file, or ``None``."""
    try:
        return resolve_weights(name, weights_dir)
    except MissingWeightsError:
        return None


def check_file(spec: WeightsFile, path: Path) -> str | None:
    """Why ``path`` is not ``spec``'s file (its size, then its sha256 or the name's prefix), or ``None``."""
    size = path.stat().st_size
    if spec.size is not None and size != spec.size:
        return f"{size:,} bytes, expected {spec.size:,}"
    expected = spec.sha256 or spec.expected_sha256_prefix
    sha = file_sha256(path)
    if expected and not sha.startswith(expected):
        return f"sha256 {sha[:16]}... is not the expected {expected[:16]}..."
    return None


def _transfer(url: str, part: Path, size: int | None, timeout: float, progress: bool) -> None:
    """Download ``url`` into ``part``, continuing its bytes where the server honours ``Range``."""
    start = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={start}-"} if start else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and start:  # the part is longer than the file: start again
            part.unlink()
            _transfer(url, part, size, timeout, progress)
            return
        raise FetchError(f"HTTP {err.code} {err.reason}") from None
    except (urllib.error.URLError, OSError) as err:
        raise _Offline(f"no connection: {getattr(err, 'reason', err)}") from None
    keep = f"{part.name} kept: rerun to resume"
    with response:
        resumed = start > 0 and response.status == 206
        resumed &= response.headers.get("Content-Range", "").startswith(f"bytes {start}-")
        done = start if resumed else 0
        length = response.headers.get("Content-Length")
        total = done + int(length) if length is not None else size
        try:
            with part.open("ab" if resumed else "wb") as out, tqdm(
                total=total, initial=done, unit="B", unit_scale=True, unit_divisor=1024, desc=part.stem,
                disable=not progress, leave=False,
            ) as bar:  # fmt: skip
                while block := response.read(_BLOCK):
                    out.write(block)
                    done += len(block)
                    bar.update(len(block))
                out.flush()
                os.fsync(out.fileno())
        except (OSError, http.client.HTTPException) as err:
            raise FetchError(f"transfer broke after {done:,} bytes ({err}); {keep}") from None
    if total is not None and done < total:
        raise FetchError(f"transfer cut at {done:,} of {total:,} bytes; {keep}")


def download(spec: WeightsFile, folder: Path, *, timeout: float = TIMEOUT_S, progress: bool = True) -> Path:
    """Download ``spec`` into ``folder`` (resuming ``<file>.part``), check it, and only then give it its name.

    Raises:
        FetchError: the server cannot be reached or answers an error, the transfer is cut (the ``.part`` stays to
            resume), or the file is not the expected one (then nothing is kept).
    """
    folder.mkdir(parents=True, exist_ok=True)
    part = folder / f"{spec.filename}.part"
    _transfer(source_url(spec), part, spec.size, timeout, progress)
    problem = check_file(spec, part)
    if problem is not None:
        part.unlink()
        raise FetchError(f"{problem}: refused, nothing kept")
    target = folder / spec.filename
    os.replace(part, target)
    return target


@dataclass
class FetchReport:
    """What :func:`fetch` did: ``fetched`` lines (path, what was checked), names already ``present``, one ``failed``
    line per file (``<file>: <why> (<url>)``), and the ``offline`` line (``offline_ok`` without a connection)."""

    fetched: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    offline: str | None = None


def fetch(
    selection: Selection,
    weights_dir: str | os.PathLike[str] | None = None,
    *,
    timeout: float = TIMEOUT_S,
    offline_ok: bool = False,
    progress: bool = True,
) -> FetchReport:
    """Download the selection's missing files into ``weights_dir`` (default: the torch hub cache).

    Args:
        selection: what the run needs (:class:`~bench.metrics.needs.Selection`).
        weights_dir: the folder to fill (searched first by every command given the same ``--weights-dir``).
        timeout: seconds to connect and per read.
        offline_ok: when the server cannot be reached, stop and say in one line (``report.offline``) what is
            missing and how to get it, instead of a failure per file.
        progress: a progress bar per file (stderr).
    """
    needs = selection.needs()
    missing = missing_weights(needs, weights_dir)
    report = FetchReport(present=[name for name in needs if name not in missing])
    folder = search_dirs(weights_dir)[0]
    for index, name in enumerate(missing):
        spec = WEIGHTS[name]
        try:
            path = download(spec, folder, timeout=timeout, progress=progress)
        except _Offline as err:
            if offline_ok:
                list_command = selection.command(weights_dir).replace(" fetch", " list", 1)
                report.offline = (f"{missing_message(missing[index:], weights_dir, selection)} on a connected "
                                  f"machine (offline here, {err}); URLs: {list_command}")  # fmt: skip
                break
            report.failed.append(f"{spec.filename}: {err} ({source_url(spec)})")
        except FetchError as err:
            report.failed.append(f"{spec.filename}: {err} ({source_url(spec)})")
        else:
            report.fetched.append(f"{path} ({_checks(spec)})")
    return report


def fetch_or_raise(selection: Selection, weights_dir: str | os.PathLike[str] | None = None) -> list[str]:
    """``--fetch-weights``: fetch a run's missing files before it starts; returns the ``fetched`` lines.

    Raises:
        FetchError: one line naming every file that failed.
    """
    report = fetch(selection, weights_dir)
    if report.failed:
        raise FetchError("; ".join(report.failed))
    return report.fetched


@dataclass(frozen=True)
class Verified:
    """One present file checked against the table: ``problem`` is ``None`` when it matches what is pinned."""

    path: Path
    checked: str
    problem: str | None

    def __str__(self) -> str:
        return f"{self.path}: " + (f"MISMATCH, {self.problem}" if self.problem else f"ok ({self.checked})")


def verify(weights_dir: str | os.PathLike[str] | None = None) -> list[Verified]:
    """Check every file of the table that is present (where :func:`resolve_weights` finds it) against its pins."""
    found = {name: _found(name, weights_dir) for name in WEIGHTS}
    return [Verified(path, _checks(WEIGHTS[name]), check_file(WEIGHTS[name], path))
            for name, path in found.items() if path is not None]  # fmt: skip


def _used_by(spec: WeightsFile, uses: list[tuple[str, str]]) -> str:
    """``lpips: pfafn, hrviton; fid: pfafn`` (or the library, for a file no protocol metric uses)."""
    by_metric: dict[str, list[str]] = {}
    for metric, protocol in uses:
        if metric:
            by_metric.setdefault(metric, []).append(protocol)
    return "; ".join(f"{m}: {', '.join(p)}" for m, p in by_metric.items()) or spec.library


def _method_rows(selection: Selection, all_methods: bool) -> list[list[str]]:
    """The official try-on checkpoints (manual downloads) of every method, or of the suite's untrained ones."""
    from bench.methods import method_class

    if all_methods:
        names = list(METHOD_PAGES)
    elif selection.suite is not None:
        from bench.suite.config import load_suite

        names = [m.name for m in load_suite(selection.suite).methods if m.train is None and m.name in METHOD_PAGES]
    else:
        return []
    return [[method, file, f"method {method}", "?", "not pinned", f"manual download (--checkpoints-for {method}=DIR)",
             METHOD_PAGES[method]]
            for method in dict.fromkeys(names) for file in method_class(method).card.official_files]  # fmt: skip


def weights_table(selection: Selection, weights_dir: str | os.PathLike[str] | None = None, *,
                  all_methods: bool = False) -> str:  # fmt: skip
    """The files a selection needs as a text table: name, file, what uses it, size, sha256, where found, URL."""
    dirs = search_dirs(weights_dir)
    rows = [["NAME", "FILE", "USED BY", "BYTES", "SHA256", "STATUS", "URL"]]
    for name, used in selection.needs().items():
        spec, path = WEIGHTS[name], _found(name, weights_dir)
        where = "missing" if path is None else f"present in {path.parent}"
        size = "?" if spec.size is None else f"{spec.size:,}"
        prefix = spec.expected_sha256_prefix
        sha = spec.sha256 or (f"{prefix}... (name; not pinned)" if prefix else "not pinned")
        rows.append([name, spec.filename, _used_by(spec, used), size, sha, where, source_url(spec)])
    rows += _method_rows(selection, all_methods)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]]) for row in rows]
    return "\n".join([f"looked for in: {', '.join(map(str, dirs))} (fetch writes to {dirs[0]})", *lines])
