"""The options of the `uec-booking` commands, declared once, in `cli_options.toml`.

A command's handler is an ordinary typed function whose parameters are its options, with no
defaults in the source. `@options("serve console")` gives each parameter, as its default, the
`typer.Option(...)` (or `typer.Argument(...)`) its entry in the file describes: the form typer
reads in `def f(host: str = typer.Option("127.0.0.1", envvar=...))`, only written in data. Typer
then builds the command as it always has; mypy checks the handler's body against its
annotations. So a flag, an environment variable, a default or a help text is changed in one
place, and docs/CLI.md and the README's table of environment variables are written from the
same place (`python -m uec_booking.cli_options`, run from the repository's root).
"""

from __future__ import annotations

import inspect
import tomllib
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar, cast

import typer

F = TypeVar("F", bound=Callable[..., Any])

DECLARED: dict[str, Any] = tomllib.loads(
    resources.files("uec_booking").joinpath("cli_options.toml").read_text(encoding="utf-8")
)
# The entry keys typer.Option and typer.Argument take as they are.
PASSED_ON = (
    "envvar",
    "help",
    "metavar",
    "min",
    "max",
    "exists",
    "file_okay",
    "dir_okay",
    "formats",
)
# Each declared command's handler, as `options` found it: for the tests that check the
# defaults in the file against the handlers' annotations, which mypy cannot see.
HANDLERS: dict[str, Callable[..., Any]] = {}
KNOWN = {*PASSED_ON, "use", "flags", "default", "required", "computed", "argument", "doc"}


def entry(command: str, name: str) -> dict[str, Any]:
    """The option `name` of `command`, with what it takes from its [shared] entries."""
    found: dict[str, Any] = dict(DECLARED["command"][command][name])
    while "use" in found:
        found = {**DECLARED["shared"][found.pop("use")], **found}
    unknown = set(found) - KNOWN
    if unknown:
        raise KeyError(f"cli_options.toml: {command} {name}: unknown keys {sorted(unknown)}")
    return found


def _parameter(declared: Mapping[str, Any], default: Any) -> Any:
    settings = {key: declared[key] for key in PASSED_ON if key in declared}
    if declared.get("argument"):
        return typer.Argument(default, **settings)
    return typer.Option(default, *declared.get("flags", ()), **settings)


def options(command: str, **computed: object) -> Callable[[F], F]:
    """Give `command`'s handler its options from the file; `computed` are the defaults
    only known at run time (an absolute path, a constant of the handler's package), one for
    each entry marked `computed`."""
    declared = DECLARED["command"][command]

    def attach(handler: F) -> F:
        signature = inspect.signature(handler)
        if list(signature.parameters) != list(declared):
            raise TypeError(
                f"{handler.__qualname__} takes {list(signature.parameters)}, but "
                f"cli_options.toml declares {list(declared)} for {command!r}, in that order"
            )
        parameters = []
        for name, parameter in signature.parameters.items():
            found = entry(command, name)
            if ("computed" in found) != (name in computed):
                raise TypeError(f"{command} {name}: a computed default goes with `computed`")
            default = computed[name] if name in computed else found.get("default")
            if found.get("required"):
                default = ...  # typer's mark of a value that must be given
            parameters.append(parameter.replace(default=_parameter(found, default)))
        # typer reads a handler's parameters through inspect.signature, which honours this.
        cast(Any, handler).__signature__ = signature.replace(parameters=parameters)
        HANDLERS[command] = handler
        return handler

    return attach


def check_tls_pair(cert: Path | None, key: Path | None) -> None:
    """A certificate is served with its key: one without the other is a mistake, not plain."""
    if bool(cert) != bool(key):
        raise typer.BadParameter("--tls-cert and --tls-key go together", param_hint="--tls-cert")


def _flags(name: str, declared: Mapping[str, Any]) -> str:
    if declared.get("argument"):
        return name.upper()
    flag = f"--{name.replace('_', '-')}"
    if isinstance(declared.get("default"), bool):
        flag = f"{flag}/--no-{flag[2:]}"  # what typer makes of an on/off option without flags
    return ", ".join(f"`{flag}`" for flag in declared.get("flags", [flag]))


def _default(declared: Mapping[str, Any]) -> str:
    if declared.get("required"):
        return "required"
    if "computed" in declared:
        return str(declared["computed"])
    value = declared.get("default")
    if value is None or value == []:
        return ""
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"`{value}`"


def _what(declared: Mapping[str, Any]) -> str:
    return str(declared.get("doc", declared.get("help", ""))).replace("|", "\\|")


HEADER = """# Command-line options

Every option of every `uec-booking` command, with its environment variable and default:
written from `src/uec_booking/cli_options.toml` by `python -m uec_booking.cli_options`
(a test fails when this file and that one differ). `uec-booking COMMAND --help` says the same.
`uec-booking --verbose`, `--debug` (`UEC_DEBUG`) and `--version` go before the command.
"""


def markdown() -> str:
    """docs/CLI.md: every command's options, from the file."""
    lines = [HEADER.rstrip("\n")]
    for command, names in DECLARED["command"].items():
        lines += ["", f"## `uec-booking {command}`", ""]
        lines += ["| option | env var | default | what |", "| --- | --- | --- | --- |"]
        for name in names:
            found = entry(command, name)
            envvar = f"`{found['envvar']}`" if "envvar" in found else ""
            lines.append(
                f"| {_flags(name, found)} | {envvar} | {_default(found)} | {_what(found)} |"
            )
    return "\n".join(lines) + "\n"


def environment() -> str:
    """The README's table of the options' environment variables, one row a variable."""
    rows: dict[str, dict[str, Any]] = {}
    for command, names in DECLARED["command"].items():
        for name in names:
            found = entry(command, name)
            if "envvar" in found:
                row = rows.setdefault(
                    found["envvar"],
                    {"flags": {}, "commands": {}, "what": _what(found), "defaults": set()},
                )
                row["flags"][_flags(name, found)] = None  # a dict keeps the order they came in
                row["commands"][f"`{command}`".replace("|", "\\|")] = None
                row["defaults"].add(_default(found))
    lines = ["| variable | flag | commands | meaning | default |", "|---|---|---|---|---|"]
    for envvar, row in rows.items():
        defaults = row["defaults"]
        default = (
            defaults.pop() if len(defaults) == 1 else "per command ([docs/CLI.md](docs/CLI.md))"
        )
        flags, commands = ", ".join(row["flags"]), ", ".join(row["commands"])
        lines.append(f"| `{envvar}` | {flags} | {commands} | {row['what']} | {default} |")
    return "\n".join(lines) + "\n"


BEGIN = "<!-- options: written from src/uec_booking/cli_options.toml by `python -m uec_booking.cli_options`; edit that -->"
END = "<!-- options end -->"


def with_environment(readme: str) -> str:
    """`readme` with the table between its markers written again."""
    before, _, rest = readme.partition(BEGIN + "\n")
    _, _, after = rest.partition(END)
    if not after and not rest.endswith(END):
        raise ValueError(f"the README has no {BEGIN!r} ... {END!r} block")
    return f"{before}{BEGIN}\n{environment()}{END}{after}"


if __name__ == "__main__":
    # Run from the repository's root: it writes the two documents the options appear in.
    docs, readme = Path("docs/CLI.md"), Path("README.md")
    docs.write_text(markdown(), encoding="utf-8")
    readme.write_text(with_environment(readme.read_text(encoding="utf-8")), encoding="utf-8")
