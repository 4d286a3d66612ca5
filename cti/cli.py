"""The ``cti`` command: serve, token create, agent add/list, db upgrade, demo."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson

from cti.config import Config, load_config
from cti.errors import ApiError, ConfigError

log = logging.getLogger("cti")
T = TypeVar("T")


def _config(args: argparse.Namespace) -> Config:
    server: dict[str, Any] = {}
    for name in ("host", "port", "data_dir", "database_url"):
        value = getattr(args, name, None)
        if value is not None:
            server[name] = value
    return load_config(args.config, overrides={"server": server} if server else None)


def _run_db(config: Config, work: Callable[[Any], Awaitable[T]]) -> T:
    """Open the database (upgrading the schema), run ``work(db)``, close."""
    from cti.storage.db import Database
    from cti.storage.migrate import upgrade_database

    url = config.server.resolved_database_url()
    upgrade_database(url)

    async def main() -> T:
        db = Database(url, synchronous=config.server.sqlite_synchronous)
        await db.start()
        try:
            return await work(db)
        finally:
            await db.close()

    return asyncio.run(main())


def cmd_serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from cti.app import create_app
    from cti.logs import setup_logging

    config = _config(args)
    setup_logging(config.server.log_level, config.server.log_format)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    app = create_app(config)
    app.on_startup.append(_freeze_startup_heap)  # runs after the app's own start-up (cleanup_ctx)
    host, port = config.server.host, config.server.port
    connectors = ", ".join(sorted(config.connectors)) or "none"
    custom = ", ".join(c.name for c in config.channels.custom) or "none"
    log.info("cti %s listening on http://%s:%d (public URL %s); connectors: %s; custom channels: %s",
             _version(), host, port, config.server.resolved_public_url(), connectors, custom)
    web.run_app(app, host=host, port=port, print=None, access_log=None,
                shutdown_timeout=config.server.shutdown_drain_seconds, handle_signals=True)
    return 0


async def _freeze_startup_heap(app: Any) -> None:
    """Leave what start-up built (modules, SQLAlchemy's and pydantic's machinery, the app) out of
    the cyclic garbage collector's full passes.

    Measured during the ingest benchmark: each full pass walked ~150,000 objects and stopped every
    thread for 80-210 ms, six times in 30 s, and those pauses were the requests' p99. Only the
    server process does this: tests build and drop many apps in one process, and frozen objects
    are never collected."""
    gc.collect()
    gc.freeze()
    log.info("start-up heap frozen: %d objects left out of full garbage collections", gc.get_freeze_count())


def _version() -> str:
    from cti import __version__

    return __version__


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from cti.storage.migrate import upgrade_database

    config = _config(args)
    upgrade_database(config.server.resolved_database_url())
    print("database is at the newest schema")
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    from cti.services.tokens import create_token

    config = _config(args)
    row, secret = _run_db(config, lambda db: db.write(
        lambda tx: create_token(tx, role=args.role, agent_id=args.agent, name=args.name,
                                expires_in=args.expires_in)))
    if args.json:
        body = {"id": row["id"], "role": row["role"], "agent_id": row["agent_id"], "token": secret,
                "expires_at": row["expires_at"]}
        print(orjson.dumps(body).decode())
    else:
        print(secret)
        print(f"(token {row['id']}, role {row['role']}; shown once, store it now)", file=sys.stderr)
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    from cti.services.tokens import revoke_token

    config = _config(args)
    row = _run_db(config, lambda db: db.write(lambda tx: revoke_token(tx, args.token_id)))
    print(f"token {row['id']} revoked (every node refuses it within 2 s)")
    return 0


def cmd_agent_add(args: argparse.Namespace) -> int:
    from cti.services import render
    from cti.services.agents import create_agent

    fields: dict[str, Any] = {"name": args.name, "id": args.id, "voice_endpoint": args.voice_endpoint,
                              "skills": _pairs(args.skill), "capacity": _pairs(args.capacity),
                              "rating": args.rating, "state": args.state}
    config = _config(args)
    row = _run_db(config, lambda db: db.write(lambda tx: create_agent(tx, fields)))
    print(orjson.dumps(render.agent(row)).decode())
    return 0


def cmd_agent_list(args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from cti import models

    config = _config(args)
    rows = _run_db(config, lambda db: db.read(lambda c: c.execute(
        sa.select(models.agents).where(models.agents.c.deleted.is_(False)).order_by(models.agents.c.id)).all()))
    for row in rows:
        skills = orjson.dumps(row.skills or {}).decode()
        print(f"{row.id}\t{row.state}\t{row.name}\t{row.voice_endpoint or ''}\t{skills}")
    return 0


def _pairs(items: list[str] | None) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items or []:
        name, _, level = item.partition("=")
        try:
            out[name] = int(level or 1)
        except ValueError as exc:
            raise ConfigError(f"{item!r}: expected name=number") from exc
    return out


def build_parser() -> argparse.ArgumentParser:
    """The argument parser."""
    parser = argparse.ArgumentParser(prog="cti", description="CTI and channel-pivot server")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", "-c", help="TOML configuration file")
    common.add_argument("--data-dir", dest="data_dir", help="data folder (default ./data)")
    common.add_argument("--database-url", dest="database_url", help="e.g. postgresql+asyncpg://user@host/db")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", parents=[common], help="run the server")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(func=cmd_serve)

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", parents=[common], help="create or upgrade the schema").set_defaults(func=cmd_db_upgrade)

    token = sub.add_parser("token", help="API tokens").add_subparsers(dest="token_command", required=True)
    create = token.add_parser("create", parents=[common], help="create a token and print it once")
    create.add_argument("--role", required=True, choices=["admin", "supervisor", "agent"])
    create.add_argument("--agent", help="the agent id (role agent)")
    create.add_argument("--name", help="a note about who uses it")
    create.add_argument("--expires-in", dest="expires_in", type=float, metavar="SECONDS",
                        help="the token stops working after this many seconds (default: never)")
    create.add_argument("--json", action="store_true", help="print JSON")
    create.set_defaults(func=cmd_token_create)
    revoke = token.add_parser("revoke", parents=[common], help="revoke a token by its id (tok_...)")
    revoke.add_argument("token_id", help="the token's id, as printed by create or GET /api/v1/tokens")
    revoke.set_defaults(func=cmd_token_revoke)

    agent = sub.add_parser("agent", help="agents").add_subparsers(dest="agent_command", required=True)
    add = agent.add_parser("add", parents=[common], help="add an agent")
    add.add_argument("name")
    add.add_argument("--id")
    add.add_argument("--voice-endpoint", dest="voice_endpoint", help="sip:alice@127.0.0.1 or browser")
    add.add_argument("--skill", action="append", help="name=level (repeatable)")
    add.add_argument("--capacity", action="append", help="class=n, e.g. chat=3 (repeatable)")
    add.add_argument("--rating", type=float)
    add.add_argument("--state", choices=["available", "away", "offline"])
    add.set_defaults(func=cmd_agent_add)
    agent.add_parser("list", parents=[common], help="list agents").set_defaults(func=cmd_agent_list)

    demo = sub.add_parser("demo", help="run the pivot journey locally with a real registrar and phones")
    demo.add_argument("--port", type=int, default=8080)
    demo.add_argument("--talk-seconds", dest="talk_seconds", type=float, default=4.0)
    demo.add_argument("--keep", action="store_true", help="keep the server running afterwards (Ctrl-C stops)")
    demo.set_defaults(func=_demo)
    return parser


def _demo(args: argparse.Namespace) -> int:
    from pivot.demo import cmd_demo

    return cmd_demo(args)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``cti`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"cti: {exc}", file=sys.stderr)
        return 2
    except ApiError as exc:
        print(f"cti: {exc.code}: {exc.message} {orjson.dumps(exc.details).decode() if exc.details else ''}",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
