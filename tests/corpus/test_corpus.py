"""Run every case of the bad-input corpus (tests/corpus/cases_*.py) and check its outcome class."""

from __future__ import annotations

import pytest
from corpus_lib import COMMANDS, OUTCOMES, Case, Workspace, all_cases, run_case

CASES = all_cases()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case: Case, workspace: Workspace) -> None:
    run_case(case, workspace)


def test_the_corpus_is_well_formed() -> None:
    assert all(c.outcome in OUTCOMES and c.command in COMMANDS for c in CASES)
