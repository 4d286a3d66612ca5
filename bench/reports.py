"""Reports over a million interactions: GET /api/v1/reports/summary (every grouping, the whole
range) and GET /api/v1/stats/realtime, on SQLite and on PostgreSQL, through a real server.

The history is generated straight into the database (a year of voice, chat, email and social
interactions: answered, abandoned short and long, some still waiting; 60 agents, 4 queues; pivot
events), then the server is started on it and each report is asked for three times; the figure
is the slowest of the three. Target (issue 20): every report under 2 s.

    .venv/bin/python -m bench.reports [--interactions 1000000] [--only sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from tests.pg import PostgresServer, find_postgres_bin
from tests.processes import ServerProcess

CHANNELS = (("voice", 0.35), ("chat", 0.25), ("email", 0.2), ("x", 0.1), ("messenger", 0.1))
QUEUES = ("general", "billing", "support", "sales")
DAYS = 365
COLUMNS = ("id", "case_id", "contact_id", "channel", "direction", "initiation", "state", "queue", "priority",
           "agent_id", "created_at", "updated_at", "queued_at", "accepted_at", "first_response_at", "ended_at",
           "closed_at", "version")
REPORTS = ("group_by=channel", "group_by=agent", "group_by=queue", "group_by=interval&interval=30m",
           "group_by=interval&interval=15m&tz=Europe/Helsinki", "group_by=hour_of_week&tz=America/New_York")


def history(count: int, now: float) -> list[tuple[object, ...]]:
    """``count`` interactions over the last year, daytime heavy, with their outcomes, in the order they
    began (as a real server writes them)."""
    return sorted(_interactions(count, now), key=lambda row: row[10])  # type: ignore[arg-type,return-value]


def _interactions(count: int, now: float) -> Iterator[tuple[object, ...]]:
    rng = random.Random(20)
    names, weights = zip(*CHANNELS, strict=True)
    for n in range(count):
        channel = rng.choices(names, weights)[0]
        day = rng.randrange(DAYS)
        hour = rng.choices(range(24), [1 if h < 8 or h > 19 else 6 for h in range(24)])[0]
        created = now - (day + 1) * 86400 + hour * 3600 + rng.random() * 3600
        queued, agent = created + 0.2, f"agt_{rng.randrange(60):03d}"
        accepted = first = ended = closed = None
        outcome = rng.random()
        if outcome < 0.08:
            state, ended, agent_id = "abandoned", queued + rng.expovariate(1 / 40), None
        else:
            state, agent_id = "ended", agent
            accepted = queued + rng.expovariate(1 / (15 if channel in ("voice", "chat") else 600))
            first = accepted + rng.expovariate(1 / 120) if channel not in ("voice", "chat") else None
            closed = ended = accepted + rng.expovariate(1 / 300)
        yield (f"int_{n:09d}", "cas_bench", "con_bench", channel, "inbound", "inbound", state,
               rng.choice(QUEUES), 0, agent_id, created, created, queued, accepted, first, ended, closed, 0)


def fill_sqlite(path: Path, count: int, now: float) -> None:
    db = sqlite3.connect(path)
    with db:
        for statement in SEED:
            db.execute(statement)
        db.executemany(f"INSERT INTO interactions ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                       history(count, now))
        db.executemany("INSERT INTO events (seq, type, ts, agent_id, queue, data) VALUES (?, ?, ?, ?, ?, ?)",
                       _pivot_events(now))
    db.execute("ANALYZE")
    db.close()


async def fill_postgres(url: str, count: int, now: float) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        async with conn.transaction():
            for statement in SEED:
                await conn.execute(statement)
            await conn.copy_records_to_table("interactions", records=history(count, now), columns=COLUMNS)
            await conn.executemany("INSERT INTO events (seq, type, ts, agent_id, queue, data) "
                                   "VALUES ($1, $2, $3, $4, $5, $6::json)", list(_pivot_events(now)))
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


SEED = ("INSERT INTO contacts (id, name, attributes, created_at, updated_at) VALUES ('con_bench', 'Bench', '{}', 0, 0)",
        "INSERT INTO cases (id, contact_id, subject, status, priority, created_at, updated_at) "
        "VALUES ('cas_bench', 'con_bench', 'bench', 'open', 0, 0, 0)")


def _pivot_events(now: float) -> Iterator[tuple[object, ...]]:
    rng = random.Random(7)
    for n in range(20_000):
        kind = rng.choice(("pivot.created", "pivot.opened", "pivot.redeemed", "callback.connected"))
        yield (n + 1, kind, now - rng.random() * DAYS * 86400, "agt_001", "general", '{"channel": "x"}')


def _wait_rolled(server: ServerProcess, where: str) -> int:
    """Wait until the roll-up has folded every finished interaction; how many it folded."""
    query = "SELECT count(*) FROM interactions WHERE rolled_gen IS NULL AND state IN ('ended', 'abandoned')"
    done = "SELECT count(*) FROM interactions WHERE rolled_gen IS NOT NULL"
    while True:
        if where.startswith("postgresql"):
            import asyncpg

            async def ask(sql: str) -> int:
                conn = await asyncpg.connect(where.replace("postgresql+asyncpg", "postgresql"))
                try:
                    return int(await conn.fetchval(sql))
                finally:
                    await conn.close()

            left, folded = asyncio.run(ask(query)), asyncio.run(ask(done))
        else:
            with sqlite3.connect(where) as db:
                left, folded = db.execute(query).fetchone()[0], db.execute(done).fetchone()[0]
        if not left:
            return folded
        time.sleep(2)


def measure(server: ServerProcess, token: str, rounds: int = 3) -> dict[str, float]:
    figures: dict[str, float] = {}
    for query in (*REPORTS, "realtime"):
        url = (f"{server.url}/api/v1/stats/realtime" if query == "realtime" else
               f"{server.url}/api/v1/reports/summary?from=2000-01-01T00:00:00Z&{query}")
        slowest = 0.0
        for _ in range(rounds):
            request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
            started = time.perf_counter()
            with urllib.request.urlopen(request, timeout=120) as response:
                body = response.read()
            slowest = max(slowest, time.perf_counter() - started)
        assert b'"offered"' in body, body[:200]
        figures[query] = slowest
    return figures


def run(backend: str, count: int) -> None:
    work = Path(tempfile.mkdtemp(prefix=f"bench-reports-{backend}-"))
    now = time.time()
    pg = None
    env = {}
    if backend == "postgresql":
        pg = PostgresServer()
        pg.start()
        env["CTI_SERVER__DATABASE_URL"] = pg.create_database()
    server = ServerProcess(work, env=env)
    try:
        server.start()  # creates the schema
        server.stop()
        started = time.perf_counter()
        if pg is None:
            fill_sqlite(work / "data" / "cti.db", count, now)
        else:
            asyncio.run(fill_postgres(env["CTI_SERVER__DATABASE_URL"], count, now))
        print(f"{backend}: {count:,} interactions written in {time.perf_counter() - started:.0f} s", flush=True)
        token = server.cli("token", "create", "--role", "supervisor")  # (before the roll-up keeps the writer busy)
        server.start(timeout=120)
        started = time.perf_counter()
        waited = _wait_rolled(server, env.get("CTI_SERVER__DATABASE_URL") or str(work / "data" / "cti.db"))
        print(f"{backend}: the server folded {waited:,} finished interactions into report blocks in "
              f"{time.perf_counter() - started:.0f} s", flush=True)
        for query, seconds in measure(server, token).items():
            print(f"  {backend:10s} {query:55s} {seconds * 1000:8.0f} ms  {'ok' if seconds < 2 else 'OVER 2 s'}")
    finally:
        server.stop()
        if pg is not None:
            pg.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    args = parser.parse_args()
    for backend in ("sqlite", "postgresql"):
        if args.only in (None, backend) and (backend == "sqlite" or find_postgres_bin()):
            run(backend, args.interactions)
    urllib.request.urlcleanup()


if __name__ == "__main__":
    main()
