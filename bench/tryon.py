"""Run PF-AFN on pairs in the official test layout (``test_img`` / ``test_clothes`` / ``test_edge``).

This reproduces ``PF-AFN_test/test.py`` on any device: no resizing, the edge binarised at 0.5, the garment
multiplied by it, one output image per pair. Finished pairs are skipped, so an interrupted run resumes.
The folder's ``tryon.json`` records the checkpoint files' sha256 and the output kind: a folder made by another
checkpoint (or holding images of no record) is refused unless ``overwrite=True``, which clears it first.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from bench.data.base import read_pair_list
from bench.data.readers import InputError, read_mask, read_rgb
from bench.images import to_uint8, write_png
from bench.output_dir import check_writable, clear_dir
from pftryon.models import PFAFN, atomic_write, mask_garment

__all__ = ["MANIFEST", "Pair", "TryonResult", "load_pfafn", "output_name", "read_pairs", "resolve_device", "run_tryon"]

MANIFEST = "tryon.json"


@dataclass(frozen=True)
class Pair:
    """One try-on request: file paths of the person, the garment and the garment mask."""

    person: Path
    cloth: Path
    edge: Path


@dataclass(frozen=True)
class TryonResult:
    """What :func:`run_tryon` did: the images written now, those found done, and repeated pairs (written once)."""

    written: list[Path]
    done_before: int
    duplicates: int


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


def resolve_device(name: str) -> torch.device:
    """``cpu``, ``cuda`` (error when absent) or ``auto`` (CUDA when available)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA device is available (use --device cpu or auto)")
    return torch.device(name)


def load_pfafn(checkpoints: str | os.PathLike[str]) -> tuple[PFAFN, dict[str, str]]:
    """Load PF-AFN from a folder holding the official files or a pftryon checkpoint; returns the model and
    ``{file name: sha256}`` of the files read.

    Official: ``warp_model_final.pth`` + ``gen_model_final.pth``. Ours: ``model.safetensors`` +
    ``config.json`` (written by :func:`pftryon.save_pretrained`). See :meth:`bench.methods.TryOnMethod.load`.
    """
    from bench.methods.flow import PFAFNMethod

    method = PFAFNMethod.load(checkpoints)
    return method.model, {Path(path).name: sha for path, sha in method.checkpoints.items()}  # type: ignore[return-value]


def output_name(pair: Pair) -> str:
    """``<person id>__<cloth id>.png``."""
    return f"{pair.person.stem}__{pair.cloth.stem}.png"


def _load_batch(pairs: Sequence[Pair]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
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
    return torch.stack(people), torch.stack(clothes), torch.stack(edges)


def _batches(items: Sequence[Pair], size: int) -> Iterator[Sequence[Pair]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _claim(out_dir: Path, identity: dict[str, object], overwrite: bool) -> bool:
    """Check that ``out_dir`` may take ``identity``'s outputs (new, already its own, or cleared with ``overwrite``);
    returns whether its manifest is still to be written."""
    manifest = out_dir / MANIFEST
    if out_dir.is_dir() and not overwrite:
        if manifest.is_file():
            try:
                old = json.loads(manifest.read_text())
            except (OSError, json.JSONDecodeError) as err:
                raise InputError(f"{manifest}: unreadable ({err}); pass --overwrite to redo the folder") from None
            if old == identity:
                return False
            changed = sorted(k for k in identity if not isinstance(old, dict) or old.get(k) != identity[k])
            raise InputError(
                f"{manifest}: this folder holds try-ons made with another {', '.join(changed)}; pass --overwrite to "
                "replace them or choose another --out"
            )
        images = sorted(out_dir.glob("*.png"))
        if images:
            raise InputError(
                f"{out_dir}: holds {len(images)} PNG files of no recorded checkpoint (no {MANIFEST}); pass "
                "--overwrite to replace them or choose another --out"
            )
    elif overwrite and out_dir.is_dir():
        clear_dir(out_dir)
    return True


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
    ``checkpoints`` (``{file name: sha256}``, from :func:`load_pfafn`) is recorded in ``out_dir/tryon.json``.
    Pairs whose output already exists are skipped, so an interrupted run resumes; a repeated pair is written once.

    Raises:
        InputError: ``out_dir`` is not a writable folder, holds another checkpoint's or unrecorded outputs (unless
            ``overwrite``), an input is unreadable, or the model returns non-finite values.
    """
    out_dir = check_writable(out_dir)
    first: dict[str, Pair] = {}
    for pair in pairs:
        first.setdefault(output_name(pair), pair)
    unique = list(first.values())
    identity = {"checkpoint_sha256": dict(checkpoints), "triptych": triptych}
    new_manifest = _claim(out_dir, identity, overwrite)
    model = model.to(device).eval()
    todo = [pair for pair in unique if not (out_dir / output_name(pair)).exists()]
    written = []
    with tqdm(total=len(unique), initial=len(unique) - len(todo), unit="pair", disable=not progress) as bar:
        for chunk in _batches(todo, batch_size):
            person, cloth, edge = _load_batch(chunk)
            cloth, edge = mask_garment(cloth, edge)
            result = model(person.to(device), cloth.to(device), edge.to(device))
            if not torch.isfinite(result["tryon"]).all():
                raise InputError(f"non-finite try-on for {chunk[0].person.name}; the checkpoint may be corrupt "
                                 f"({', '.join(checkpoints)})")  # fmt: skip
            if new_manifest:  # written with the first image, so that a failed run leaves nothing behind
                atomic_write(out_dir / MANIFEST, json.dumps(identity, indent=2, sort_keys=True) + "\n")
                new_manifest = False
            for i, pair in enumerate(chunk):
                panels = [person[i], cloth[i], result["tryon"][i]] if triptych else [result["tryon"][i]]
                written.append(out_dir / output_name(pair))
                write_png(written[-1], np.concatenate([to_uint8(p) for p in panels], axis=1))
            bar.update(len(chunk))
    return TryonResult(written, len(unique) - len(todo), len(pairs) - len(unique))
