"""The ``cti`` command: serve, token create, agent add/list, db upgrade, demo."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import orjson

from cti.config import Config
from cti.errors import ApiError, ConfigError, InvalidInput
from cti.main import AppConfig, load_app_config

log = logging.getLogger("cti")
T = TypeVar("T")


def _config(args: argparse.Namespace) -> AppConfig:
    server: dict[str, Any] = {}
    for name in ("host", "port", "data_dir", "database_url"):
        value = getattr(args, name, None)
        if value is not None:
            server[name] = value
    return load_app_config(args.config, overrides={"server": server} if server else None)


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
    from cti.app import create_app
    from cti.logs import setup_logging
    from cti.serve import check_port_free, serve

    config = _config(args)
    setup_logging(config.server.log_level, config.server.log_format)
    check_port_free(config.server.host, config.server.port)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    hint = f" --config {args.config}" if args.config else ""
    asyncio.run(serve(create_app(config), config, config_hint=hint))
    return 0


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
    from cti.errors import Conflict
    from cti.services import render
    from cti.services.agents import create_agent

    fields: dict[str, Any] = {"name": args.name, "id": args.id, "voice_endpoint": args.voice_endpoint,
                              "skills": _pairs(args.skill), "capacity": _pairs(args.capacity),
                              "rating": args.rating, "state": args.state}
    config = _config(args)
    try:
        row = _run_db(config, lambda db: db.write(lambda tx: create_agent(tx, fields)))
    except Conflict:
        if not args.exist_ok:
            raise
        print(f"agent {args.id} already exists (unchanged)", file=sys.stderr)
        return 0
    print(orjson.dumps(render.agent(row)).decode())
    return 0


def _read_password() -> str:
    """The new password: typed twice at a terminal, else the first line of standard input."""
    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            raise InvalidInput("the two passwords differ", code="password_mismatch", details={"password": "differ"})
        return first
    return sys.stdin.readline().rstrip("\r\n")


def cmd_user_add(args: argparse.Namespace) -> int:
    from cti.passwords import HASHER, password_problem
    from cti.services.people import create_user, render_user

    password = _read_password()
    problem = password_problem(password)
    if problem:
        raise InvalidInput(f"the password needs {problem}", code="weak_password", details={"password": problem})
    hashed = HASHER.hash(password)  # (no event loop to keep free here)
    config = _config(args)
    row = _run_db(config, lambda db: db.write(lambda tx: create_user(
        tx, login=args.login, name=args.name or args.login, password_hash=hashed, role=args.role,
        agent_id=args.agent, language=args.language)))
    print(orjson.dumps(render_user(row)).decode())
    return 0


def cmd_contacts_import(args: argparse.Namespace) -> int:
    from cti.services.profiles import import_contacts, parse_contacts_csv

    try:
        text = Path(args.file).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {args.file}: {exc}", code="invalid_csv") from exc
    kinds, rows = parse_contacts_csv(text)
    config = _config(args)
    result = _run_db(config, lambda db: db.write(lambda tx: import_contacts(tx, kinds, rows)))
    for error in result.errors:
        print(f"line {error['line']}: {error['message']}", file=sys.stderr)
    print(orjson.dumps(result.as_dict()).decode())
    return 1 if result.errors else 0


def cmd_receiver(args: argparse.Namespace) -> int:
    from cti.receiver import run_receiver

    asyncio.run(run_receiver(_config(args)))
    return 0


def cmd_agent_list(args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from cti import models

    config = _config(args)
    rows = _run_db(config, lambda db: db.read(lambda c: c.execute(
        sa.select(models.agents).where(models.agents.c.deleted.is_(False)).order_by(models.agents.c.id)).all()))
    table = [("ID", "STATE", "NAME", "VOICE ENDPOINT", "SKILLS")]
    table += [(row.id, row.state, row.name, row.voice_endpoint or "-",
               ", ".join(f"{k}={v}" for k, v in sorted((row.skills or {}).items())) or "-") for row in rows]
    widths = [max(len(str(line[i])) for line in table) for i in range(len(table[0]))]
    for line in table:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
    if not rows:
        print("(no agents yet: cti agent add NAME --id ID)")
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
    """The argument parser (every option says what it does and its default)."""
    fmt = argparse.HelpFormatter  # (each help text states its default)
    parser = argparse.ArgumentParser(prog="cti", description="CTI and channel-pivot server", formatter_class=fmt)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", "-c", help="TOML configuration file (default: none; built-in defaults and "
                        "CTI_<SECTION>__<KEY> environment variables)")
    common.add_argument("--data-dir", dest="data_dir", help="data folder: the SQLite database and recordings "
                        "(default: [server] data_dir, ./data)")
    common.add_argument("--database-url", dest="database_url", help="e.g. postgresql+asyncpg://user@host/db "
                        "(default: SQLite in the data folder)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", parents=[common], help="run the server", formatter_class=fmt)
    serve.add_argument("--host", help="address to listen on (default: [server] host, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default: [server] port, 8080)")
    serve.set_defaults(func=cmd_serve)

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db_command", required=True,
                                                                      metavar="ACTION")
    db.add_parser("upgrade", parents=[common], help="create or upgrade the schema (serve does it too)",
                  formatter_class=fmt).set_defaults(func=cmd_db_upgrade)

    token = sub.add_parser("token", help="API tokens").add_subparsers(dest="token_command", required=True,
                                                                       metavar="ACTION")
    create = token.add_parser("create", parents=[common], help="create a token and print it once",
                              formatter_class=fmt)
    create.add_argument("--role", required=True, choices=["admin", "supervisor", "agent"],
                        help="what the token may do")
    create.add_argument("--agent", help="the agent id (required with --role agent)")
    create.add_argument("--name", help="a note about who uses it")
    create.add_argument("--expires-in", dest="expires_in", type=float, metavar="SECONDS",
                        help="the token stops working after this many seconds (default: never)")
    create.add_argument("--json", action="store_true", help="print JSON (id, role, agent_id, token, expires_at)")
    create.set_defaults(func=cmd_token_create)
    revoke = token.add_parser("revoke", parents=[common], help="revoke a token by its id (tok_...)",
                              formatter_class=fmt)
    revoke.add_argument("token_id", help="the token's id, as printed by create or GET /api/v1/tokens")
    revoke.set_defaults(func=cmd_token_revoke)

    agent = sub.add_parser("agent", help="agents").add_subparsers(dest="agent_command", required=True,
                                                                   metavar="ACTION")
    add = agent.add_parser("add", parents=[common], help="add an agent", formatter_class=fmt)
    add.add_argument("name", help="the agent's display name")
    add.add_argument("--id", help="a short id (default: a generated agt_... id)")
    add.add_argument("--voice-endpoint", dest="voice_endpoint",
                     help="where calls ring: a SIP URI (sip:alice@127.0.0.1) or browser (default: none)")
    add.add_argument("--skill", action="append", metavar="NAME=LEVEL", help="a skill and level, e.g. fi=2 "
                     "(repeatable; default: none)")
    add.add_argument("--capacity", action="append", metavar="CLASS=N", help="work at once per class, e.g. chat=3 "
                     "(repeatable; default: the routing policy's default_capacity)")
    add.add_argument("--rating", type=float,
                     help="routing rating, higher is preferred by rules that ask for it (default: 0)")
    add.add_argument("--state", choices=["available", "away", "offline"], help="presence (default: offline)")
    add.add_argument("--exist-ok", dest="exist_ok", action="store_true",
                     help="succeed without changes when an agent with this --id exists (scripts run twice)")
    add.set_defaults(func=cmd_agent_add)
    agent.add_parser("list", parents=[common], help="list agents (a header, then one agent a line)",
                     formatter_class=fmt).set_defaults(func=cmd_agent_list)

    user = sub.add_parser("user", help="people who sign in").add_subparsers(dest="user_command", required=True,
                                                                         metavar="ACTION")
    user_add = user.add_parser("add", parents=[common], help="add a person who signs in with a password (read "
                               "from standard input, or typed twice at a terminal)", formatter_class=fmt)
    user_add.add_argument("login", help="what they type to sign in (letters, digits and . _ @ + -; any case)")
    user_add.add_argument("--role", required=True, choices=["admin", "supervisor", "agent"], help="what they may do")
    user_add.add_argument("--agent", help="their agent id (required with --role agent)")
    user_add.add_argument("--name", help="the name pages show (default: the login)")
    user_add.add_argument("--language", choices=["en", "fi", "zh", "ko", "pl"],
                          help="the language of their pages (default: the browser's)")
    user_add.set_defaults(func=cmd_user_add)

    contacts = sub.add_parser("contacts", help="contacts").add_subparsers(dest="contacts_command", required=True,
                                                                          metavar="ACTION")
    contacts_import = contacts.add_parser("import", parents=[common], help="create or update contacts from a CSV "
                                          "file (an identity column, then name, language and attributes)",
                                          formatter_class=fmt)
    contacts_import.add_argument("file", help="the CSV file (UTF-8, with a header row)")
    contacts_import.set_defaults(func=cmd_contacts_import)

    receiver = sub.add_parser("receiver", parents=[common], help="print the replies the server sends to the "
                              "custom channels (listens where their outbound_url points)", formatter_class=fmt)
    receiver.set_defaults(func=cmd_receiver)

    demo = sub.add_parser("demo", help="run the pivot journey locally with a real registrar and phones",
                          formatter_class=fmt)
    demo.add_argument("--port", type=int, default=0,
                      help="the demo server's port (0: a free one, printed; ./dev serve keeps 8080)")
    demo.add_argument("--talk-seconds", dest="talk_seconds", type=float, default=4.0,
                      help="how long the bridged call lasts")
    demo.add_argument("--keep", action="store_true", help="keep the server running afterwards (Ctrl-C or "
                      "SIGTERM stops it and cleans up)")
    demo.set_defaults(func=_demo)
    return parser


def _demo(args: argparse.Namespace) -> int:
    from sip_test_env.demo import cmd_demo

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
