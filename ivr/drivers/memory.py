"""An in-memory back office: the contract's operations over plain Python data.

For tests, scenarios and demos (``backoffice: demo`` in a scenario file): deterministic,
no files, no clock. The real one, over a database, is ``ivr.backoffice``; both implement
`ivr.engine.backoffice.BackOffice`, so a menu tested against this one runs against that.

The rules it keeps are the contract's: a wrong PIN counts an attempt, ``MAX_ATTEMPTS``
wrong PINs lock the account (``locked``, also for the right PIN afterwards), a right PIN
resets the count; ``file_ticket`` for the same call twice files one ticket. ``down`` makes
every request raise `BackOfficeUnavailable`; ``latency`` is the seconds of call time each
reply takes (`delay`, which the drivers read), so a slow back office can be simulated on a
virtual clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ivr.engine.backoffice import (
    OPERATIONS,
    VERIFIED,
    BackOfficeUnavailable,
    Reply,
    Request,
    Value,
)

MAX_ATTEMPTS = 3
"""Wrong PINs in a row that lock an account."""


@dataclass
class Transaction:
    date: dt.date
    time: dt.time
    merchant: str
    amount: Decimal
    status: str = "success"
    """success, failed or refunded."""
    cause: str | None = None
    """For a failed one: one of ``FAILURE_CAUSES``."""
    refund_status: str | None = None
    invoice: str | None = None
    """The e-invoice status, or None when the merchant does not issue them."""


@dataclass
class Account:
    account_id: str
    phone: str
    pin: str
    name: str = ""
    real_name_status: str = "passed"
    reason: str | None = None
    failed_attempts: int = 0
    locked: bool = False
    transactions: list[Transaction] = field(default_factory=list)
    """Newest first."""


@dataclass
class MemoryBackOffice:
    """The contract's operations over a list of accounts, in memory."""

    accounts: list[Account] = field(default_factory=list)
    latency: float = 0.0
    down: bool = False
    tickets: dict[str, str] = field(default_factory=dict)
    """Call id -> ticket number: one ticket per call, whatever the retries."""
    messages: dict[str, tuple[str | None, Decimal | None]] = field(default_factory=dict)
    """Call id -> the ticket's voice message: its reference (None when the call's audio,
    and so the message's file, was not kept) and length in seconds."""
    callbacks: dict[str, str] = field(default_factory=dict)
    """Call id -> the number to call back: one per call, whatever the retries."""
    requests: list[Request] = field(default_factory=list)
    """Every request performed, for tests."""

    def delay(self, request: Request) -> float:
        """Seconds of call time the reply to ``request`` takes."""
        return self.latency

    def perform(self, request: Request) -> Reply:
        if self.down:
            raise BackOfficeUnavailable("the back office is down")
        if request.operation not in OPERATIONS:
            raise ValueError(f"unknown operation {request.operation!r}")
        self.requests.append(request)
        handler = getattr(self, f"_{request.operation}")
        reply: Reply = handler(request.values, request)
        return reply

    def account(self, account_id: Value) -> Account | None:
        return next((a for a in self.accounts if a.account_id == account_id), None)

    # -- the operations ------------------------------------------------------------------

    def _find_account(self, values: Mapping[str, Value], request: Request) -> Reply:
        found = next((a for a in self.accounts if a.phone == values.get("phone")), None)
        if found is None:
            return Reply("not_found")
        masked = found.phone[:3] + "****" + found.phone[-4:]
        return Reply("found", {"account_id": found.account_id, "masked_phone": masked})

    def _verify_pin(self, values: Mapping[str, Value], request: Request) -> Reply:
        account = self.account(values.get("account_id"))
        if account is None:
            return Reply("wrong_pin", {"attempts_left": 0})
        if account.locked:
            return Reply("locked")
        if values.get("pin") == account.pin:
            account.failed_attempts = 0
            return Reply("verified", {"verified": VERIFIED})
        account.failed_attempts += 1
        if account.failed_attempts >= MAX_ATTEMPTS:
            account.locked = True
            return Reply("locked")
        return Reply("wrong_pin", {"attempts_left": MAX_ATTEMPTS - account.failed_attempts})

    def _latest_failed_transaction(self, values: Mapping[str, Value], request: Request) -> Reply:
        account = self.account(values.get("account_id"))
        failed = [t for t in account.transactions if t.status == "failed"] if account else []
        if not failed:
            return Reply("none")
        t = failed[0]
        return Reply(
            "found",
            {
                "date": t.date,
                "time": t.time,
                "merchant": t.merchant,
                "amount": t.amount,
                "cause": t.cause,
            },
        )

    def _latest_refund(self, values: Mapping[str, Value], request: Request) -> Reply:
        account = self.account(values.get("account_id"))
        refunds = [t for t in account.transactions if t.refund_status] if account else []
        if not refunds:
            return Reply("none")
        t = refunds[0]
        return Reply(
            "found",
            {
                "date": t.date,
                "merchant": t.merchant,
                "amount": t.amount,
                "status": t.refund_status,
                "refund_count": len(refunds),
            },
        )

    def _recent_transactions(self, values: Mapping[str, Value], request: Request) -> Reply:
        account = self.account(values.get("account_id"))
        recent = account.transactions[:3] if account else []
        if not recent:
            return Reply("none")
        given: dict[str, Value] = {"transaction_count": len(account.transactions) if account else 0}
        for i, t in enumerate(recent, start=1):
            given |= {
                f"tx{i}_date": t.date,
                f"tx{i}_merchant": t.merchant,
                f"tx{i}_amount": t.amount,
            }
        return Reply("found", given)

    def _real_name_status(self, values: Mapping[str, Value], request: Request) -> Reply:
        account = self.account(values.get("account_id"))
        if account is None:
            return Reply("not_started")
        return Reply(account.real_name_status, {"reason": account.reason})

    def _e_invoice_status(self, values: Mapping[str, Value], request: Request) -> Reply:
        account = self.account(values.get("account_id"))
        done = [t for t in account.transactions if t.status == "success"] if account else []
        if not done:
            return Reply("none")
        t = done[0]
        given: dict[str, Value] = {"merchant": t.merchant, "amount": t.amount, "date": t.date}
        if t.invoice is None:
            return Reply("not_supported", given)
        return Reply("supported", given | {"invoice_status": t.invoice})

    def _file_ticket(self, values: Mapping[str, Value], request: Request) -> Reply:
        number = self.tickets.get(request.call_id)
        if number is None:
            number = f"{20260001 + len(self.tickets)}"
            self.tickets[request.call_id] = number
            message, length = values.get("voice_message"), seconds_of(values.get("voice_seconds"))
            if message or length is not None:  # no file (audio not kept): its length alone
                self.messages[request.call_id] = (str(message) if message else None, length)
        return Reply("filed", {"ticket_number": number})

    def _request_callback(self, values: Mapping[str, Value], request: Request) -> Reply:
        number = values.get("number")
        if not isinstance(number, str) or not number:
            return Reply("error")
        self.callbacks.setdefault(request.call_id, number)
        return Reply("stored")


def seconds_of(value: Value) -> Decimal | None:
    """A message's length as given (a record node's ``<store>_seconds``), or None."""
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return None


def demo() -> MemoryBackOffice:
    """The demo data: a few callers, one for each case a self-service flow meets."""
    day = dt.date(2026, 3, 14)
    return MemoryBackOffice(
        [
            Account(
                "A001",
                "13800138000",
                "123456",
                "张伟",
                transactions=[
                    Transaction(
                        day, dt.time(14, 5), "城市超市", Decimal("123.45"), "failed", "余额不足"
                    ),
                    Transaction(day, dt.time(9, 30), "地铁出行", Decimal("4.00"), invoice="已开具"),
                ],
            ),
            Account(
                "A002",
                "13911112222",
                "222222",
                "李娜",
                real_name_status="rejected",
                reason="证件照片不清晰",
                transactions=[
                    Transaction(
                        day,
                        dt.time(20, 15),
                        "网上书店",
                        Decimal("58.00"),
                        refund_status="退款处理中",
                    )
                ],
            ),
            Account("A003", "13700000003", "000000", "王芳", real_name_status="under_review"),
        ]
    )


def from_data(data: Mapping[str, Any]) -> MemoryBackOffice:
    """A back office from a scenario's ``backoffice:`` mapping: ``accounts`` (phone, pin,
    and any of name, real_name_status, reason, failed_attempts, locked), ``latency``,
    ``down``; without ``accounts``, the demo accounts."""
    office = demo() if "accounts" not in data else MemoryBackOffice()
    for index, raw in enumerate(data.get("accounts", []), start=1):
        given: dict[str, Any] = {k: v for k, v in raw.items() if k in Account.__dataclass_fields__}
        for name in ("phone", "pin", "account_id"):
            if name in given:
                given[name] = str(given[name])
        given.setdefault("account_id", f"S{index:03d}")
        given["transactions"] = [_transaction(t) for t in raw.get("transactions", [])]
        office.accounts.append(Account(**given))
    office.latency = float(data.get("latency", 0.0))
    office.down = bool(data.get("down", False))
    return office


def _transaction(raw: Mapping[str, Any]) -> Transaction:
    """A transaction of a scenario's account: dates and times as ISO text, amounts exact."""
    given = dict(raw)
    given["date"] = dt.date.fromisoformat(str(given["date"]))
    given["time"] = dt.time.fromisoformat(str(given["time"]))
    given["amount"] = Decimal(str(given["amount"]))
    return Transaction(**given)
