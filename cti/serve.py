"""``cti serve``: start the application, say when it really listens, and turn the usual start-up
problems (a busy port, a database that cannot be reached, a database URL without its driver) into
one line that names the setting and the fix.

The order is: the port is checked (nothing else runs when it is taken), the application starts
(migrations, connectors, leases), the socket is bound, and only then "listening on" is logged,
with the desk's address and how to make a sign-in."""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import signal
import socket
from typing import Any

from aiohttp import web

from cti.config import Config
from cti.errors import ConfigError

log = logging.getLogger("cti")


class StartupProblem(ConfigError):
    """A start-up failure with its fix, reported as one line (exit code 2)."""


def check_port_free(host: str, port: int) -> None:
    """Refuse early, naming the setting, when another process holds the address."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise StartupProblem(f"server.host {host!r} does not resolve ({exc.strerror}); set [server] host "
                             "or CTI_SERVER__HOST to an address of this machine") from exc
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise StartupProblem(
                    f"port {port} on {host} is already in use (another cti serve?); stop that process or choose "
                    f"another port: --port, [server] port or CTI_SERVER__PORT") from exc
            raise StartupProblem(f"cannot listen on {host}:{port} ({exc.strerror}); check [server] host and port"
                                 ) from exc


def database_problem(exc: BaseException, url: str) -> StartupProblem | None:
    """A database start-up failure explained, or None when it is something else."""
    import sqlalchemy.exc as sa_exc

    shown = _without_password(url)
    setting = "[server] database_url (or CTI_SERVER__DATABASE_URL, --database-url)"
    if isinstance(exc, sa_exc.NoSuchModuleError | sa_exc.ArgumentError):
        return StartupProblem(f"{setting} is not a database URL this server can use: {shown}; use "
                              "sqlite+aiosqlite:///path/to/cti.db or postgresql+asyncpg://user:password@host/db")
    if isinstance(exc, ModuleNotFoundError | ImportError) or "is not async" in str(exc) or "await_only" in str(exc):
        return StartupProblem(f"{setting} names a driver that is not installed or not asynchronous: {shown}; use "
                              "the +aiosqlite or +asyncpg driver, e.g. postgresql+asyncpg://user@host/db")
    if isinstance(exc, OSError | sa_exc.OperationalError | sa_exc.InterfaceError | TimeoutError) or \
            type(exc).__module__.startswith("asyncpg"):
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:200]
        return StartupProblem(f"the database at {shown} cannot be reached ({reason}); start it or fix {setting}")
    return None


def _without_password(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(the configured URL)"


async def _freeze_startup_heap(app: Any) -> None:
    """Leave what start-up built (modules, SQLAlchemy's and pydantic's machinery, the app) out of
    the cyclic garbage collector's full passes.

    Measured during the ingest benchmark: each full pass walked ~150,000 objects and stopped every
    thread for 80-210 ms, six times in 30 s, and those pauses were the requests' p99. Only the
    server process does this: tests build and drop many apps in one process, and frozen objects
    are never collected."""
    gc.collect()
    gc.freeze()
    log.debug("start-up heap frozen: %d objects left out of full garbage collections", gc.get_freeze_count())


async def serve(app: web.Application, config: Config, *, config_hint: str) -> None:
    """Run until SIGINT or SIGTERM; then drain and stop."""
    host, port = config.server.host, config.server.port
    app.on_startup.append(_freeze_startup_heap)  # runs after the app's own start-up (cleanup_ctx)
    runner = web.AppRunner(app, access_log=None, handle_signals=False,
                           shutdown_timeout=config.server.shutdown_drain_seconds)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        try:
            await runner.setup()
        except Exception as exc:
            problem = database_problem(exc, config.server.resolved_database_url())
            if problem is not None:
                raise problem from exc
            raise
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:  # (taken between the check and now)
            raise StartupProblem(f"cannot listen on {host}:{port} ({exc.strerror}); choose another port: --port, "
                                 "[server] port or CTI_SERVER__PORT") from exc
        base = f"http://{host}:{port}"
        connectors = ", ".join(sorted(config.connectors)) or "none"
        custom = ", ".join(c.name for c in config.channels.custom) or "none"
        log.info("cti %s listening on %s (public URL %s); connectors: %s; custom channels: %s", _version(), base,
                 config.server.resolved_public_url(), connectors, custom)
        log.info("agent desk: %s/desk  wallboard: %s/wallboard  API: %s/api/v1/openapi.json  | a sign-in "
                 "token: cti token create --role admin%s", base, base, base, config_hint)
        await stop.wait()
        log.info("stopping: draining requests (up to %.0f s)", config.server.shutdown_drain_seconds)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await runner.cleanup()


def _version() -> str:
    from cti import __version__

    return __version__
