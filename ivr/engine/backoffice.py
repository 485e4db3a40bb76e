"""The contract between a call and the back office: named operations, their values, results.

A menu's action node names an operation and the call variables it passes; the driver asks
a :class:`BackOffice` to perform it (the engine stays pure: it only says what to ask and
branches on the reply). Every back office — the database one in ``ivr.backoffice``, the
in-memory one tests and demos use — implements this protocol and the operations below, so a
menu checked against one runs against any.

Values cross the boundary as strings, integers, ``Decimal`` amounts, dates and times, or
None: what a prompt template can read aloud (amounts as money, dates, numbers digit by digit).
A value whose name is listed in ``Request.sensitive`` (a PIN, a code, an ID number) is never
logged or shown; a reply never carries one back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from ivr.errors import IvrError

Value = str | int | Decimal | dt.date | dt.time | dt.datetime | None
"""What an operation takes and gives: readable aloud by a prompt template."""


@dataclass(frozen=True)
class Operation:
    """One operation: the values it takes and the results it may reply with (a menu's
    action node must branch on each result, or ``ivr check`` says which it forgot)."""

    name: str
    takes: tuple[str, ...]
    results: tuple[str, ...]
    gives: tuple[str, ...] = ()
    """The values a successful reply sets as call variables."""
    sensitive: tuple[str, ...] = ()
    """Values it takes that are never logged, shown or spoken back."""
    optional: tuple[str, ...] = ()
    """Values it also takes that may be left out (a menu written before them still runs)."""


FAILURE_CAUSES = ("余额不足", "网络不稳定", "支付限制", "安全审核")
"""The guide's four causes of a failed transaction, in its order."""

REAL_NAME_STATUSES = ("not_started", "under_review", "passed", "rejected")

TICKET_CATEGORIES = ("complaint", "suggestion")

VERIFIED = "yes"
"""The value ``verify_pin`` gives as ``verified`` when the PIN was right."""

ERROR = "error"
"""The result every operation may give when the back office fails (down, locked, a bug);
the driver also gives it when the reply does not come within the node's timeout."""

OPERATIONS: Mapping[str, Operation] = {
    op.name: op
    for op in (
        Operation(
            "find_account",
            takes=("phone",),
            results=("found", "not_found"),
            gives=("account_id", "masked_phone"),
        ),
        Operation(
            "verify_pin",
            takes=("account_id", "pin"),
            results=("verified", "wrong_pin", "locked"),
            gives=("attempts_left", "locked_until", "verified"),
            sensitive=("pin",),
        ),
        Operation(
            "latest_failed_transaction",
            takes=("account_id",),
            results=("found", "none"),
            gives=("date", "time", "merchant", "amount", "cause"),
        ),
        Operation(
            "latest_refund",
            takes=("account_id",),
            results=("found", "none"),
            gives=("date", "merchant", "amount", "status", "refund_count"),
        ),
        Operation(
            "recent_transactions",
            takes=("account_id",),
            results=("found", "none"),
            gives=(
                *(f"tx{i}_{name}" for i in (1, 2, 3) for name in ("date", "merchant", "amount")),
                "transaction_count",
            ),
        ),
        Operation(
            "real_name_status",
            takes=("account_id",),
            results=REAL_NAME_STATUSES,
            gives=("reason",),
        ),
        Operation(
            "e_invoice_status",
            takes=("account_id",),
            results=("supported", "not_supported", "none"),
            gives=("merchant", "amount", "date", "invoice_status"),
        ),
        Operation(
            "request_callback",
            takes=("number",),
            results=("stored",),
        ),
        Operation(
            "file_ticket",
            takes=("account_id", "category", "voice_message"),
            results=("filed",),
            optional=("voice_seconds",),
            gives=("ticket_number",),
        ),
    )
}
"""Every operation a back office performs. ``request_callback`` stores the number to call
back for the request's call id (idempotent: a retry stores nothing new); the queue asks it
when a caller accepts a callback. ``verify_pin`` gives ``verified`` = ``VERIFIED`` with the
``verified`` result only (the transfer's context says whether the caller was).
``account_id`` may be None (or empty) in ``file_ticket`` (an unverified caller);
``voice_message`` is the reference of the recorded message (a record node's variable:
``<call-id>-message.wav``), or None (or empty) when there is none or its file was not
kept; ``voice_seconds`` its length, None (or empty) for no message (a message kept
without its file has a length and no reference).
Every operation may also reply ``ERROR``."""


@dataclass(frozen=True)
class Request:
    """Perform ``operation`` with ``values`` for call ``call_id`` (the idempotency key: the
    same request for the same call twice files one ticket, not two)."""

    operation: str
    values: Mapping[str, Value]
    call_id: str
    caller_id: str | None = None
    sensitive: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Reply:
    """The result (one of the operation's ``results``, or ``ERROR``) and the values it gives."""

    result: str
    values: Mapping[str, Value] = field(default_factory=dict)


class BackOfficeUnavailable(IvrError):
    """The back office cannot answer now (database missing, locked, down). The call goes on:
    the driver replies ``ERROR`` and the menu offers an agent; logged once per call."""


class BackOffice(Protocol):
    """Performs the operations of ``OPERATIONS``; may raise BackOfficeUnavailable."""

    def perform(self, request: Request) -> Reply: ...
