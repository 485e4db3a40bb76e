"""The back office on SQLite and PostgreSQL: lookup latency with 100,000 accounts and
1,000,000 transactions, and operations per second from many threads.

Each database is bulk-loaded (executemany in batches of 10,000, one shared PIN hash: the
lookups read no hash), then asked through ``DatabaseBackOffice.perform`` as a call would:
``find_account`` by phone, ``latest_failed_transaction`` and ``recent_transactions`` for a
random account (p50 / p95 over the samples). Throughput: 16 threads, each its own call,
looking up (find_account + recent_transactions) or filing tickets (one write transaction
each), for a few seconds. PostgreSQL is the private server of ``scripts/postgres`` (unix
socket, ``synchronous_commit=off``; SQLite runs WAL with ``synchronous=NORMAL``: both may
lose the last commits on a power cut, never consistency).

Run: python benchmarks/backoffice.py [--quick] [--json FILE]
"""

from __future__ import annotations

import datetime as dt
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # benchmarks.common

from benchmarks.common import Figure, arguments, percentile, report

ROOT = Path(__file__).resolve().parent.parent
CAUSES = ("余额不足", "网络不稳定", "支付限制", "安全审核")


def postgres_database() -> tuple[str, str]:
    import sqlalchemy as sa

    server = subprocess.run(
        [str(ROOT / "scripts" / "postgres"), "start"], capture_output=True, text=True, check=True
    ).stdout.strip()
    name = f"ivr_bench_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()
    return server, sa.engine.make_url(server).set(database=name).render_as_string(False)


def drop_postgres(server: str, url: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(
            f'DROP DATABASE IF EXISTS "{sa.engine.make_url(url).database}" WITH (FORCE)'
        )
    engine.dispose()


def load(bo: object, accounts: int, per_account: int, rng: random.Random) -> float:
    """Bulk-load; the seconds it took."""
    import sqlalchemy as sa

    from ivr.backoffice import schema as s
    from ivr.backoffice.pins import hash_pin

    db = bo.repository.db  # type: ignore[attr-defined]
    began = time.perf_counter()
    shared = hash_pin("000000")
    now = dt.datetime(2026, 3, 1)
    merchants = [
        {"id": i + 1, "name": f"商户{i + 1:04d}", "supports_e_invoice": i % 3 != 2}
        for i in range(500)
    ]
    db.write(lambda conn: conn.execute(sa.insert(s.merchants), merchants))
    batch = 10_000
    for first in range(0, accounts, batch):
        rows = [
            {
                "id": i + 1,
                "phone": f"138{i:08d}",
                "name": "测试用户",
                "real_name_status": "passed",
                "wallet_level": 2,
                "balance": Decimal("100.00"),
                "single_limit": Decimal("10000.00"),
                "daily_limit": Decimal("50000.00"),
                "pin_hash": shared,
                "created_at": now,
            }
            for i in range(first, min(first + batch, accounts))
        ]
        db.write(lambda conn, rows=rows: conn.execute(sa.insert(s.accounts), rows))
    total = accounts * per_account
    for first in range(0, total, batch):
        rows = []
        for i in range(first, min(first + batch, total)):
            failed = rng.random() < 0.05
            rows.append(
                {
                    "id": i + 1,
                    "account_id": i // per_account + 1,
                    "merchant_id": rng.randrange(500) + 1,
                    "amount": Decimal(rng.randrange(100, 90000)) / 100,
                    "occurred_at": now - dt.timedelta(minutes=rng.randrange(60 * 24 * 90)),
                    "status": "failed" if failed else "succeeded",
                    "failure_cause": rng.choice(CAUSES) if failed else None,
                }
            )
        db.write(lambda conn, rows=rows: conn.execute(sa.insert(s.transactions), rows))
    if db.dialect == "postgresql":
        with db.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
    return time.perf_counter() - began


def measure(kind: str, quick: bool) -> list[Figure]:
    from ivr.backoffice.office import DatabaseBackOffice
    from ivr.engine.backoffice import Request

    # --quick proves it works: every operation and both throughputs, on a small database
    accounts, per_account = (200, 10) if quick else (100_000, 10)
    samples, seconds, threads = (20, 0.1, 16) if quick else (3_000, 5.0, 16)
    rng = random.Random(13)
    folder = tempfile.mkdtemp(prefix="ivr-bench-db-")
    server = ""
    url = str(Path(folder) / "bench.sqlite3")
    if kind == "postgresql":
        server, url = postgres_database()
    try:
        bo = DatabaseBackOffice(url)
        loaded = load(bo, accounts, per_account, rng)
        scale = f"{accounts:,} accounts, {accounts * per_account:,} transactions"
        figures = [Figure(f"{kind}: bulk load ({scale})", "s", [loaded])]
        for operation in ("find_account", "latest_failed_transaction", "recent_transactions"):
            times = []
            for n in range(samples):
                who = rng.randrange(accounts)
                values: dict[str, object] = (
                    {"phone": f"138{who:08d}"}
                    if operation == "find_account"
                    else {"account_id": who + 1}
                )
                began = time.perf_counter()
                reply = bo.perform(Request(operation, values, f"b{n}"))  # type: ignore[arg-type]
                times.append((time.perf_counter() - began) * 1000)
                assert reply.result != "error", reply
            figures.append(Figure(f"{kind}: {operation} p50", "ms", [percentile(times, 0.5)]))
            figures.append(Figure(f"{kind}: {operation} p95", "ms", [percentile(times, 0.95)]))

        def throughput(work: str) -> float:
            done = [0] * threads
            stop = time.perf_counter() + seconds
            failures: list[BaseException] = []

            def run(i: int) -> None:
                local = random.Random(i)
                try:
                    while time.perf_counter() < stop:
                        if work == "lookup":
                            who = local.randrange(accounts)
                            bo.perform(Request("find_account", {"phone": f"138{who:08d}"}, "t"))
                            bo.perform(Request("recent_transactions", {"account_id": who + 1}, "t"))
                        else:
                            call = f"{work}-{i}-{done[i]}-{uuid.uuid4().hex[:6]}"
                            values = {
                                "account_id": None,
                                "category": "complaint",
                                "voice_message": None,
                            }
                            assert (
                                bo.perform(Request("file_ticket", values, call)).result == "filed"
                            )  # type: ignore[arg-type]
                        done[i] += 1
                except BaseException as error:
                    failures.append(error)

            pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
            began = time.perf_counter()
            for thread in pool:
                thread.start()
            for thread in pool:
                thread.join()
            if failures:
                raise failures[0]
            return sum(done) / (time.perf_counter() - began)

        figures.append(
            Figure(
                f"{kind}: lookups (find + recent) per second, {threads} threads",
                "/s",
                [throughput("lookup")],
            )
        )
        figures.append(
            Figure(
                f"{kind}: tickets filed per second, {threads} threads", "/s", [throughput("ticket")]
            )
        )
        bo.close()
        return figures
    finally:
        if server:
            drop_postgres(server, url)
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    args = arguments(__doc__ or "").parse_args()
    figures = [*measure("sqlite", args.quick), *measure("postgresql", args.quick)]
    report(figures, args)


if __name__ == "__main__":
    main()
