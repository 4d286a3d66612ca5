"""Satisfaction surveys: one per interaction, offered after wrap-up on the customer's own channel
(``[surveys] channels``), answered once on a public page (cti/api/surveys.py).

The link carries a 256-bit token; only its SHA-256 is stored, and the message keeps the link
without it. Opening the page records nothing (link-preview bots open every link first); only the
customer's answer does: the rating (1-5) and a comment, once, with ``survey.answered``. With
``rating_weight`` above 0 each answer moves the agent's routing rating toward it, so the rating
people are routed by is earned from customers rather than typed in.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Any

import sqlalchemy as sa

from cti import models
from cti.channels import ChannelDirectory
from cti.config import SurveyConfig
from cti.errors import Conflict, Gone, InvalidInput, NotFound
from cti.events import Event, EventType
from cti.ids import new_id
from cti.languages import LANGUAGES
from cti.services import render
from cti.services.outbound import notify_customer
from cti.services.rows import Record
from cti.storage.db import Tx
from cti.web import i18n

SURVEYS, INTERACTIONS, AGENTS = models.surveys, models.interactions, models.agents
TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")  # 32 random bytes, URL-safe base64 without padding
HIDDEN = "…"  # what the stored message shows instead of the token


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def offer(tx: Tx, interaction: Record, *, settings: SurveyConfig, channels: ChannelDirectory,
          public_url: str) -> Record | None:
    """After wrap-up: a survey for this interaction on its channel, when that channel has surveys on
    and an agent served it. The invitation goes out as a message from the server; None: no survey."""
    channel = channels.get(interaction["channel"])
    if interaction["channel"] not in settings.channels or channel is None or not channel.sends \
            or interaction["agent_id"] is None or interaction["accepted_at"] is None:
        return None
    if tx.conn.execute(sa.select(SURVEYS.c.id).where(SURVEYS.c.interaction_id == interaction["id"])).first():
        return None
    token = secrets.token_urlsafe(32)
    language = interaction["language"] if interaction["language"] in LANGUAGES else "en"
    row = Record(id=new_id("svy"), token_hash=token_hash(token), interaction_id=interaction["id"],
                 case_id=interaction["case_id"], agent_id=interaction["agent_id"], channel=interaction["channel"],
                 queue=interaction["queue"], interaction_created_at=interaction["created_at"], language=language,
                 created_at=tx.now, expires_at=tx.now + settings.valid_days * 86400, answered_at=None, rating=None,
                 comment=None)
    tx.conn.execute(SURVEYS.insert(), row)
    words = {"company": settings.company_name}
    notify_customer(tx, interaction["id"], channel=channel,
                    text=i18n.text(language, "survey.invitation", url=f"{public_url}/s/{token}", **words),
                    stored_text=i18n.text(language, "survey.invitation", url=f"{public_url}/s/{HIDDEN}", **words))
    return row


def find(conn: Any, token: str, now: float) -> Any:
    """The survey of a token; NotFound for an unknown one, Gone for an expired one."""
    found = conn.execute(sa.select(SURVEYS).where(SURVEYS.c.token_hash == token_hash(token))).first() \
        if TOKEN.match(token) else None
    if found is None:
        raise NotFound("no such survey", code="survey_not_found")
    if found.answered_at is None and found.expires_at <= now:
        raise Gone("this survey has expired", code="survey_expired")
    return found


def answer(tx: Tx, token: str, *, rating: int, comment: str | None, settings: SurveyConfig) -> Record:
    """Record the customer's answer, once (survey.answered); 409 when it was answered already."""
    survey = find(tx.conn, token, tx.now)
    if not 1 <= rating <= 5:
        raise InvalidInput("rating must be 1 to 5", details={"rating": "1-5"})
    comment = (comment or "").strip()[:2000] or None
    done = tx.conn.execute(SURVEYS.update().where(SURVEYS.c.id == survey.id, SURVEYS.c.answered_at.is_(None))
                           .values(answered_at=tx.now, rating=rating, comment=comment))
    if not done.rowcount:
        raise Conflict("this survey was answered already", code="survey_answered")
    tx.emit(Event.make(EventType.SURVEY_ANSWERED, case_id=survey.case_id, interaction_id=survey.interaction_id,
                       agent_id=survey.agent_id, queue=survey.queue,
                       data={"survey_id": survey.id, "rating": rating, "comment": comment,
                             "channel": survey.channel}))
    if settings.rating_weight > 0 and survey.agent_id:
        _earn_rating(tx, survey.agent_id, rating, settings.rating_weight)
    return Record(**{**survey._asdict(), "answered_at": tx.now, "rating": rating, "comment": comment})


def _earn_rating(tx: Tx, agent_id: str, rating: int, weight: float) -> None:
    """Move the agent's routing rating toward this answer (agent.updated tells the router)."""
    agent = tx.conn.execute(sa.select(AGENTS).where(AGENTS.c.id == agent_id, AGENTS.c.deleted.is_(False))).first()
    if agent is None:
        return
    current = float(agent.rating or 0.0)  # (0: never rated: the first answer is the rating)
    rating_now = float(rating) if current == 0 else round((1 - weight) * current + weight * rating, 3)
    tx.conn.execute(AGENTS.update().where(AGENTS.c.id == agent_id).values(rating=rating_now, updated_at=tx.now))
    updated = tx.conn.execute(sa.select(AGENTS).where(AGENTS.c.id == agent_id)).first()
    tx.emit(Event.make(EventType.AGENT_UPDATED, agent_id=agent_id, data={"agent": render.agent(updated)}))
