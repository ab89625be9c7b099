"""Every shell command and Python snippet in the README and docs/ works as written.

Shell commands are parsed by the real command-line parsers (every subcommand, option and value checked, nothing
run); the cheap ones in :data:`RUN` also run. Python snippets run, in a temporary folder that holds the files they
name (official-format PF-AFN checkpoints written with deterministic weights).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
import torch
from click.testing import CliRunner

from bench.cli import main as pftryon
from bench.speed.cli import main as speed

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
# Commands cheap enough to run, by prefix; the rest are parsed only.
RUN = (
    "pftryon methods",
    "pftryon weights list",
    "pftryon data synth",
    "pftryon data check --dataset viton --root data/synthetic-viton",
)


def _snippets(language: str) -> Iterator[tuple[str, str]]:
    for page in PAGES:
        text = page.read_text()
        for match in FENCE.finditer(text):
            if match.group(1) == language:
                line = text.count("\n", 0, match.start()) + 1
                yield f"{page.relative_to(ROOT)}:{line}", match.group(2)


def _commands(code: str) -> list[list[str]]:
    """The block's command lines, continuations joined and comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", code)
    return [argv for line in joined.splitlines() if (argv := shlex.split(line, comments=True))]


SHELL = [pytest.param(_commands(code), id=where) for where, code in _snippets("bash")]
PYTHON = [pytest.param(code, id=where) for where, code in _snippets("python")]


def _parse(group: click.Command, name: str, args: list[str]) -> None:
    """Resolve the subcommands of ``args`` and parse the rest with the command's own options, without running it."""
    context = click.Context(group, info_name=name)
    command = group
    while isinstance(command, click.Group) and args and not args[0].startswith("-"):
        sub = command.get_command(context, args[0])
        assert sub is not None, f"no command {args[0]!r} under {context.command_path!r}"
        context, command, args = click.Context(sub, info_name=args[0], parent=context), sub, args[1:]
    command.make_context(context.info_name, list(args), parent=context.parent)


def _makefile_targets() -> set[str]:
    return set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), flags=re.MULTILINE))


def _pytest_markers() -> set[str]:
    return set(re.findall(r'^\s+"(\w+):', (ROOT / "pyproject.toml").read_text(), flags=re.MULTILINE))


@pytest.mark.parametrize("block", SHELL)
def test_shell_block(block: list[list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A block's commands in order, in one folder (a later command may read what an earlier one wrote)."""
    monkeypatch.chdir(tmp_path)
    for argv in block:
        _check(argv)


def _check(argv: list[str]) -> None:
    program, args = Path(argv[0]).name, argv[1:]
    if program == "make":
        assert set(args) <= _makefile_targets(), f"make targets {set(args) - _makefile_targets()} not in the Makefile"
    elif program in ("python", "torchrun") and "-m" in args:
        module, rest = args[args.index("-m") + 1], args[args.index("-m") + 2 :]
        if module == "pytest":
            marker = rest[rest.index("-m") + 1] if "-m" in rest else None
            assert marker is None or marker in _pytest_markers(), f"no pytest marker {marker!r}"
        else:
            assert module in ("bench.cli", "bench.speed"), f"unexpected module {module!r}"
            _parse(pftryon if module == "bench.cli" else speed, module, rest)
    else:
        assert program == "pftryon", f"unexpected command {argv[0]!r} in the docs"
        _parse(pftryon, program, args)
        if shlex.join(argv).startswith(RUN):
            result = CliRunner().invoke(pftryon, args)
            assert result.exit_code == 0, f"{shlex.join(argv)}: {result.output}"


@pytest.fixture(scope="module")
def official_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with PF-AFN's two released file names, holding deterministic weights in the official format."""
    from pftryon import PFAFN
    from pftryon.models import init_deterministic_

    folder = tmp_path_factory.mktemp("official")
    model = PFAFN()
    init_deterministic_(model)
    torch.save(model.warp.state_dict(), folder / "warp_model_final.pth")
    torch.save(model.gen.state_dict(), folder / "gen_model_final.pth")
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("code", PYTHON)
def test_python_snippet(code: str, official_files: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(official_files)
    exec(compile(code, "<snippet>", "exec"), {"__name__": "__snippet__"})


def test_every_page_has_been_collected() -> None:
    assert SHELL and PYTHON
    assert (ROOT / "README.md").read_text().count("\n") <= 150, "the README is for users: keep it short"
