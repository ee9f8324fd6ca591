"""Ordinary mistakes at the command line end in one sentence and a non-zero exit, not a
traceback: a broken config file, a missing setting, a bad database URL, a database that is
down or missing, a file that is not there. `--debug` (or `UEC_DEBUG=1`) shows the traceback.

`UserError` is what our own code raises when it knows what the user got wrong; `explain`
turns the other libraries' errors that reach the command line into the same kind of sentence.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable

import pydantic
import sqlalchemy.exc


class UserError(Exception):
    """Something the person at the command line can put right; the message says what."""


EXIT_USER_ERROR = 2


def _validation(exc: pydantic.ValidationError) -> str:
    problems = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"]) or "value"
        if error["type"] == "missing":
            problems.append(f"{field} is missing (config key {field} or UEC_{field.upper()})")
        else:
            problems.append(f"{field}: {error['msg']} (got {error.get('input')!r})")
    return "the configuration is not valid: " + "; ".join(problems)


def _database(exc: sqlalchemy.exc.SQLAlchemyError) -> str:
    cause = exc.orig if isinstance(exc, sqlalchemy.exc.DBAPIError) else exc
    text = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    if "does not exist" in text and "database" in text:
        return (
            f"the database does not exist ({text}); create it first, e.g. "
            "`createdb -h HOST -U USER NAME`"
        )
    if isinstance(exc, sqlalchemy.exc.ArgumentError):
        return f"the database URL is not valid: {text} (expected sqlite:///FILE or postgresql://USER@HOST/DB)"
    return f"the database cannot be used: {text}"


def _os_error(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError) and exc.filename:
        return f"{exc.filename}: no such file or directory"
    if isinstance(exc, ConnectionRefusedError | ConnectionError):
        return f"a service refused the connection: {exc.strerror or exc}"
    return f"{exc.strerror or exc}{f': {exc.filename}' if exc.filename else ''}"


EXPLAINERS: list[tuple[type[BaseException], Callable[[BaseException], str]]] = [
    (UserError, str),
    (tomllib.TOMLDecodeError, lambda e: f"the config file is not valid TOML: {e}"),
    (json.JSONDecodeError, lambda e: f"the file is not valid JSON: {e}"),
    (pydantic.ValidationError, lambda e: _validation(e)),  # type: ignore[arg-type]
    (sqlalchemy.exc.SQLAlchemyError, lambda e: _database(e)),  # type: ignore[arg-type]
    (OSError, lambda e: _os_error(e)),  # type: ignore[arg-type]
]


def explain(exc: BaseException) -> str | None:
    """One sentence for an error a user can put right, or None for a bug."""
    for kind, sentence in EXPLAINERS:
        if isinstance(exc, kind):
            return sentence(exc)
    from uec_booking.consumer.errors import ConsumerError
    from uec_booking.fhir.errors import FhirError, ServerError

    if isinstance(exc, ConsumerError):
        return str(exc)
    if isinstance(exc, FhirError) and not isinstance(exc, ServerError):
        return exc.diagnostics  # e.g. an import Bundle the provider's rules refuse
    return None
