"""Print the bad-input corpus: cases per command and outcome class (``make corpus``)."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from corpus_lib import COMMANDS, OUTCOMES, all_cases  # noqa: E402


def main() -> None:
    cases = all_cases()
    counts = Counter((c.command, c.outcome) for c in cases)
    commands = [c for c in COMMANDS if any(counts[c, o] for o in OUTCOMES)]
    width = max(len(c) for c in [*commands, "command", "all"])
    print(f"{'command':<{width}}  " + "  ".join(f"{o:>8}" for o in OUTCOMES) + f"  {'cases':>6}")
    for command in commands:
        row = [counts[command, o] for o in OUTCOMES]
        print(f"{command:<{width}}  " + "  ".join(f"{n:>8}" for n in row) + f"  {sum(row):>6}")
    totals = [sum(counts[c, o] for c in commands) for o in OUTCOMES]
    print(f"{'all':<{width}}  " + "  ".join(f"{n:>8}" for n in totals) + f"  {sum(totals):>6}")


if __name__ == "__main__":
    main()
