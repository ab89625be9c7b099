"""Run PF-AFN on pairs in the official test layout (``test_img`` / ``test_clothes`` / ``test_edge``).

This reproduces ``PF-AFN_test/test.py`` on any device: no resizing, the edge binarised at 0.5, the garment
multiplied by it, one output image per pair. Finished pairs are skipped, so an interrupted run resumes.
Inputs are read by :func:`bench.images.read_image`, the reader of every command (alpha flattened on white, 16 bits
scaled, EXIF orientation not applied, as its docstring says). The folder's ``tryon.json``
(:class:`~bench.records.TryonRecord`) records the checkpoint files' sha256, the output kind and the inputs' reading
notes: a folder made by another checkpoint (or holding images of no record) is refused unless ``overwrite=True``,
which clears it first.

A preset over :mod:`bench.predict`'s machinery (first of repeated pairs, skipping finished outputs, the batch loop with
its atomic PNG writes in the official uint8 conversion, the manifest's identity check); what is specific stays here:
reading the demo pair list or single files into inputs, the tryon.json record and the triptych.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from bench.data.base import read_pair_list
from bench.data.readers import InputError, read_mask, read_rgb
from bench.images import note_lines, probe_image
from bench.output_dir import check_writable, clear_dir
from bench.predict import _finished, _first_of_each, _recorded_changes, _write_outputs, output_stem
from bench.records import SCHEMA_VERSION, TryonRecord
from pftryon.models import PFAFN, atomic_write, mask_garment

__all__ = ["MANIFEST", "Pair", "TryonResult", "load_pfafn", "read_pairs", "run_tryon"]

MANIFEST = "tryon.json"


@dataclass(frozen=True)
class Pair:
    """One try-on request: file paths of the person, the garment and the garment mask."""

    person: Path
    cloth: Path
    edge: Path


# Each role of a pair: its field, the name reports give its files, and whether it is read as a mask.
_ROLES = (("person", "person", False), ("cloth", "garment", False), ("edge", "garment mask", True))


@dataclass(frozen=True)
class TryonResult:
    """What :func:`run_tryon` did: the images written now, those found done, repeated pairs (written once) and the
    inputs' reading notes (:func:`bench.images.note_lines`, as in ``tryon.json``)."""

    written: list[Path]
    done_before: int
    duplicates: int
    notes: list[str]


def read_pairs(pairs_file: str | os.PathLike[str], dataroot: str | os.PathLike[str]) -> list[Pair]:
    """Parse ``person.jpg cloth.jpg`` lines into paths under the PF-AFN test layout of ``dataroot``."""
    root = Path(dataroot)
    pairs = [
        Pair(root / "test_img" / person, root / "test_clothes" / cloth, root / "test_edge" / cloth)
        for person, cloth in read_pair_list(pairs_file, columns=2)
    ]
    for pair in pairs:
        for path in (pair.person, pair.cloth, pair.edge):
            if not path.is_file():
                raise InputError(f"{path}: file named in {pairs_file} not found")
    return pairs


def load_pfafn(checkpoints: str | os.PathLike[str]) -> tuple[PFAFN, dict[str, str]]:
    """Load PF-AFN from a folder holding the official files or a pftryon checkpoint; returns the model and
    ``{file name: sha256}`` of the files read.

    Official: ``warp_model_final.pth`` + ``gen_model_final.pth``. Ours: ``model.safetensors`` +
    ``config.json`` (written by :func:`pftryon.save_pretrained`). See :meth:`bench.methods.TryOnMethod.load`.
    """
    from bench.methods.flow import PFAFNMethod

    method = PFAFNMethod.load(checkpoints)
    return method.model, {Path(path).name: sha for path, sha in method.checkpoints.items()}  # type: ignore[return-value]


def _load_batch(pairs: Sequence[Pair]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Person, masked garment and mask of ``pairs``, as the official test prepares them (no resizing)."""
    people, clothes, edges = [], [], []
    for pair in pairs:
        person, cloth, edge = read_rgb(pair.person), read_rgb(pair.cloth), read_mask(pair.edge)
        size = tuple(person.shape[-2:])
        for path, tensor in ((pair.cloth, cloth), (pair.edge, edge)):
            if tuple(tensor.shape[-2:]) != size:
                raise InputError(f"{path}: size {tensor.shape[-1]}x{tensor.shape[-2]} differs from the person image's "
                                 f"{size[1]}x{size[0]} (the official test does not resize)")  # fmt: skip
        if size[0] % 32 or size[1] % 32:
            raise InputError(f"{pair.person}: size {size[1]}x{size[0]} must be a multiple of 32 (VITON is 192x256)")
        if people and size != tuple(people[0].shape[-2:]):
            raise InputError(f"{pair.person}: all images of a batch must share one size (use --batch-size 1)")
        people.append(person)
        clothes.append(cloth)
        edges.append(edge)
    cloth, edge = mask_garment(torch.stack(clothes), torch.stack(edges))
    return torch.stack(people), cloth, edge


def _batches(pairs: Sequence[Pair], size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    for start in range(0, len(pairs), size):
        yield _load_batch(pairs[start : start + size])


def _input_notes(pairs: Sequence[Pair]) -> list[str]:
    """The reading notes of the pairs' files, role by role, from their headers (an unreadable header fails here,
    before any work)."""
    lines = []
    for field, what, grey in _ROLES:
        files = dict.fromkeys(getattr(pair, field) for pair in pairs)
        lines += note_lines({path: probe_image(path, grey=grey).notes for path in files}, what)
    return lines


def _claim(out_dir: Path, identity: dict[str, object], overwrite: bool) -> None:
    """Check that ``out_dir`` may take ``identity``'s outputs (new, already its own, or cleared with ``overwrite``)."""
    manifest = out_dir / MANIFEST
    if out_dir.is_dir() and not overwrite:
        found = _recorded_changes(manifest, identity, recorded=lambda old: old, kind="tryon",
                                  fix="pass --overwrite to redo the folder")  # fmt: skip
        if found is not None:
            if not found[1]:
                return
            raise InputError(
                f"{manifest}: this folder holds try-ons made with another {', '.join(found[1])}; pass --overwrite "
                "to replace them or choose another --out"
            )
        images = sorted(out_dir.glob("*.png"))
        if images:
            raise InputError(
                f"{out_dir}: holds {len(images)} PNG files of no recorded checkpoint (no {MANIFEST}); pass "
                "--overwrite to replace them or choose another --out"
            )
    elif overwrite and out_dir.is_dir():
        clear_dir(out_dir)


@torch.inference_mode()
def run_tryon(
    model: PFAFN,
    pairs: Sequence[Pair],
    out_dir: str | os.PathLike[str],
    *,
    device: torch.device,
    checkpoints: Mapping[str, str],
    batch_size: int = 1,
    triptych: bool = False,
    overwrite: bool = False,
    progress: bool = True,
) -> TryonResult:
    """Write one try-on PNG per distinct pair into ``out_dir``.

    With ``triptych=True`` the image is the official ``[person | masked garment | try-on]`` strip.
    ``checkpoints`` (``{file name: sha256}``, from :func:`load_pfafn`) is recorded in ``out_dir/tryon.json``, with the
    reading notes of all the pairs' inputs (written again by each run that writes images).
    Pairs whose output already exists are skipped, so an interrupted run resumes; a repeated pair is written once.

    Raises:
        InputError: ``out_dir`` is not a writable folder, holds another checkpoint's or unrecorded outputs (unless
            ``overwrite``), an input is unreadable, or the model returns non-finite values.
    """
    out_dir = check_writable(out_dir)
    names = [output_stem(pair.person.stem, pair.cloth.stem) for pair in pairs]
    unique = _first_of_each(names)
    identity = {"checkpoint_sha256": dict(checkpoints), "triptych": triptych}
    _claim(out_dir, identity, overwrite)
    notes = _input_notes([pairs[k] for k in unique])
    record = TryonRecord(schema_version=SCHEMA_VERSION, kind="tryon", checkpoint_sha256=dict(checkpoints),
                         triptych=triptych, image_notes=notes)  # fmt: skip
    model = model.to(device).eval()
    todo = [k for k in unique if not _finished(out_dir, names[k])]

    def forward(batch: tuple[torch.Tensor, ...]) -> Mapping[str, torch.Tensor]:
        return model(*(tensor.to(device) for tensor in batch))

    def strip(batch: tuple[torch.Tensor, ...], tryon: torch.Tensor, i: int) -> list[torch.Tensor]:
        return [batch[0][i], batch[1][i], tryon[i]]  # the official [person | masked garment | try-on]

    def write_record() -> None:  # with the first image, so that a failed run leaves nothing behind
        atomic_write(out_dir / MANIFEST, json.dumps(record, indent=2, sort_keys=True) + "\n")

    with tqdm(total=len(unique), initial=len(unique) - len(todo), unit="pair", disable=not progress) as bar:
        written = _write_outputs(out_dir, _batches([pairs[k] for k in todo], batch_size), (names[k] for k in todo),
                                 forward, label="pf_afn", checkpoints=checkpoints, bar=bar,
                                 panels=strip if triptych else None, before_first=write_record)  # fmt: skip
    return TryonResult(written, len(unique) - len(todo), len(pairs) - len(unique), notes)
