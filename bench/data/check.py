"""Validate a dataset tree: count samples per split and pair mode, and list every problem found."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from bench.data import create_dataset, dataset_class
from bench.data.readers import InputError
from bench.data.schema import PAIR_MODES

__all__ = ["CheckReport", "check_dataset"]


@dataclass
class CheckReport:
    """Counts of loadable samples per (split, pair mode) and one line per problem."""

    dataset: str
    root: Path
    counts: dict[tuple[str, str], int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_dataset(
    name: str,
    root: str | os.PathLike[str],
    *,
    splits: tuple[str, ...] | None = None,
    decode: bool = True,
    progress: bool = True,
    **options: object,
) -> CheckReport:
    """Index (and with ``decode``, fully read) every sample of ``name`` under ``root``.

    Problems never stop the check: each is recorded as one line naming the file, and counts cover the
    samples that loaded; every problem of a sample is listed, not only its first. ``options`` go to the loader
    (e.g. ``pairs_file``).

    Raises:
        InputError: a split of ``splits`` that the layout does not have.
    """
    known = dataset_class(name).splits
    unknown = [split for split in splits or () if split not in known]
    if unknown:
        raise InputError(f"--split {unknown[0]}: {name} has the splits {', '.join(known)}")
    report = CheckReport(name, Path(root))
    for split in splits or known:
        for mode in PAIR_MODES:
            try:
                dataset = create_dataset(name, root, split=split, pair_mode=mode, skip_bad=True, **options)
            except InputError as err:
                report.problems.append(f"[{split}/{mode}] {err}")
                continue
            report.problems += [f"[{split}/{mode}] {message}" for message in dataset.skipped]
            good = len(dataset.entries)
            if decode:
                loaded = len(dataset.entries)  # then the incomplete ones: their existing files are checked too
                entries = [*dataset.entries, *dataset.incomplete]
                for k, entry in enumerate(tqdm(entries, desc=f"{split}/{mode}", unit="sample", disable=not progress)):
                    problems = dataset.problems(entry)
                    report.problems += [f"[{split}/{mode}] {problem}" for problem in problems]
                    good -= bool(problems) and k < loaded
            report.counts[split, mode] = good
    report.problems = list(dict.fromkeys(report.problems))  # a file shared by both pair modes is reported once
    return report
