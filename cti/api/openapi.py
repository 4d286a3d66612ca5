"""The OpenAPI 3.1 document, generated from the route declarations and their pydantic models."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from cti.api import examples, schemas
from cti.api.event_docs import event_schemas
from cti.api.framework import RouteSpec

ERROR_TEXT = {400: "invalid input", 401: "missing or bad token", 403: "not allowed", 404: "not found",
              409: "refused by the state machine", 422: "well-formed but not allowed", 429: "rate limited",
              503: "a connector is down"}


class _Components:
    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {}

    def ref(self, model: type[BaseModel], mode: str = "validation") -> dict[str, Any]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}", mode=mode)  # type: ignore[arg-type]
        for name, sub in schema.pop("$defs", {}).items():
            self.schemas.setdefault(name, sub)
        self.schemas.setdefault(model.__name__, schema)
        return {"$ref": f"#/components/schemas/{model.__name__}"}


def _query_parameters(model: type[BaseModel], components: _Components) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}", by_alias=True)
    for name, sub in schema.pop("$defs", {}).items():
        components.schemas.setdefault(name, sub)
    required = set(schema.get("required", []))
    return [{"name": name, "in": "query", "required": name in required, "schema": prop}
            for name, prop in schema.get("properties", {}).items()]


def build_openapi(routes: list[RouteSpec], *, version: str, server_url: str = "") -> dict[str, Any]:
    """The whole document."""
    components = _Components()
    components.schemas.update(event_schemas())
    components.ref(schemas.ErrorOut)
    for model in (schemas.CaseOut, schemas.InteractionOut, schemas.EventOut, schemas.MessageOut,
                  schemas.AgentOut, schemas.ContactOut, schemas.IdentityOut, schemas.TokenOut, schemas.WebhookOut):
        components.ref(model, "serialization")
    paths: dict[str, dict[str, Any]] = {}
    for spec in routes:
        operation: dict[str, Any] = {
            "operationId": spec.handler.__name__,
            "summary": spec.summary,
            "tags": [spec.tag],
            "responses": {},
        }
        params = [{"name": name, "in": "path", "required": True, "schema": {"type": "string", "maxLength": 100}}
                  for name in re.findall(r"{(\w+)}", spec.path)]
        if spec.query is not None:
            params += _query_parameters(spec.query, components)
        if params:
            operation["parameters"] = params
        if spec.body is not None:
            media: dict[str, Any] = {"schema": components.ref(spec.body)}
            if spec.body.__name__ in examples.REQUESTS:
                media["example"] = examples.REQUESTS[spec.body.__name__]
            operation["requestBody"] = {"required": True, "content": {"application/json": media}}
        operation["responses"][str(spec.status)] = _success(spec, components)
        if spec.role is not None:
            operation["security"] = [{"bearer": []}]
            operation["x-cti-role"] = spec.role.value  # the least role that may call it (docs/api.md)
            codes = {400, 401, 403, *spec.errors} if (spec.body or spec.query) else {401, 403, *spec.errors}
        else:
            operation["security"] = []
            codes = set(spec.errors)
        for code in sorted(codes):
            operation["responses"][str(code)] = {"description": ERROR_TEXT.get(code, "error"), "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}}
        paths.setdefault(spec.path, {})[spec.method.lower()] = operation
    for name, example in examples.RESPONSES.items():  # the main answers, shown with an example
        if name in components.schemas and "oneOf" not in components.schemas[name]:
            components.schemas[name] = {**components.schemas[name], "examples": [example]}
    components.schemas["Event"] = {**components.schemas["Event"], "examples": [examples.RESPONSES["Event"]]}
    return {
        "openapi": "3.1.0",
        "info": {"title": "CTI and channel-pivot server", "version": version,
                 "description": "The unified CTI API, version 1: REST verbs that mean the same on every channel, "
                                "and a resumable event stream (docs/api.md)."},
        "servers": [{"url": server_url or "/", "description": "this server"}],
        "paths": paths,
        "components": {"schemas": components.schemas,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }


def _success(spec: RouteSpec, components: _Components) -> dict[str, Any]:
    if spec.status == 204:
        return {"description": "done"}
    if isinstance(spec.response, type) and issubclass(spec.response, BaseModel):
        schema = components.ref(spec.response, "serialization")
    else:
        schema = spec.response or {"type": "object"}
    if spec.raw and spec.path.endswith("/stream"):
        return {"description": "Server-Sent Events: `id: <seq>`, `event: <type>`, `data: <Event as JSON>`",
                "content": {"text/event-stream": {"schema": {"$ref": "#/components/schemas/Event"}}}}
    if spec.status == 101 and spec.path.startswith("/api/v1/events"):
        return {"description": "switching to the WebSocket protocol; each text message is one Event as JSON",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Event"}}}}
    if spec.raw and (spec.path.startswith("/p/") or spec.tag == "pages"):
        return {"description": "an HTML page", "content": {"text/html": {"schema": {"type": "string"}}}}
    if spec.status == 101:
        return {"description": "switching to the WebSocket protocol"}
    if spec.raw:
        return {"description": "ok", "content": {"text/plain": {"schema": schema}}}
    return {"description": "ok", "content": {"application/json": {"schema": schema}}}
