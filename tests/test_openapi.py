"""The OpenAPI document: valid, complete, and fuzzed with schemathesis against a real server (no 5xx)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from openapi_spec_validator import validate

from cti.app import all_routes
from tests.harness import Harness
from tests.processes import SHOP_CHAT_TOML, ServerProcess

API_MD_ROUTES = [
    ("get", "/healthz"), ("get", "/readyz"),
    ("post", "/api/v1/agents"), ("get", "/api/v1/agents"), ("get", "/api/v1/agents/{id}"),
    ("patch", "/api/v1/agents/{id}"), ("delete", "/api/v1/agents/{id}"), ("put", "/api/v1/agents/{id}/state"),
    ("get", "/api/v1/contacts"), ("get", "/api/v1/contacts/{id}"), ("post", "/api/v1/contacts/{id}/identities"),
    ("get", "/api/v1/cases"), ("get", "/api/v1/cases/{id}"), ("patch", "/api/v1/cases/{id}"),
    ("get", "/api/v1/cases/{id}/timeline"), ("get", "/api/v1/interactions"), ("post", "/api/v1/interactions"),
    ("post", "/api/v1/inbound"), ("get", "/api/v1/interactions/{id}"),
    *[("post", f"/api/v1/interactions/{{id}}/{verb}") for verb in
      ("accept", "reject", "hold", "resume", "transfer", "messages", "dtmf", "end", "wrapup")],
    ("get", "/api/v1/queues"), ("put", "/api/v1/routing"), ("get", "/api/v1/stats/realtime"),
    ("get", "/api/v1/reports/summary"), ("get", "/api/v1/events"), ("get", "/api/v1/events/stream"),
    ("post", "/api/v1/webhooks"), ("get", "/api/v1/webhooks"), ("delete", "/api/v1/webhooks/{id}"),
    ("post", "/api/v1/tokens"), ("get", "/api/v1/openapi.json"),
]


async def test_served_document_is_valid_and_describes_every_route(harness: Harness) -> None:
    doc = await harness.admin.openapi()
    validate(doc)
    for method, path in API_MD_ROUTES:
        assert method in doc["paths"].get(path, {}), f"{method.upper()} {path} missing from the document"
    for spec in all_routes().routes:
        assert spec.method.lower() in doc["paths"][spec.path], spec.path
        operation = doc["paths"][spec.path][spec.method.lower()]
        assert operation["summary"]
        for name in re.findall(r"{(\w+)}", spec.path):
            assert any(p["name"] == name and p["in"] == "path" for p in operation["parameters"])


def test_schemathesis_finds_no_server_error(tmp_path: Path) -> None:
    """Generated requests (valid and invalid) against every route: never a 5xx.

    One worker: with two, hypothesis's lambda descriptions call ast.parse from two threads at once,
    which CPython 3.11.7 can fail with "AST constructor recursion depth mismatch" (a tool crash)."""
    server = ServerProcess(tmp_path, config_text=SHOP_CHAT_TOML)
    token = server.cli("token", "create", "--role", "admin")
    server.cli("agent", "add", "Fuzz", "--id", "fuzz", "--state", "available")
    st = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or "schemathesis"
    with server:
        result = subprocess.run(
            [st, "run", server.url + "/api/v1/openapi.json", "-H", f"Authorization: Bearer {token}",
             "--checks", "not_a_server_error", "--exclude-path-regex", "/events", "--phases",
             "examples,coverage,fuzzing", "-n", "12", "--max-time", "50", "--seed", "1",
             "--suppress-health-check", "all"],
            capture_output=True, text=True, timeout=400)
    log = server.log.read_text()
    assert "unhandled error" not in log, log[-4000:]
    assert result.returncode == 0, result.stdout[-6000:]


async def test_every_body_has_an_example_the_server_accepts_and_events_are_typed(harness: Harness) -> None:
    from pydantic import BaseModel

    from cti.api import examples
    from cti.events import EventType

    doc = await harness.admin.openapi()
    assert doc["servers"] and doc["servers"][0]["url"].startswith("http")
    for spec in all_routes().routes:
        if spec.body is None:
            continue
        media = doc["paths"][spec.path][spec.method.lower()]["requestBody"]["content"]["application/json"]
        assert "example" in media, f"{spec.method} {spec.path} has no request example"
        assert issubclass(spec.body, BaseModel)
        spec.body.model_validate(media["example"])  # the example is a body the server takes
    schemas = doc["components"]["schemas"]
    for event_type in EventType:
        data = schemas[f"Event.{event_type.value}"]["properties"]["data"]
        assert data["type"] == "object" and data["properties"], event_type
    stream = doc["paths"]["/api/v1/events/stream"]["get"]["responses"]["200"]["content"]["text/event-stream"]
    assert stream["schema"] == {"$ref": "#/components/schemas/Event"}
    assert schemas["Event"]["examples"] and schemas["InteractionOut"]["examples"] == [examples.RESPONSES[
        "InteractionOut"]]
    metrics = doc["paths"]["/metrics"]["get"]
    assert metrics["security"] == [{"bearer": []}] and "401" in metrics["responses"]


async def test_live_events_match_their_documented_payloads(harness: Harness) -> None:
    """Real events of a conversation validate against the Event schema of the document."""
    import jsonschema

    doc = await harness.admin.openapi()
    alice = await harness.agent("alice")
    stored = await harness.admin.inbound(channel="shop-chat", sender=("email", "ev@example.com"), text="hello",
                                         external_id="ev-1")
    await harness.interaction_in_state(stored["interaction_id"], "offered")
    await alice.accept(stored["interaction_id"])
    await alice.reply(stored["interaction_id"], "hi!")
    timeline = await harness.admin.timeline(stored["case_id"])
    registry = {"components": doc["components"]}
    seen = set()
    for entry in timeline["entries"]:
        schema = {"$ref": f"#/components/schemas/Event.{entry['type']}", **registry}
        jsonschema.validate(entry, schema)
        seen.add(entry["type"].split(".")[0])
    assert {"case", "interaction", "message"} <= seen
