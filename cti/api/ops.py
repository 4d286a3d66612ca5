"""Operations: liveness, readiness, Prometheus metrics and the OpenAPI document."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from cti.api.context import services
from cti.api.framework import Api, Call, json_response
from cti.services.actors import Role

api = Api()
HEALTHY = {"connected"}


@api.route("GET", "/healthz", summary="Liveness", tag="operations", role=None,
           response={"type": "object", "properties": {"status": {"type": "string"}}})
async def healthz(call: Call) -> dict[str, Any]:
    return {"status": "ok", "node": services(call.request).node_id}


@api.route("GET", "/readyz", summary="Readiness with each connector's health (a connector that is down makes the "
           "status 'degraded', not 503: the API still takes requests and queues replies)", tag="operations", role=None,
           raw=True, response={"type": "object"}, errors=(503,))
async def readyz(call: Call) -> web.Response:
    svc = services(call.request)
    checks: dict[str, Any] = {"database": "ok"}
    ready = not svc.draining
    try:
        await svc.db.read(lambda c: c.exec_driver_sql("SELECT 1").scalar())
    except Exception as exc:  # readiness must answer, whatever broke
        checks["database"] = f"error: {type(exc).__name__}"
        ready = False
    connectors = dict(svc.connector_health)
    degraded = any(state not in HEALTHY for state in connectors.values())
    leases = sorted(r.name for r in svc.leases if r.held)
    status = "not_ready" if not ready else "degraded" if degraded else "ready"
    body = {"status": status, "draining": svc.draining, "checks": checks,
            "connectors": connectors, "node": svc.node_id, "leases": leases}
    return json_response(body, status=200 if ready else 503)


@api.route("GET", "/metrics", summary="Prometheus metrics (a supervisor or admin token: Prometheus's "
           "authorization.credentials)", tag="operations", role=Role.SUPERVISOR, raw=True,
           response={"type": "string", "example": "cti_http_requests_total{method=\"GET\",route=\"/healthz\","
                     "status=\"200\"} 3.0"}, errors=(401, 403))
async def metrics(call: Call) -> web.Response:
    svc = services(call.request)
    svc.metrics.write_batches.set(svc.db.batches)
    svc.metrics.write_ops.set(svc.db.ops)
    svc.metrics.events_delivered.set(svc.bus.delivered)
    svc.metrics.interaction_reads.labels("kept").set(svc.rendered_interactions.hits)
    svc.metrics.interaction_reads.labels("read").set(svc.rendered_interactions.misses)
    for name, state in svc.connector_health.items():
        svc.metrics.connector_up.labels(name).set(1 if state in HEALTHY else 0)
    return web.Response(body=svc.metrics.render(), content_type="text/plain", charset="utf-8",
                        headers={"X-Content-Type-Options": "nosniff"})


@api.route("GET", "/api/v1/openapi.json", summary="This document", tag="operations", role=None,
           response={"type": "object"})
async def openapi(call: Call) -> dict[str, Any]:
    return services(call.request).openapi
