"""The packages' arrows point one way (docs/README.md draws them).

Every import statement of every module (at the top or inside a function) is read from the
source with ``ast`` and checked against the layer the module belongs to:

- the connector SDK (``connectors/base.py``, ``calls.py``, ``media.py``, ``mixing.py``, ``backoff.py``,
  ``fields.py``, ``webhooks.py``, ``tasks.py``) imports none of our packages but itself;
- the core (``cti``) imports the SDK only, except the composition root (``cti/app.py``,
  ``cti/main.py``, ``cti/cli.py``), which knows every package;
- a connector (``connectors/<network>/``) imports the SDK and its own sub-package, never the core;
- ``softphone_bridge`` imports the core and the SDK; ``pivot`` also ``softphone_bridge``; ``webchat``
  also ``pivot``;
- ``sip_test_env`` (the test environment and the demo) may use anything but the tests.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = ("cti", "connectors", "pivot", "softphone_bridge", "webchat", "sip_test_env", "tests", "bench")
SDK = {"connectors.base", "connectors.calls", "connectors.media", "connectors.backoff", "connectors.fields",
       "connectors.webhooks", "connectors.tasks", "connectors.mixing"}
COMPOSITION_ROOT = {"cti.app", "cti.main", "cti.cli"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import of one of our packages in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found.extend((node.lineno, name) for name in names if name.split(".")[0] in OURS)
    return found


def in_sdk(target: str) -> bool:
    return any(target == m or target.startswith(m + ".") for m in SDK) or target == "connectors"


def allowed(source: str, target: str) -> bool:
    """Whether module ``source`` may import module ``target``."""
    top, target_top = source.split(".")[0], target.split(".")[0]
    if source in SDK:
        return in_sdk(target)
    if source in COMPOSITION_ROOT:
        return target_top not in ("tests", "bench")
    if top == "cti":
        return target_top == "cti" or in_sdk(target)
    if top == "connectors":
        own = ".".join(source.split(".")[:2])
        return in_sdk(target) or target == own or target.startswith(own + ".")
    if top == "softphone_bridge":
        return target_top in ("cti", "softphone_bridge") or in_sdk(target)
    if top == "pivot":
        return target_top in ("cti", "pivot", "softphone_bridge") or in_sdk(target)
    if top == "webchat":
        return target_top in ("cti", "pivot", "softphone_bridge", "webchat") or in_sdk(target)
    if top == "sip_test_env":
        return target_top not in ("tests", "bench")
    return True


def modules() -> list[Path]:
    return sorted(p for package in OURS[:6] for p in (ROOT / package).rglob("*.py"))


def test_every_import_points_the_allowed_way() -> None:
    wrong = [f"{path.relative_to(ROOT)}:{line} imports {target}"
             for path in modules() for line, target in imported(path)
             if not allowed(module_name(path), target)]
    assert not wrong, "imports against the package arrows (docs/README.md):\n" + "\n".join(wrong)


def test_the_walk_sees_every_package() -> None:
    names = {module_name(p) for p in modules()}
    assert {"cti.app", "connectors.base", "connectors.sip.voice", "pivot.callbacks", "softphone_bridge.api",
            "sip_test_env.demo"} <= names


@pytest.mark.parametrize(("source", "target"), [
    ("cti.services.calls", "pivot.callbacks"),  # the core calling a feature by name
    ("cti.config", "pivot.settings"),
    ("cti.api.context", "softphone_bridge.api"),
    ("cti.gateway", "connectors.sip.voice"),  # the core reaching into one connector
    ("connectors.email.channel", "cti.events"),  # a connector reaching into the core
    ("connectors.twilio.channel", "connectors.sip.call"),  # one connector into another
    ("connectors.base", "cti.errors"),  # the SDK depending on the core
    ("pivot.pages", "sip_test_env.phones"),  # a feature depending on the test environment
    ("softphone_bridge.api", "pivot.links"),  # the media bridge depending on pivot
    ("pivot.pages", "webchat.site"),  # pivot knows the chat only by its URL
    ("cti.connector_host", "webchat.visitors"),
])
def test_a_forbidden_import_is_caught(source: str, target: str) -> None:
    assert not allowed(source, target)


@pytest.mark.parametrize(("source", "target"), [
    ("cti.app", "pivot.pages"), ("cti.connector_host", "connectors.base"), ("connectors.sip.voice", "connectors.media"),
    ("pivot.pages", "softphone_bridge.api"), ("sip_test_env.demo", "cti.app"),
])
def test_the_allowed_arrows_pass(source: str, target: str) -> None:
    assert allowed(source, target)
