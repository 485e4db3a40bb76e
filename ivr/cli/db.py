"""``ivr db``: create or upgrade the back-office database, fill it with demo callers, list
them for a trainer."""

from __future__ import annotations

import argparse

from ivr.cli.common import console


def init(args: argparse.Namespace) -> int:
    """Create the database (or bring its schema up to date); with ``--demo N``, replace the
    demo callers with N new ones."""
    from ivr.backoffice.database import Database
    from ivr.backoffice.demo import load
    from ivr.backoffice.repository import utc_now
    from ivr.backoffice.settings import Rules, database_url

    out = console()
    db = Database(database_url(args.db), Rules(), create=True)
    try:
        before, after = db.migrate()
        what = (
            "created"
            if before is None
            else "already up to date"
            if before == after
            else f"upgraded from version {before}"
        )
        out.print(f"back office at {db.where}: schema version {after}, {what}", markup=False)
        if args.demo is not None:
            made = load(db, args.demo, args.seed, utc_now())
            out.print(
                f"{made} demo callers (seed {args.seed}); `ivr db accounts` lists them with "
                "their demo PINs",
                markup=False,
            )
    finally:
        db.dispose()
    return 0


def accounts(args: argparse.Namespace) -> int:
    """The demo callers: phone, demo PIN, case, name and what the case is about."""
    from ivr.backoffice.database import Database
    from ivr.backoffice.demo import callers
    from ivr.backoffice.settings import Rules, database_url

    out = console()
    db = Database(database_url(args.db), Rules(), create=False)
    try:
        found = list(callers(db, args.case))
    finally:
        db.dispose()
    if not found:
        which = f" with case {args.case}" if args.case else ""
        out.print(
            f"no demo callers{which} in {db.where}: run `ivr db init --demo 100`", markup=False
        )
        return 0
    out.print(
        f"demo callers in {db.where} — the PINs are training data: real accounts' PINs are "
        "never kept in clear",
        markup=False,
        soft_wrap=True,
    )
    out.print(f"{'phone':<12} {'PIN':<7} {'case':<15} name / case", markup=False)
    for caller in found:
        out.print(
            f"{caller.phone:<12} {caller.pin:<7} {caller.case:<15} {caller.name} / {caller.detail}",
            markup=False,
            soft_wrap=True,
        )
    return 0


def tickets(args: argparse.Namespace) -> int:
    """The complaints and suggestions filed, newest first: number, when, category, the
    account (masked phone, or none for an unverified caller), the call's id."""
    from ivr.backoffice.database import Database
    from ivr.backoffice.repository import filed_tickets
    from ivr.backoffice.settings import Rules, database_url

    out = console()
    db = Database(database_url(args.db), Rules(), create=False)
    try:
        found = filed_tickets(db, args.last)
    finally:
        db.dispose()
    if not found:
        out.print(f"no tickets in {db.where}", markup=False)
        return 0
    out.print(
        f"{'ticket':<11} {'filed':<16} {'category':<11} {'account':<12} call id",
        markup=False,
    )
    for t in found:
        out.print(
            f"{t.number:<11} {t.filed:%Y-%m-%d %H:%M} {t.category:<11} {t.account:<12} {t.call_id}"
            + (f"  voice message: {t.voice_message}" if t.voice_message else "")
            + (
                f" ({t.voice_seconds:g} s)"
                if t.voice_message and t.voice_seconds is not None
                else ""
            )
            + (
                f"  voice message: {t.voice_seconds:g} s, its audio not kept"
                if t.voice_seconds is not None and not t.voice_message
                else ""
            ),
            markup=False,
            soft_wrap=True,
        )
    return 0
