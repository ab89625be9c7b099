"""Reduce the full golden files of PF-AFN, FS-VTON and DM-VTON (a batch of two samples each) to the ones kept here.

    python tests/conformance/reduce.py FULL_DIR

For each ``<model>_golden.npz`` in FULL_DIR, writes sample 0 of every array, values and float32 dtype unchanged,
to this folder as an LZMA-compressed ``.npz`` that ``np.load`` reads like any other. Member timestamps are fixed,
so the same input gives byte-identical files. ``make_cpvton_golden.py`` writes CP-VTON's file.
"""

from __future__ import annotations

import sys
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

MODELS = ("pfafn", "fsvton", "dmvton")
HERE = Path(__file__).resolve().parent


def write_golden(target: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write float32 ``arrays`` to ``target`` as an LZMA-compressed ``.npz`` with fixed member timestamps."""
    with zipfile.ZipFile(target, "w") as archive:
        for key, array in arrays.items():
            if array.dtype != np.float32:
                raise ValueError(f"{target.name}: {key} is {array.dtype}, expected float32")
            member = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            member.compress_type = zipfile.ZIP_LZMA
            with archive.open(member, "w") as stream:
                np.lib.format.write_array(stream, np.ascontiguousarray(array), allow_pickle=False)


def reduce_golden(source: Path, target: Path) -> None:
    """Write sample 0 of each float32 array in ``source`` to ``target``."""
    with np.load(source) as full:
        write_golden(target, {key: full[key][:1] for key in full.files})


def main(full_dir: str) -> None:
    for model in MODELS:
        reduce_golden(Path(full_dir) / f"{model}_golden.npz", HERE / f"{model}_golden.npz")


if __name__ == "__main__":
    main(*sys.argv[1:])
