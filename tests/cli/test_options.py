"""The options are declared once, in `cli_options.toml`: the commands are built from it, and the
documents that list the options are written from it, so they cannot say something else."""

from __future__ import annotations

import types
import typing
from enum import Enum
from pathlib import Path
from typing import Any

from uec_booking import cli_options
from uec_booking.asgi_server import RequestTimeouts
from uec_booking.cli import command

ROOT = Path(__file__).resolve().parents[2]
REWRITE = "run `python -m uec_booking.cli_options` from the repository's root"


def test_docs_cli_md_is_written_from_the_declarations() -> None:
    written = (ROOT / "docs" / "CLI.md").read_text(encoding="utf-8")
    assert written == cli_options.markdown(), (
        f"docs/CLI.md differs from cli_options.toml: {REWRITE}"
    )


def test_the_readme_table_is_written_from_the_declarations() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme == cli_options.with_environment(readme), f"the README differs: {REWRITE}"


def _leaves(group: Any, path: tuple[str, ...] = ()) -> set[str]:
    if not hasattr(group, "commands"):
        return {" ".join(path)}
    return set().union(*(_leaves(sub, (*path, name)) for name, sub in group.commands.items()))


def test_every_declared_command_is_a_command_and_every_command_with_options_is_declared() -> None:
    commands = {c for c in _leaves(command()) if command_params(c)}
    declared = set()
    for name in cli_options.DECLARED["command"]:
        first, _, rest = name.rpartition(" ")
        declared |= {f"{first} {word}".strip() for word in rest.split("|")}
    assert declared == commands


def command_params(path: str) -> list[Any]:
    node: Any = command()
    for name in path.split():
        node = node.commands[name]
    return [p for p in node.params if p.name != "help"]


def test_every_shared_declaration_is_used_and_every_key_is_known() -> None:
    used = set()
    for name, options in cli_options.DECLARED["command"].items():
        for option in options:
            cli_options.entry(name, option)  # raises on a key typer is not given
            used.add(options[option].get("use"))
    for shared in cli_options.DECLARED["shared"].values():
        used.add(shared.get("use"))
    assert set(cli_options.DECLARED["shared"]) <= used


def test_the_timeouts_documented_are_the_servers_defaults() -> None:
    shared = cli_options.DECLARED["shared"]
    for name, seconds in (("head", RequestTimeouts.head), ("body", RequestTimeouts.body)):
        declared = shared[f"request_{name}_timeout"]
        assert f"(default {seconds:g})" in declared["help"]
        assert declared["doc"].endswith(f"default {seconds:g}")


def _wanted(hint: Any) -> type:
    """The type a value of `hint` has: `str | None` wants a str, `list[str]` a list."""
    kinds = [k for k in typing.get_args(hint) if k is not type(None)] if _is_union(hint) else [hint]
    assert len(kinds) == 1, hint
    origin = typing.get_origin(kinds[0])
    return typing.cast(type, origin or kinds[0])


def _is_union(hint: Any) -> bool:
    return isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union


def test_every_default_in_the_file_fits_its_handlers_annotation() -> None:
    command()  # imports every command module, so every handler is known
    assert set(cli_options.HANDLERS) == set(cli_options.DECLARED["command"])
    for name, handler in cli_options.HANDLERS.items():
        hints = typing.get_type_hints(handler)
        for option in cli_options.DECLARED["command"][name]:
            default = cli_options.entry(name, option).get("default")
            if default is None:
                continue
            wanted = _wanted(hints[option])
            if issubclass(wanted, Enum | Path):  # typer turns the declared text into one
                wanted(default)
            elif wanted is float:
                assert isinstance(default, int | float), (name, option, default)
            else:
                assert isinstance(default, wanted), (name, option, default, wanted)
