"""Reduce the full golden files (a batch of two samples each) to the ones kept here.

    python tests/conformance/reduce.py FULL_DIR

For each ``<model>_golden.npz`` in FULL_DIR, writes sample 0 of every array, values and float32 dtype unchanged,
to this folder as an LZMA-compressed ``.npz`` that ``np.load`` reads like any other. Member timestamps are fixed,
so the same input gives byte-identical files.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import numpy as np

MODELS = ("pfafn", "cpvton", "fsvton", "dmvton")
HERE = Path(__file__).resolve().parent


def reduce_golden(source: Path, target: Path) -> None:
    """Write sample 0 of each float32 array in ``source`` to ``target``."""
    with np.load(source) as full, zipfile.ZipFile(target, "w") as archive:
        for key in full.files:
            array = full[key]
            if array.dtype != np.float32:
                raise ValueError(f"{source.name}: {key} is {array.dtype}, expected float32")
            member = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            member.compress_type = zipfile.ZIP_LZMA
            with archive.open(member, "w") as stream:
                np.lib.format.write_array(stream, np.ascontiguousarray(array[:1]), allow_pickle=False)


def main(full_dir: str) -> None:
    for model in MODELS:
        reduce_golden(Path(full_dir) / f"{model}_golden.npz", HERE / f"{model}_golden.npz")


if __name__ == "__main__":
    main(*sys.argv[1:])
