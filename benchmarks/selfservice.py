"""Self-service calls on the real back office: 1,000 simultaneous wallet calls in the pool,
against SQLite and against PostgreSQL.

Each call is a demo caller identified by caller ID who keys the wallet's self-service path
(交易咨询 › 本人查询), the right payment PIN (an argon2id check and a write), hears their
last three payments read (a lookup), then files a complaint (a write transaction: one
ticket per call). The calls run in four `CallPool`s on four threads at once (a pool is one
thread; four make the writes really concurrent), all asking one `DatabaseBackOffice`; each
pool has its own `CallFlow` (the transitions machine, queued, is not thread-safe).

Measured: no lost or duplicated writes (one ticket per call, each call's own, every PIN
attempt counted), no failed request (no "database is locked", nothing answered ``error``),
the lookup-to-prompt latency (the back office's request reported → the prompt that reads
its reply reported, real time; p50 / p95) and the self-service calls per second.

Run: python benchmarks/selfservice.py [--quick] [--json FILE]
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # benchmarks.common

from benchmarks.backoffice import drop_postgres, postgres_database
from benchmarks.common import Figure, arguments, percentile, report

ROOT = Path(__file__).resolve().parent.parent
NOW = dt.datetime.fromisoformat("2026-03-14T12:00:00+08:00")
POOLS = 4
LOOKUPS = {"recent_transactions"}


def run(url: str, calls: int, accounts: int) -> dict[str, Any]:
    """Play ``calls`` self-service calls on the database at ``url``; what was measured."""
    import sqlalchemy as sa

    from ivr.backoffice import schema as s
    from ivr.backoffice.database import Database
    from ivr.backoffice.demo import build, callers
    from ivr.backoffice.office import DatabaseBackOffice
    from ivr.backoffice.settings import Rules, database_url
    from ivr.callers.scripted import ScriptPlan
    from ivr.drivers.pool import CallPool
    from ivr.engine.events import CallEvent, EventType
    from ivr.engine.flow import CallFlow
    from ivr.menu.model import load

    build(url, accounts, 1, NOW)
    db = Database(database_url(url), Rules(), create=False)
    people = [c for c in callers(db) if c.case != "locked"]
    menu = load(ROOT / "menus" / "wallet.zh-CN.yaml")
    office = DatabaseBackOffice(url, create=False, now=lambda: NOW)
    latencies: list[float] = []
    replies: dict[str, int] = {}
    filed: list[int] = []
    lock = threading.Lock()

    def play(first: int, count: int) -> None:
        asked: dict[int, float] = {}
        waiting: set[int] = set()
        mine: list[float] = []

        def listen(call_id: int, event: CallEvent, moment: float) -> None:
            if event.type is EventType.REQUEST and event.operation in LOOKUPS:
                asked[call_id] = time.perf_counter()
            elif event.type is EventType.REPLY:
                with lock:
                    key = f"{event.operation}:{event.result}"
                    replies[key] = replies.get(key, 0) + 1
                if event.operation in LOOKUPS:
                    waiting.add(call_id)
            elif event.type is EventType.PROMPT and call_id in waiting:
                waiting.discard(call_id)
                mine.append(time.perf_counter() - asked.pop(call_id))
            elif event.type is EventType.STATE and event.state == "ticket_filed":
                with lock:
                    filed.append(first + call_id)

        # one CallFlow per thread: its transitions machine (queued) is not thread-safe
        pool = CallPool(CallFlow(menu), listeners=[listen], backoffice=office)
        for n in range(first, first + count):
            person = people[n % len(people)]
            # verify, the last payments read, complain: the first # cuts the record prompt
            # short (its beep follows), the second ends the voice message
            keys = f"24{person.pin}#361##"
            pool.start(ScriptPlan(keys, think_time=0.5), caller_id=person.phone)
        pool.run()
        with lock:
            latencies.extend(mine)

    share = calls // POOLS
    threads = [
        threading.Thread(target=play, args=(i * share, share + (calls % POOLS if i == 0 else 0)))
        for i in range(POOLS)
    ]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    with db.reading() as conn:
        tickets = conn.execute(sa.select(sa.func.count()).select_from(s.tickets)).scalar_one()
        distinct = conn.execute(
            sa.select(sa.func.count(sa.distinct(s.tickets.c.call_id)))
        ).scalar_one()
    office.close()
    db.dispose()
    return {
        "wall": wall,
        "latencies": latencies,
        "replies": replies,
        "filed": len(filed),
        "tickets": tickets,
        "distinct": distinct,
    }


def figures_for(name: str, calls: int, got: dict[str, Any]) -> list[Figure]:
    replies = got["replies"]
    errors = sum(n for key, n in replies.items() if key.endswith(":error"))
    whole = (
        got["tickets"] == got["distinct"] == got["filed"] == calls
        and replies.get("verify_pin:verified") == calls
        and replies.get("recent_transactions:found") == calls
    )
    lat = [v * 1000 for v in got["latencies"]]
    notes = [f"replies: {dict(sorted(replies.items()))}"]
    return [
        Figure(
            f"{name}: {calls} simultaneous calls, tickets written (one per call)",
            "tickets",
            [float(got["tickets"])],
            target=f"= {calls}, no duplicate, every PIN verified",
            met=whole,
            notes=notes,
        ),
        Figure(
            f"{name}: requests failed (database locked, error)",
            "requests",
            [float(errors)],
            target="0",
            met=errors == 0,
        ),
        Figure(f"{name}: lookup-to-prompt p50", "ms", [percentile(lat, 0.5)]),
        Figure(f"{name}: lookup-to-prompt p95", "ms", [percentile(lat, 0.95)]),
        Figure(
            f"{name}: self-service calls per second ({POOLS} pools)",
            "calls/s",
            [calls / got["wall"]],
            notes=["each call: an argon2id PIN check (~25 ms of CPU), a lookup, a ticket"],
        ),
    ]


def main() -> None:
    args = arguments(__doc__ or "").parse_args()
    # --quick: two calls in each of the four pools (the writes still concurrent), on five
    # demo accounts; every call costs an argon2id PIN check, every account an argon2id hash
    calls = 8 if args.quick else 1000
    accounts = 5 if args.quick else 50
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory() as folder:
        got = run(str(Path(folder) / "backoffice.sqlite3"), calls, accounts)
        figures += figures_for("sqlite", calls, got)
    server, url = postgres_database()
    try:
        figures += figures_for("postgresql", calls, run(url, calls, accounts))
    finally:
        drop_postgres(server, url)
    report(figures, args)
    if not all(f.met is not False for f in figures):
        sys.exit("lost, duplicated or failed writes: see the table")


if __name__ == "__main__":
    main()
