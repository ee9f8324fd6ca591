"""Actors talk to each other only over the wire: no actor's module imports another actor's.

The package's top level is either shared code any actor may use (the FHIR helpers, token
verification, networking and server helpers, the sample data, CLI error sentences) or a
composition root that wires actors together (the `uec-booking` command, the sandbox, the
demo), which nothing inside an actor may import."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "uec_booking"
SHARED = {
    "fhir",
    "tokens",
    "tokens_interim",
    "tls",
    "tls_http",
    "netutil",
    "ldap_search",
    "asgi_server",
    "cli_options",
    "sample_data",
    "cli_errors",
    "reporting",
    "data",
}
# Who may import whom, beyond itself and the shared modules.
ALLOWED: dict[str, set[str]] = {
    "fhir": set(),
    "provider": set(),
    "spine": set(),
    "consumer": set(),
    # The console is the consumer system's front end: it drives the consumer library. Its
    # provider diary reads the provider's store through the provider's own query module, and
    # blocks and frees slots through the provider's own slot management, as its CLI does.
    "console": {"consumer", "provider.diary", "provider.admin", "provider.store.appointments"},
    # The conformance checker is a tester: it talks over the wire, reusing the consumer's
    # token sources; `check consumer` is an assurance sandbox, with an SDS of its own.
    "check": {"consumer", "sandbox", "spine.sds", "spine.sds_ldif"},
}


def imports(module: Path) -> set[str]:
    """Every uec_booking module `module` imports, as a dotted name below the package."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "uec_booking":
                found |= {alias.name for alias in node.names}
            elif node.module.startswith("uec_booking."):
                found.add(node.module.removeprefix("uec_booking."))
        elif isinstance(node, ast.Import):
            found |= {
                a.name.removeprefix("uec_booking.")
                for a in node.names
                if a.name.startswith("uec_booking.")
            }
    return found


def allowed(actor: str, target: str) -> bool:
    top = target.split(".")[0]
    if top in (actor, "__version__") or top in SHARED:
        return True
    return any(target == a or target.startswith(a + ".") or top == a for a in ALLOWED[actor])


ACTORS = [a for a in ALLOWED if (PACKAGE / a).is_dir()]


@pytest.mark.parametrize("actor", ACTORS)
def test_an_actor_imports_no_other_actor(actor: str) -> None:
    wrong = [
        f"{module.relative_to(PACKAGE)} imports uec_booking.{target}"
        for module in sorted((PACKAGE / actor).rglob("*.py"))
        for target in sorted(imports(module))
        if not allowed(actor, target)
    ]
    assert not wrong, "\n".join(wrong)


def test_shared_modules_import_no_actor() -> None:
    wrong = []
    for name in SHARED - {"fhir", "data"}:
        module = PACKAGE / f"{name}.py"
        for target in imports(module):
            top = target.split(".")[0]
            # cli_errors names the consumer's error base lazily, to say its message.
            if (
                top in ALLOWED
                and top != "fhir"
                and not (name == "cli_errors" and target == "consumer.errors")
            ):
                wrong.append(f"{name}.py imports uec_booking.{target}")
    assert not wrong, "\n".join(wrong)


def test_the_walk_finds_imports() -> None:
    # The walk must see real imports, or the tests above would pass on nothing.
    assert "fhir.errors" in imports(PACKAGE / "provider" / "booking.py")
