"""The ``Core`` as a connector sees it (``CoreGateway``): ingest (with social listening on public
networks), cursors, health, chat states, and the voice operations a telephony connector reports.
Every method is one write op or read; the gateway holds no state of its own, so one can be made
on any node (the webhook routes make one per request)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Literal, TypeVar, cast, get_args

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from connectors.base import (
    CallEvent,
    CallUpdate,
    CallUpdateKind,
    DeliveryUpdate,
    Health,
    InboundMessage,
    Received,
)
from cti import models
from cti.bus import EventBus, EventFilter, Subscription
from cti.channels import ChannelInfo
from cti.errors import InvalidInput
from cti.event_payloads import ChatState
from cti.events import Event, EventType
from cti.hooks import CallHooks, MessageHooks
from cti.routing.live_policy import PolicyHolder
from cti.routing.policy import RoutingPolicy
from cti.services import calls, outbound, parties, recordings
from cti.services.identities import normalize_identity
from cti.services.inbound import InboundItem, ingest
from cti.social.screen import screen
from cti.social.settings import SocialConfig
from cti.storage.db import Database, Tx

SETTINGS, INTERACTIONS, IDENTITIES = models.settings, models.interactions, models.identities
UPDATE_TRIES = 8  # a status that overtook the record of its send: looked for again, 0.25 s apart


def _cursor_key(name: str) -> str:
    return f"connector.{name}.cursor"


def _save_setting(tx: Tx, key: str, value: Any) -> None:
    if (
        tx.conn.execute(
            sa.update(SETTINGS).where(SETTINGS.c.key == key).values(value=value, updated_at=tx.now)
        ).rowcount
        == 0
    ):
        tx.conn.execute(SETTINGS.insert().values(key=key, value=value, updated_at=tx.now))


T = TypeVar("T")
NOT_ROUTED = Received("", "", "", created=False)  # kept as an unrouted or noise mention (cti/social)


CHAT_STATES = frozenset(get_args(ChatState))
CALL_UPDATE_TYPES = [kind.value for kind in CallUpdateKind]


class CallUpdateFeed:
    """The catalogue's events about calls, as the ``CallUpdate``s a telephony connector follows."""

    def __init__(self, subscription: Subscription) -> None:
        self.subscription = subscription

    async def __aiter__(self) -> AsyncIterator[CallUpdate]:
        async for event in self.subscription:
            yield CallUpdate(CallUpdateKind(event.type.value), event.interaction_id or "", event.agent_id,
                             event.data or {})

    def close(self) -> None:
        """Stop following."""
        self.subscription.close()


class CoreGateway:
    """The ``Core`` a connector talks to: ingest, cursor, health, chat states, agent availability."""

    def __init__(self, name: str, db: Database, policies: PolicyHolder, health: dict[str, str],
                 bus: EventBus | None = None, call_hooks: CallHooks = CallHooks(),
                 social: SocialConfig | None = None, message_hooks: MessageHooks = MessageHooks()) -> None:
        self.name, self.db, self.policies, self.health, self.bus = name, db, policies, health, bus
        self.call_hooks = call_hooks  # features that follow call outcomes (pivot's callbacks)
        self.message_hooks = message_hooks  # features that follow customers' messages (pivot's email)
        self.social = social  # a public network's items go through social listening and scoring

    async def receive(self, message: InboundMessage, *, cursor: dict[str, Any] | None = None,
                      acknowledge: bool = False) -> Received:
        item = self._item(message)
        policy, key = self.policies.current, _cursor_key(self.name)
        channel = ChannelInfo(self.name, None, "", item.from_kind, connector=True)

        def op(tx: Tx) -> Received:
            received = self._store(tx, item, policy)
            if cursor is not None:
                _save_setting(tx, key, cursor)
            if acknowledge and received.created and received.case_created:
                outbound.acknowledge(tx, received.interaction_id, channel=channel,
                                     recipient={"kind": item.from_kind, "value": item.from_value})
            return received

        return await self._write_retrying_race(op)

    async def receive_many(self, messages: list[InboundMessage]) -> list[Received]:
        """Store a webhook's messages in one transaction (idempotent on each external_id)."""
        items = [self._item(m) for m in messages]
        policy = self.policies.current

        return await self._write_retrying_race(lambda tx: [self._store(tx, item, policy) for item in items])

    async def _write_retrying_race(self, op: Callable[[Tx], T]) -> T:
        """Run a storing op; once more when another node stored the same message a moment before
        (the unique index refused ours; the retry finds theirs and answers as for a duplicate)."""
        try:
            return await self.db.write(op)
        except IntegrityError:
            return await self.db.write(op)

    def _store(self, tx: Tx, item: InboundItem, policy: RoutingPolicy) -> Received:
        """Screen (public networks) and ingest one item; what the core did with it."""
        screened = screen(tx, item, self.social) if self.social is not None else item
        if screened is None:
            return NOT_ROUTED
        result = ingest(tx, screened, policy)
        if result.created:
            self.message_hooks.message_received(tx, result.interaction_id)
        return Received(result.message["id"], result.interaction_id, result.case_id, result.created,
                        result.case_created)

    def _item(self, message: InboundMessage) -> InboundItem:
        """The core's item for a connector's message (a sender that is not a valid address is kept as given)."""
        kind, value = message.sender_kind, message.sender.strip()
        metadata = dict(message.metadata)
        try:
            kind, value = normalize_identity(kind, value, field="from")
        except InvalidInput:
            metadata["unverified_sender"] = True
        return InboundItem(
            channel=self.name, from_kind=kind, from_value=value, text=message.text,
            external_id=message.external_id, thread_id=message.thread_id, subject=message.subject,
            name=message.name, metadata=metadata or None, references=message.references,
            case_hint=message.case_hint, attachments=[a.as_dict() for a in message.attachments] or None)

    async def delivery_update(self, update: DeliveryUpdate) -> bool:
        """A network's status for a message we sent. A status can overtake the record of the send
        itself (the network answers the send, then the webhook arrives before our write of its id):
        a recent one is looked for again for up to two seconds, then dropped."""
        for attempt in range(UPDATE_TRIES):
            if await self.db.write(lambda tx: outbound.record_delivery(tx, self.name, update.external_id,
                                                                       update.status, update.error)):
                return True
            known = await self.db.read(lambda c: c.execute(sa.select(models.messages.c.id).where(
                models.messages.c.channel == self.name, models.messages.c.external_id == update.external_id)
            ).first())
            recent = update.at is None or time.time() - update.at < 120
            if known is not None or not recent or attempt == UPDATE_TRIES - 1:
                return False
            await asyncio.sleep(0.25)
        return False

    async def call_event(self, event: CallEvent) -> str | None:
        """A provider's call progress (cti/services/calls.py does the state changes); the interaction id."""
        if event.kind == "incoming":
            return await self.start_call("phone" if event.caller.startswith("+") else "sip", event.caller,
                                         event.call_id, name=event.name)
        interaction_id = event.interaction_id or await self.db.read(
            lambda c: calls.interaction_of_call(c, event.call_id))
        if interaction_id is None:
            return None
        if event.kind == "answered":
            await self.call_answered(interaction_id, event.call_id, leg=event.leg, agent_id=event.agent_id)
        elif event.kind == "agent_missed" and event.agent_id:
            await self.agent_missed(interaction_id, event.agent_id)
        elif event.kind == "ended":
            EVENTS = models.events
            already = await self.db.read(
                lambda c: c.execute(
                    sa.select(EVENTS.c.seq)
                    .where(EVENTS.c.interaction_id == interaction_id, EVENTS.c.type == EventType.CALL_ENDED.value)
                    .limit(1)
                ).first()
            )
            if already is not None:
                return interaction_id  # (a provider reports the end of each leg: the first one counts)
            started = time.time() - (event.duration or 0.0)
            await self.call_ended(interaction_id, event.call_id, by=event.leg, started_at=started,
                                  outcome=event.outcome)
        return interaction_id

    async def load_cursor(self) -> dict[str, Any]:
        key = _cursor_key(self.name)
        value = await self.db.read(
            lambda c: c.execute(sa.select(SETTINGS.c.value).where(SETTINGS.c.key == key)).scalar()
        )
        return dict(value) if value else {}

    async def save_cursor(self, cursor: dict[str, Any]) -> None:
        key = _cursor_key(self.name)
        await self.db.write(lambda tx: _save_setting(tx, key, cursor))

    async def set_health(self, health: Health, detail: str = "") -> None:
        self.health[self.name] = health.value
        event = Event.make(EventType.CONNECTOR_HEALTH,
                           data={"connector": self.name, "health": health.value, "detail": detail})
        await self.db.write(lambda tx: tx.emit(event))

    async def chat_state(self, sender_kind: str, sender: str, state: str) -> None:
        channel = self.name

        def live_interaction(conn: Any) -> Any:
            return conn.execute(
                sa.select(INTERACTIONS.c.id, INTERACTIONS.c.case_id, INTERACTIONS.c.agent_id, INTERACTIONS.c.queue)
                .join(IDENTITIES, IDENTITIES.c.contact_id == INTERACTIONS.c.contact_id)
                .where(
                    IDENTITIES.c.kind == sender_kind,
                    IDENTITIES.c.value == sender,
                    INTERACTIONS.c.channel == channel,
                    INTERACTIONS.c.state.in_(("queued", "offered", "active", "held")),
                )
                .order_by(INTERACTIONS.c.created_at.desc())
                .limit(1)
            ).first()

        if state not in CHAT_STATES:
            return  # not a state the desktop shows
        row = await self.db.read(live_interaction)
        if row is None:
            return  # nobody is looking at a conversation with this sender
        event = Event.make(EventType.MESSAGE_CHAT_STATE, case_id=row.case_id, interaction_id=row.id,
                           agent_id=row.agent_id, queue=row.queue,
                           data={"state": cast(ChatState, state), "from": {"kind": sender_kind, "value": sender},
                                 "channel": channel})
        await self.db.write(lambda tx: tx.emit(event))

    # ---- voice ----------------------------------------------------------------------------
    async def start_call(self, caller_kind: str, caller: str, call_id: str, name: str | None = None) -> str:
        """An answered inbound call becomes a queued voice interaction; its id."""
        try:
            caller_kind, caller = normalize_identity(caller_kind, caller, field="from")
        except InvalidInput:
            caller_kind, caller = "sip", caller.strip()[:300] or "anonymous"
        policy = self.policies.current
        row = await self.db.write(lambda tx: calls.start_inbound_call(
            tx, caller_kind=caller_kind, caller=caller, call_id=call_id, policy=policy, name=name))
        return str(row["id"])

    async def call_answered(self, interaction_id: str, call_id: str, *, leg: str, agent_id: str | None) -> None:
        hooks = self.call_hooks
        await self.db.write(lambda tx: calls.call_answered(tx, interaction_id, call_id=call_id, leg=leg,
                                                           agent_id=agent_id, hooks=hooks))

    async def agent_missed(self, interaction_id: str, agent_id: str) -> None:
        policy = self.policies.current
        await self.db.write(lambda tx: calls.agent_missed(tx, interaction_id, agent_id=agent_id, policy=policy))

    async def call_dtmf(self, interaction_id: str, call_id: str, digits: str, *, leg: str,
                        direction: Literal["received", "sent"] = "received") -> None:
        await self.db.write(lambda tx: calls.call_dtmf(tx, interaction_id, call_id=call_id, digits=digits, leg=leg,
                                                       direction=direction))

    async def call_hold(self, interaction_id: str, held: bool) -> None:
        policy = self.policies.current
        await self.db.write(lambda tx: calls.call_hold(tx, interaction_id, held=held, policy=policy))

    async def call_transferred_out(self, interaction_id: str, call_id: str, to: str) -> None:
        policy = self.policies.current
        await self.db.write(lambda tx: calls.call_transferred_out(tx, interaction_id, call_id=call_id, to=to,
                                                                  policy=policy))

    async def call_transfer_failed(self, interaction_id: str, call_id: str, to: str, reason: str) -> None:
        await self.db.write(lambda tx: calls.call_event(tx, interaction_id, EventType.CALL_TRANSFER_FAILED,
                                                        {"call_id": call_id, "to": to, "reason": reason}))

    async def call_party(self, interaction_id: str, call_id: str, party_id: str, state: str, *,
                         reason: str | None = None) -> None:
        await self.db.write(lambda tx: parties.party_state(tx, interaction_id, party_id, state, call_id=call_id,
                                                           reason=reason))

    async def call_taken_by_party(self, interaction_id: str, call_id: str, party_id: str) -> None:
        policy = self.policies.current
        await self.db.write(lambda tx: parties.party_took_call(tx, interaction_id, party_id, call_id=call_id,
                                                               policy=policy))

    async def call_recording(self, interaction_id: str, call_id: str, path: str, state: str) -> None:
        await self.db.write(lambda tx: recordings.recording_state(tx, interaction_id, call_id, path, state))

    async def call_recorded(self, interaction_id: str, call_id: str, path: str, seconds: float,
                            paused: list[list[float]] | None = None) -> None:
        await self.db.write(lambda tx: recordings.recorded(tx, interaction_id, call_id, path, seconds, paused))

    async def call_ended(self, interaction_id: str, call_id: str, *, by: str, started_at: float,
                         outcome: str | None = None) -> None:
        policy, hooks = self.policies.current, self.call_hooks
        def ended(tx: Any) -> None:
            calls.call_ended(tx, interaction_id, call_id=call_id, by=by, started_at=started_at, policy=policy,
                             outcome=outcome, hooks=hooks)
            parties.end_all(tx, interaction_id, call_id=call_id)  # nobody stays "in" a call that is over

        await self.db.write(ended)

    async def call_target(self, interaction_id: str) -> tuple[str, str] | None:
        """Whom an outbound voice interaction calls: the contact's phone (else SIP) identity."""
        hooks = self.call_hooks
        return await self.db.read(lambda conn: calls.call_target(conn, interaction_id, hooks))

    async def agent_endpoint(self, agent_id: str) -> str | None:
        return await self.db.read(lambda conn: calls.agent_voice_endpoint(conn, agent_id))

    def call_updates(self) -> CallUpdateFeed:
        """What the core does to voice interactions, live (the connector follows the calls it carries)."""
        assert self.bus is not None
        return CallUpdateFeed(self.bus.subscribe(EventFilter(types=CALL_UPDATE_TYPES)))

    async def agents_available(self) -> int:
        AGENTS = models.agents
        return await self.db.read(lambda c: c.execute(
            sa.select(sa.func.count()).where(AGENTS.c.state == "available", AGENTS.c.deleted.is_(False))).scalar() or 0)
