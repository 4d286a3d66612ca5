"""The two places that lean on a library's private parts, checked against the library itself.

- ``cti/storage/prepared.py`` runs the hot write path's statements on SQLite's cursor with
  SQLAlchemy's own compiled SQL, parameter order (``positiontup``) and type conversions
  (``_bind_processors``). Every kind of statement the hot ops use must give what SQLAlchemy's
  own execution gives.
- ``cti/api/ws_batch.py`` writes a burst of WebSocket frames straight to aiohttp's private
  ``WebSocketResponse._writer`` transport. A real aiohttp client must read exactly the messages
  sent, with and without permessage-deflate.

An upgrade that removes or changes either part fails here, loudly, not in production.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestServer

from cti.api.ws_batch import send_texts, text_frame
from cti.storage.prepared import Prepared

METADATA = sa.MetaData()
ITEMS = sa.Table(
    "items", METADATA,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("flag", sa.Boolean, nullable=False),
    sa.Column("meta", sa.JSON, nullable=True),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("state", sa.String, nullable=False),
)
ROWS = [{"id": "a", "flag": True, "meta": {"k": [1, "two"]}, "score": 1.5, "state": "open"},
        {"id": "b", "flag": False, "meta": None, "score": 2.0, "state": "pending"},
        {"id": "c", "flag": True, "meta": {"ü": "ß"}, "score": -3.25, "state": "closed"}]
SELECTS: list[tuple[Any, dict[str, Any]]] = [
    (sa.select(ITEMS).where(ITEMS.c.id == sa.bindparam("id")), {"id": "a"}),
    (sa.select(ITEMS.c.meta, ITEMS.c.flag).where(ITEMS.c.id == sa.bindparam("id")), {"id": "c"}),
    (sa.select(ITEMS.c.id).where(sa.or_(ITEMS.c.state == "open", ITEMS.c.state == "pending"))
     .order_by(ITEMS.c.id).limit(1), {}),  # literal binds (the LIMIT, the states) come from the statement
    (sa.select(sa.func.count()).select_from(ITEMS).where(ITEMS.c.flag.is_(True)), {}),
]


@pytest.fixture
def conn() -> Any:
    engine = sa.create_engine("sqlite://")
    METADATA.create_all(engine)
    with engine.begin() as connection:
        yield connection
    engine.dispose()


def test_prepared_statements_give_what_sqlalchemy_gives(conn: Any) -> None:
    fast = Prepared(conn, {})
    assert fast.fast, "the fast path is the one under test (SQLite)"
    fast.execute_many(ITEMS.insert(), ROWS)
    for statement, params in SELECTS:
        ours = [tuple(row) for row in fast.execute(statement, params).all()]
        theirs = [tuple(row) for row in conn.execute(statement, params).all()]
        assert ours == theirs, statement
        assert ours, "each statement finds rows (an empty comparison proves nothing)"
    row = fast.execute(SELECTS[0][0], {"id": "a"}).first()
    assert row.meta == {"k": [1, "two"]} and row.flag is True  # JSON decoded, 0/1 back to bool, by attribute
    fast.execute(ITEMS.update().where(ITEMS.c.id == sa.bindparam("id")).values(meta=sa.bindparam("meta")),
                 {"id": "b", "meta": {"n": 1}})
    assert conn.execute(sa.select(ITEMS.c.meta).where(ITEMS.c.id == "b")).scalar() == {"n": 1}


def test_a_statement_the_fast_path_cannot_run_is_refused_by_name(conn: Any) -> None:
    fast = Prepared(conn, {})
    with pytest.raises(ValueError, match="cannot expand IN"):
        fast.execute(sa.select(ITEMS.c.id).where(ITEMS.c.state.in_(("open", "pending"))))


def test_the_private_parts_of_a_compiled_statement_are_there(conn: Any) -> None:
    compiled = SELECTS[0][0].compile(dialect=conn.dialect)
    assert list(compiled.positiontup) == ["id"]
    assert isinstance(compiled._bind_processors, dict)
    json_insert = ITEMS.insert().compile(dialect=conn.dialect)
    assert callable(json_insert._bind_processors.get("meta")), "JSON is serialized by a bind processor"


@pytest.mark.parametrize("compress", [0, 15])
async def test_a_burst_of_frames_reaches_a_real_client_intact(compress: int) -> None:
    texts = ["a", "é" * 100, "x" * 300, "y" * 70_000, "{}"]  # each frame length form: 7-bit, 16-bit, 64-bit
    seen: dict[str, Any] = {}

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        seen["transport"] = ws._writer.transport if ws._writer is not None else None
        seen["compress"] = ws.compress
        await send_texts(ws, texts)
        await ws.close()
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session, \
                session.ws_connect(server.make_url("/ws"), compress=compress) as ws:
            received = [message.data async for message in ws if message.type is aiohttp.WSMsgType.TEXT]
    finally:
        await server.close()
    assert seen["transport"] is not None, "aiohttp's WebSocketResponse._writer.transport is gone"
    assert bool(seen["compress"]) == bool(compress), "the client negotiated what the test asked"
    assert received == texts


def test_text_frames_follow_rfc_6455() -> None:
    assert text_frame("hi") == b"\x81\x02hi"
    assert text_frame("x" * 126)[:4] == b"\x81\x7e\x00\x7e"
    assert text_frame("x" * 65_536)[:10] == b"\x81\x7f" + (65_536).to_bytes(8, "big")
