"""Round trips per ticket: SQL statements and Redis commands of ours and the minimal chain.

    python -m bench.trace [--tickets 20]

A diagnostic beside the benchmarks (not part of `all`): tickets go through one at a time with
the Gemini stub at 0 ms; Redis commands come from MONITOR (filtered to the run's database,
commands run inside Lua scripts counted apart) and SQL statements from PostgreSQL's own log
with `log_statement = 'all'` set on the run's database only (BENCH_POSTGRES_LOG names the log
file; without read access the SQL part is skipped). Counts include the bench's own work per
ticket: storing and publishing it, and polling for its end (2-3 statements).
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

import psycopg
import redis

from bench.common import (
    HOST,
    POSTGRES_ADMIN_DSN,
    REDIS_PORT,
    Stubs,
    postgres_database,
    redis_database,
)
from bench.systems import System, minimal, ours

POSTGRES_LOG = Path(
    os.environ.get("BENCH_POSTGRES_LOG", "/var/log/postgresql/postgresql-15-main.log")
)


def watch_redis(db: int, counts: Counter[str], stopping: threading.Event) -> None:
    """MONITOR, counting the commands sent to one database, until `stopping` is set."""
    with redis.Redis(host=HOST, port=REDIS_PORT).monitor() as monitor:
        for command in monitor.listen():
            if stopping.is_set():
                return
            if command.get("db") == db:
                inside = "(in Lua) " if command.get("client_type") == "lua" else ""
                counts[inside + command["command"].split()[0].upper()] += 1


def sql_statements(log_text: str, database: str) -> Counter[str]:
    """Statements of one database in a slice of the server log, by their first words."""
    counts: Counter[str] = Counter()
    for line in log_text.splitlines():
        if f"@{database} " in line and ("LOG:  statement:" in line or "LOG:  execute" in line):
            sql = line.split("LOG:  ", 1)[1].split(":", 1)[1].strip()
            counts[" ".join(sql.split()[:4])[:70]] += 1
    return counts


def trace(system: System, tickets: int, db: int, database: str) -> tuple[Counter[str], ...]:
    """Push `tickets` through one at a time; the Redis commands and SQL statements they caused."""
    system.warm_up(5)
    commands: Counter[str] = Counter()
    stopping = threading.Event()
    monitor = threading.Thread(target=watch_redis, args=(db, commands, stopping), daemon=True)
    monitor.start()
    time.sleep(0.5)
    log_from = POSTGRES_LOG.stat().st_size if os.access(POSTGRES_LOG, os.R_OK) else None
    for _ in range(tickets):
        system.drain([system.submit()], timeout=30, what="one traced ticket")
    time.sleep(0.5)
    stopping.set()
    redis.Redis(host=HOST, port=REDIS_PORT).ping()  # the monitor stops at the next command
    monitor.join(timeout=5)
    sql: Counter[str] = Counter()
    if log_from is not None:
        with POSTGRES_LOG.open("rb") as log:
            log.seek(log_from)
            sql = sql_statements(log.read().decode(errors="replace"), database)
    return commands, sql


def show(name: str, commands: Counter[str], sql: Counter[str], tickets: int) -> None:
    """Per-ticket counts, most frequent first."""
    direct = sum(n for k, n in commands.items() if not k.startswith("(in Lua)"))
    in_lua = sum(commands.values()) - direct
    print(f"\n{name}: per ticket, over {tickets} tickets")
    if sql:
        print(f"  SQL statements: {sum(sql.values()) / tickets:.1f}")
        for statement, n in sql.most_common(15):
            print(f"    {n / tickets:5.1f}  {statement}")
    else:
        print(f"  SQL statements: not counted ({POSTGRES_LOG} unreadable)")
    print(f"  Redis commands: {direct / tickets:.1f} (+{in_lua / tickets:.1f} inside Lua scripts)")
    for command, n in commands.most_common(20):
        print(f"    {n / tickets:5.1f}  {command}")


def main(argv: Sequence[str] | None = None) -> None:
    """Trace ours, then the minimal chain."""
    parser = argparse.ArgumentParser(prog="python -m bench.trace", description=__doc__)
    parser.add_argument("--tickets", type=int, default=20)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        dsn = stack.enter_context(postgres_database("trace"))
        url = stack.enter_context(redis_database())
        database, db = dsn.rsplit("/", 1)[1], int(url.rsplit("/", 1)[1])
        with psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f"ALTER DATABASE \"{database}\" SET log_statement = 'all'")
        stubs = Stubs(stack, directory)
        for system in (ours(dsn, stubs, directory), minimal(dsn, stubs, directory)):
            stack.callback(system.close)
            with system.start(stack):
                show(system.name, *trace(system, args.tickets, db, database), args.tickets)


if __name__ == "__main__":
    main()
