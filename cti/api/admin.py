"""Administration: API tokens, outbound webhooks, queues and the routing policy."""

from __future__ import annotations

import secrets
from typing import Any

import sqlalchemy as sa

from cti import models
from cti.api import schemas as s
from cti.api.context import services
from cti.api.framework import Api, Call
from cti.api.queries import get_row
from cti.errors import InvalidInput
from cti.ids import new_id
from cti.routing.live_policy import store_policy
from cti.routing.policy import RoutingPolicy
from cti.services import render
from cti.services.actors import Role
from cti.services.rows import Record
from cti.services.tokens import create_token, revoke_token
from cti.state import State
from cti.targets import TargetPolicy

api = Api()


@api.route("POST", "/api/v1/tokens", summary="Create an API token (the secret is shown once)", tag="admin",
           role=Role.ADMIN, body=s.TokenCreate, response=s.TokenOut, status=201, errors=(400,))
async def post_token(call: Call) -> dict[str, Any]:
    b = call.body
    row, secret = await services(call.request).db.write(
        lambda tx: create_token(tx, role=b.role, agent_id=b.agent_id, name=b.name, expires_in=b.expires_in))
    return {**render.token(row), "token": secret}


@api.route("GET", "/api/v1/tokens", summary="List API tokens", tag="admin", role=Role.ADMIN,
           response=s.list_of(s.TokenOut))
async def list_tokens(call: Call) -> dict[str, Any]:
    rows = await services(call.request).db.read(
        lambda c: c.execute(sa.select(models.api_tokens).order_by(models.api_tokens.c.id)).all())
    return {"items": [render.token(r) for r in rows], "next": None}


@api.route("DELETE", "/api/v1/tokens/{id}", summary="Revoke an API token", tag="admin", role=Role.ADMIN,
           status=204, errors=(404,))
async def delete_token(call: Call) -> None:
    svc, token_id = services(call.request), call.path("id")
    await svc.db.write(lambda tx: revoke_token(tx, token_id))
    svc.tokens.forget()


@api.route("POST", "/api/v1/webhooks", summary="Subscribe a URL to events (signed, retried)", tag="admin",
           role=Role.ADMIN, body=s.WebhookCreate, response=s.WebhookOut, status=201, errors=(400,))
async def post_webhook(call: Call) -> dict[str, Any]:
    b, svc = call.body, services(call.request)
    refused = await TargetPolicy(svc.config.webhooks.allow_private_targets).refusal(b.url)
    if refused is not None:
        raise InvalidInput(f"the server will not send to this URL: {refused}", code="url_not_allowed",
                           details={"url": refused})
    secret = b.secret or secrets.token_urlsafe(32)

    def op(tx: Any) -> Record:
        row = Record(id=new_id("whk"), url=b.url, secret=secret, types=b.types, created_at=tx.now, deleted=False)
        tx.conn.execute(models.webhooks.insert(), row)
        return row

    row = await svc.db.write(op)
    return {**render.webhook(row), "secret": secret}


@api.route("GET", "/api/v1/webhooks", summary="List webhook subscriptions", tag="admin", role=Role.ADMIN,
           response=s.list_of(s.WebhookOut))
async def list_webhooks(call: Call) -> dict[str, Any]:
    rows = await services(call.request).db.read(lambda c: c.execute(
        sa.select(models.webhooks).where(models.webhooks.c.deleted.is_(False)).order_by(models.webhooks.c.id)).all())
    return {"items": [render.webhook(r) for r in rows], "next": None}


@api.route("DELETE", "/api/v1/webhooks/{id}", summary="Remove a webhook subscription", tag="admin",
           role=Role.ADMIN, status=204, errors=(404,))
async def delete_webhook(call: Call) -> None:
    webhook_id = call.path("id")

    def op(tx: Any) -> None:
        get_row(tx.conn, models.webhooks, webhook_id, "webhook")
        tx.conn.execute(models.webhooks.update().where(models.webhooks.c.id == webhook_id).values(deleted=True))
        OUTBOX = models.outbox  # what still waits for the deleted subscription goes nowhere
        tx.conn.execute(
            OUTBOX.update()
            .where(OUTBOX.c.kind == "webhook", OUTBOX.c.target == webhook_id, OUTBOX.c.state == "pending")
            .values(state="failed", done_at=tx.now, last_error="the subscription was deleted")
        )

    await services(call.request).db.write(op)


@api.route("GET", "/api/v1/queues", summary="Queues with what waits in them", tag="routing", role=Role.AGENT,
           response={"type": "object", "required": ["items"], "properties": {"items": {"type": "array"}}})
async def list_queues(call: Call) -> dict[str, Any]:
    policy = services(call.request).policies.current
    INTERACTIONS = models.interactions

    def read(conn: Any) -> dict[str, tuple[int, float | None]]:
        rows = conn.execute(sa.select(INTERACTIONS.c.queue, sa.func.count(), sa.func.min(INTERACTIONS.c.queued_at))
                            .where(INTERACTIONS.c.state == State.QUEUED.value).group_by(INTERACTIONS.c.queue)).all()
        return {r[0]: (r[1], r[2]) for r in rows}

    waiting = await services(call.request).db.read(read)
    return {"items": [{"name": q.name, "channels": q.channels, "skills": q.skills, "priority": q.priority,
                       "waiting": waiting.get(q.name, (0, None))[0]} for q in policy.queues]}


@api.route("GET", "/api/v1/routing", summary="The routing policy in force", tag="routing", role=Role.SUPERVISOR,
           response={"type": "object"})
async def get_routing(call: Call) -> dict[str, Any]:
    return services(call.request).policies.current.model_dump(mode="json")


@api.route("PUT", "/api/v1/routing", summary="Replace the routing policy (validated, then applied on every node)",
           tag="routing", role=Role.ADMIN, body=RoutingPolicy, response={"type": "object"}, errors=(400,))
async def put_routing(call: Call) -> dict[str, Any]:
    svc, policy = services(call.request), call.body
    await svc.db.write(lambda tx: store_policy(tx, policy))
    return svc.policies.current.model_dump(mode="json")
