"""The customer's satisfaction survey (public pages, no JavaScript): ``GET /s/{token}`` shows the
question in the customer's language and records nothing (preview bots open links first);
``POST /s/{token}`` records the one answer (cti/surveys.py). Unknown links answer 404, closed ones
410, a second answer 409, each as a page that says so. The token is in the URL: the pages are
never cached, framed or sent on as a referrer."""

from __future__ import annotations

import functools
import time
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from cti import models
from cti.api.context import services
from cti.api.framework import Api, Call
from cti.errors import ApiError, Conflict, Gone, InvalidInput
from cti.events import iso
from cti.services.actors import Role
from cti.surveys import answer, find
from cti.web import i18n
from cti.web.pages import templates

api = Api()
HEADERS = {
    "Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
}
MAX_FORM_BYTES = 16_384


def _page(call: Call, state: str, status: int, *, language: str | None = None, **values: Any) -> web.Response:
    lang = i18n.negotiate(call.request.headers.get("Accept-Language"), requested=call.request.query.get("lang")
                          or values.pop("form_lang", None), fallback=language)
    company = services(call.request).config.surveys.company_name
    html = templates().get_template("survey.html.j2").render(
        state=state, lang=lang, t=functools.partial(i18n.text, lang), languages=i18n.LANGUAGES, company=company,
        path=call.request.path, chosen=values.get("chosen"), comment=values.get("comment", ""),
        error=values.get("error"))
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8", headers=HEADERS)


def _refused(call: Call, error: ApiError) -> web.Response:
    state = "answered" if isinstance(error, Conflict) else "expired" if isinstance(error, Gone) else "unknown"
    return _page(call, state, error.status)


@api.route("GET", "/s/{token}", summary="The satisfaction survey page (opening it records nothing)",
           tag="pages", role=None, raw=True)
async def survey_page(call: Call) -> web.StreamResponse:
    svc = services(call.request)
    try:
        survey = await svc.db.read(lambda conn: find(conn, call.path("token"), time.time()))
    except ApiError as error:
        return _refused(call, error)
    if survey.answered_at is not None:
        return _page(call, "answered", 200, language=survey.language)
    return _page(call, "open", 200, language=survey.language)


@api.route("POST", "/s/{token}", summary="The customer's answer (form: rating 1-5, comment): once",
           tag="pages", role=None, raw=True)
async def survey_answer(call: Call) -> web.StreamResponse:
    svc, request = services(call.request), call.request
    if (request.content_length or 0) > MAX_FORM_BYTES:
        return _page(call, "unknown", 413)
    try:
        form = await request.post()
    except ValueError:  # (a malformed form body: a broken multipart boundary, bad encoding)
        return _page(call, "unknown", 400)
    comment = str(form.get("comment") or "")[:2000]
    language = str(form.get("lang") or "") or None
    try:
        rating = int(str(form.get("rating") or ""))
    except ValueError:
        rating = 0
    try:
        await svc.db.write(lambda tx: answer(tx, call.path("token"), rating=rating, comment=comment,
                                             settings=svc.config.surveys))
    except InvalidInput:
        return _page(call, "open", 400, form_lang=language, comment=comment,
                     error=i18n.text(i18n.negotiate(None, requested=language), "survey.pick"))
    except ApiError as error:
        return _refused(call, error)
    return _page(call, "thanks", 200, form_lang=language)


class AnswersQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_: datetime | None = Field(default=None, alias="from")
    to: datetime | None = None
    agent_id: str | None = Field(default=None, max_length=40)
    limit: int = Field(default=50, ge=1, le=500)


ANSWERS_OUT = {"type": "object", "required": ["items"], "properties": {"items": {"type": "array", "items": {
    "type": "object", "properties": {k: {"type": ["string", "integer", "null"]} for k in (
        "id", "interaction_id", "case_id", "agent_id", "channel", "queue", "rating", "comment", "answered_at")}}}}}


@api.route("GET", "/api/v1/surveys", summary="Customers' survey answers, newest first (rating and comment)",
           tag="stats", role=Role.SUPERVISOR, query=AnswersQuery, response=ANSWERS_OUT)
async def survey_answers(call: Call) -> dict[str, Any]:
    q, S = call.query, models.surveys
    where = [S.c.answered_at.is_not(None)]
    if q.from_:
        where.append(S.c.answered_at >= q.from_.timestamp())
    if q.to:
        where.append(S.c.answered_at < q.to.timestamp())
    if q.agent_id:
        where.append(S.c.agent_id == q.agent_id)
    rows = await services(call.request).db.read(lambda c: c.execute(
        sa.select(S).where(*where).order_by(S.c.answered_at.desc()).limit(q.limit)).all())
    return {"items": [{"id": r.id, "interaction_id": r.interaction_id, "case_id": r.case_id, "agent_id": r.agent_id,
                       "channel": r.channel, "queue": r.queue, "rating": r.rating, "comment": r.comment,
                       "answered_at": iso(r.answered_at)} for r in rows]}
