"""Run metadata (commit, machine, code fingerprint) and bootstrap confidence intervals."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from bench.results import bootstrap_ci, code_fingerprint, git_commit, git_state, machine, run_metadata


def test_bootstrap_ci_is_deterministic_and_covers_the_mean():
    values = np.random.default_rng(1).normal(0.8, 0.05, size=200)
    mean, low, high = bootstrap_ci(values, seed=3)
    assert (mean, low, high) == bootstrap_ci(values, seed=3)
    assert low < mean < high and mean == pytest.approx(values.mean())
    # the interval is about 2 * 1.96 standard errors wide
    assert high - low == pytest.approx(2 * 1.96 * values.std() / np.sqrt(values.size), rel=0.15)


def test_bootstrap_ci_narrows_with_more_samples_and_handles_one_value():
    rng = np.random.default_rng(2)
    small = bootstrap_ci(rng.normal(size=20))
    large = bootstrap_ci(rng.normal(size=2000))
    assert large[2] - large[1] < (small[2] - small[1]) / 5
    assert bootstrap_ci([0.5]) == (0.5, 0.5, 0.5)


@pytest.mark.parametrize(("values", "kwargs"), [([], {}), ([1.0], {"confidence": 1.0})])
def test_bootstrap_ci_rejects_bad_arguments(values, kwargs):
    with pytest.raises(ValueError):
        bootstrap_ci(values, **kwargs)


def test_run_metadata_names_commit_date_and_versions():
    meta = run_metadata()
    assert meta["date"].endswith("+00:00")
    assert meta["git_commit"]
    assert meta["versions"]["torch"] and meta["versions"]["pftryon"] == "0.1.0"


def test_code_fingerprint_follows_the_files_contents_not_their_dates_or_other_files(tmp_path):
    def tree(root: Path, body: str) -> Path:
        files = {"bench/a.py": body, "bench/suites/s.yaml": "x: 1\n", "pftryon/m.py": "", "baselines/b.py": "",
                 "pyproject.toml": "[project]\n"}  # fmt: skip
        for name, text in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text)
        return root

    first, second = tree(tmp_path / "one", "A = 1\n"), tree(tmp_path / "two", "A = 1\n")
    reference = code_fingerprint(first)
    assert reference["files"] == 5 and reference == code_fingerprint(second)  # same contents: same, wherever
    (second / "tests").mkdir()
    (second / "tests" / "t.py").write_text("anything")
    (second / "bench" / "notes.txt").write_text("not code")
    (second / "bench" / "data.csv").write_text("1,2")
    assert code_fingerprint(second) == reference  # files outside the scope do not count
    (second / "bench" / "a.py").write_text("A = 2\n")
    assert code_fingerprint(second)["sha256"] != reference["sha256"]
    (second / "bench" / "a.py").write_text("A = 1\n")
    (second / "bench" / "a.py").rename(second / "bench" / "b.py")
    assert code_fingerprint(second)["sha256"] != reference["sha256"]  # a renamed file is another tree
    expected = hashlib.sha256()
    for name in ("baselines/b.py", "bench/a.py", "bench/suites/s.yaml", "pftryon/m.py", "pyproject.toml"):
        expected.update(f"{name}\0{hashlib.sha256((first / name).read_bytes()).hexdigest()}\n".encode())
    assert reference["sha256"] == expected.hexdigest()


@pytest.mark.parametrize(
    ("flags", "level"),
    [("fpu sse4_2 avx avx2 avx512f avx512bw", "AVX-512"), ("fpu sse4_2 avx avx2", "AVX2"), ("fpu sse4_2", "SSE4.2"),
     ("fp asimd evtstrm", "NEON"), ("", None)],
)  # fmt: skip
def test_machine_names_the_widest_vector_instruction_set(flags, level):
    key = "Features" if "asimd" in flags else "flags"
    facts = machine(f"processor\t: 0\nmodel name\t: Test CPU\n{key}\t\t: {flags}\n")
    assert facts["isa"] == level
    assert facts["cores"] and facts["torch"] and "gpu" in facts and "cuda" in facts


def test_git_state_matches_git_commit():
    head, clean = git_state()
    commit = git_commit()
    assert commit is None or commit.startswith(head)
    assert commit is None or (clean is False) == commit.endswith("(with uncommitted changes)")
