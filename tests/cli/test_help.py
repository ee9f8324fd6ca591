"""Every command's help as a newcomer reads it: each option says what it is for, and names its
value (`--db URL`), never a bare type such as `<str>` or `<bool>`."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from uec_booking.cli import command

COMMAND = command()
ROOT = Path(__file__).resolve().parents[2]


def _commands(group: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if hasattr(group, "commands"):
        found: list[tuple[str, ...]] = []
        for name, sub in group.commands.items():
            found += _commands(sub, (*path, name))
        return found
    return [path]


def _command(path: tuple[str, ...]) -> Any:
    command: Any = COMMAND
    for name in path:
        command = command.commands[name]
    return command


ALL = _commands(COMMAND)


def test_there_are_commands_to_check() -> None:
    assert ("book",) in ALL and ("serve", "provider") in ALL and len(ALL) >= 15


@pytest.mark.parametrize("path", ALL, ids=[" ".join(p) for p in ALL])
def test_every_option_has_help_and_a_named_value(path: tuple[str, ...]) -> None:
    command = _command(path)
    assert command.help, f"{' '.join(path)} has no description"
    for param in command.params:
        if param.param_type_name != "option" or param.name == "help":
            continue
        assert param.help, f"{' '.join(path)} {param.opts[0]} has no help text"
    with command.make_context(" ".join(path), ["--help"], resilient_parsing=True) as ctx:
        text = command.get_help(ctx)
    for document in re.findall(r"[\w./-]+\.md\b", text):
        assert (ROOT / document).is_file(), f"{' '.join(path)} cites {document}, not in the repo"
    options = "\n".join(line for line in text.splitlines() if line.lstrip().startswith("-"))
    # A type's name in angle brackets (`<int range>`, `<datetime>`, `<list[str]>`, `<dir>`)
    # says nothing a newcomer can use; a list of choices (`<json|xml>`) does.
    bare = re.findall(r"<([^>|]+)>", options)
    assert not bare, f"{' '.join(path)} help shows bare metavars {bare}:\n{text}"


def test_version_flag() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "uec_booking", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0 and re.fullmatch(r"uec-booking \d+\.\d+\.\d+\n", done.stdout)
