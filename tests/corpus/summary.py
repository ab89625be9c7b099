"""Run the bad-input corpus and print its cases per command and outcome class, then the failures by kind
(``make corpus``): tracebacks, silently wrong, data lost, other. ``--count`` prints the table without running."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from corpus_lib import COMMANDS, OUTCOMES, CaseFailure, all_cases  # noqa: E402

KINDS = {"traceback": "tracebacks", "silently wrong": "silently wrong", "data lost": "data lost",
         "other": "other failures"}  # fmt: skip


class _Verdicts:
    """A pytest plugin keeping each case's failure kind (``None``: it got its outcome)."""

    def __init__(self) -> None:
        self.kinds: dict[str, str | None] = {}

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo) -> object:
        yield
        case = getattr(item, "callspec", None) and item.callspec.params.get("case")
        if case is None or (call.when == "call" and case.id in self.kinds):
            return
        if call.excinfo is not None:
            error = call.excinfo.value
            self.kinds[case.id] = error.kind if isinstance(error, CaseFailure) else "other"
        elif call.when == "call":
            self.kinds[case.id] = None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", action="store_true", help="Only count the cases; run none.")
    args = parser.parse_args()
    cases = all_cases()
    verdicts = _Verdicts()
    if not args.count:
        pytest.main(["-q", "-p", "no:cacheprovider", str(HERE / "test_corpus.py"), "-k", "test_case"],
                    plugins=[verdicts])  # fmt: skip
    counts = Counter((c.command, c.outcome) for c in cases)
    commands = [c for c in COMMANDS if any(counts[c, o] for o in OUTCOMES)]
    width = max(len(c) for c in [*commands, "command", "all"])
    print(f"{'command':<{width}}  " + "  ".join(f"{o:>8}" for o in OUTCOMES) + f"  {'cases':>6}")
    for command in commands:
        row = [counts[command, o] for o in OUTCOMES]
        print(f"{command:<{width}}  " + "  ".join(f"{n:>8}" for n in row) + f"  {sum(row):>6}")
    totals = [sum(counts[c, o] for c in commands) for o in OUTCOMES]
    print(f"{'all':<{width}}  " + "  ".join(f"{n:>8}" for n in totals) + f"  {sum(totals):>6}")
    if args.count:
        return 0
    failed = Counter(kind for kind in verdicts.kinds.values() if kind)
    ran = len(verdicts.kinds)
    print(f"ran {ran} of {len(cases)} cases: {ran - sum(failed.values())} got their outcome; "
          + ", ".join(f"{failed[kind]} {label}" for kind, label in KINDS.items()))  # fmt: skip
    for case_id, kind in sorted(verdicts.kinds.items()):
        if kind:
            print(f"  {kind}: {case_id}")
    return 0 if ran == len(cases) and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
