"""``DatabaseBackOffice``: the contract's operations (``ivr.engine.backoffice.OPERATIONS``)
performed on the back-office database.

Importing this module is cheap; SQLAlchemy, Alembic and argon2 are imported when a
``DatabaseBackOffice`` is built. Values are checked here before any query: a value of the
wrong type, a text with a NUL or a lone surrogate (no database can store those), or an
unknown account is the ``error`` result, logged without the values (a PIN is never logged).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ivr.backoffice.settings import Rules, database_url
from ivr.engine.backoffice import ERROR, OPERATIONS, TICKET_CATEGORIES, Reply, Request, Value
from ivr.limits import RECORD_SECONDS

if TYPE_CHECKING:
    from ivr.backoffice.repository import Repository

log = logging.getLogger("ivr.backoffice")

MAX_TEXT = 4096
"""Longest text value an operation takes (a voice message's path)."""
MAX_CALL_ID = 200
"""Longest call id (the idempotency key of a ticket)."""
MAX_PIN = 64
MIN_CALLBACK, MAX_CALLBACK = 3, 15
"""How many digits a number to call back has (the schema's ``callbacks.phone``)."""


class InvalidValue(ValueError):
    """A value an operation cannot take (it is answered with ``error``)."""


class DatabaseBackOffice:
    """The back office on a database: SQLite (default) or PostgreSQL, by URL.

    ``url``: a SQLAlchemy URL or a SQLite file; None for ``$IVR_DATABASE_URL`` or the default
    file. ``create``: create the SQLite file and bring the schema to the newest version if
    needed (else a missing database is BackOfficeUnavailable). ``now``: the wall clock,
    a timezone-aware datetime (tests move it to see a lock run out).

    Raises ``BackOfficeUnavailable`` (one line) when the database cannot be reached, here
    and from ``perform``; thread-safe: one instance serves every call of a process.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        rules: Rules | None = None,
        create: bool = True,
        now: Callable[[], dt.datetime] | None = None,
    ) -> None:
        from ivr.backoffice.repository import Repository, utc_now

        self.rules = rules or Rules()
        self.url = database_url(url)
        self.repository: Repository = Repository(
            self.url, self.rules, create=create, now=now or utc_now
        )

    def perform(self, request: Request) -> Reply:
        operation = OPERATIONS.get(request.operation)
        if operation is None:
            log.warning("call %r: no operation %r", request.call_id, request.operation)
            return Reply(ERROR)
        values = request.values
        try:
            missing = [name for name in operation.takes if name not in values]
            if missing:
                raise InvalidValue(f"missing {', '.join(missing)}")
            reply = self._perform(request.operation, values, request.call_id)
        except InvalidValue as error:
            log.warning("call %r: %s: %s", request.call_id, request.operation, error)
            return Reply(ERROR)
        if reply.result == ERROR:
            log.warning("call %r: %s: unknown account", request.call_id, request.operation)
        return reply

    def _perform(self, name: str, values: Mapping[str, Value], call_id: str) -> Reply:
        r = self.repository
        if name == "find_account":
            phone = phone_number(values["phone"])
            return r.find_account(phone) if phone is not None else Reply("not_found")
        if name == "file_ticket":
            category = values["category"]
            if category not in TICKET_CATEGORIES:
                raise InvalidValue(f"category must be one of {', '.join(TICKET_CATEGORIES)}")
            account = values["account_id"]
            message = values["voice_message"]
            reference = None if message in (None, "") else text(message, "voice_message", MAX_TEXT)
            length = seconds(values.get("voice_seconds"))
            return r.file_ticket(
                text(call_id, "call_id", MAX_CALL_ID),
                None if account in (None, "") else account_id(account),
                str(category),
                reference,
                length,  # alone for a message whose audio was not kept
            )
        if name == "request_callback":
            phone = callback_number(values["number"])
            if phone is None:
                raise InvalidValue("number must be a telephone number")
            return r.request_callback(text(call_id, "call_id", MAX_CALL_ID), phone)
        account = account_id(values["account_id"])
        if name == "verify_pin":
            pin = values["pin"]
            if not isinstance(pin, str):
                raise InvalidValue("the PIN must be text (digits keep their leading zeros)")
            return r.verify_pin(account, text(pin, "pin", MAX_PIN))
        lookup: Callable[[int], Reply] = getattr(r, name)
        return lookup(account)

    def close(self) -> None:
        """Let go of the database's connections."""
        self.repository.db.dispose()


class ConnectingBackOffice:
    """A `DatabaseBackOffice` built at the first request, not before: a call that never
    reaches an action node never imports SQLAlchemy nor touches the database. A database
    that cannot be reached (missing, down, without schema) makes each request
    ``BackOfficeUnavailable`` (the call hears the apology, the timeline logs it once) and is
    tried again at the next request. Never creates the database (``ivr db init`` does)."""

    def __init__(self, url: str, *, rules: Rules | None = None) -> None:
        self.url = url
        self.rules = rules
        self.office: DatabaseBackOffice | None = None

    def perform(self, request: Request) -> Reply:
        if self.office is None:
            self.office = DatabaseBackOffice(self.url, rules=self.rules, create=False)
        return self.office.perform(request)

    def close(self) -> None:
        if self.office is not None:
            self.office.close()


def text(value: Any, name: str, limit: int) -> str:
    """``value`` as text any database stores exactly, or InvalidValue."""
    if not isinstance(value, str):
        raise InvalidValue(f"{name} must be text")
    if not value or len(value) > limit:
        raise InvalidValue(f"{name} must have 1 to {limit} characters")
    if "\0" in value:
        raise InvalidValue(f"{name} contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidValue(f"{name} is not valid Unicode") from None
    return value


def seconds(value: Any) -> Decimal | None:
    """A voice message's length: a number of seconds from 0 to RECORD_SECONDS, or None."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise InvalidValue("voice_seconds must be a number")
    try:
        found = Decimal(str(value))
    except ArithmeticError:
        raise InvalidValue("voice_seconds must be a number") from None
    if not found.is_finite() or not 0 <= found <= RECORD_SECONDS:
        raise InvalidValue(f"voice_seconds must be 0 to {RECORD_SECONDS:g}")
    return found.quantize(Decimal("0.001"))


def account_id(value: Any) -> int:
    """An account id as ``find_account`` gave it (an integer, or its digits as text)."""
    if isinstance(value, bool):
        raise InvalidValue("account_id must be an integer")
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18:
        value = int(value)
    if not isinstance(value, int) or not 0 < value < 2**63:
        raise InvalidValue("account_id must be a positive integer")
    return value


def callback_number(value: Any) -> str | None:
    """A number to call back, as it will be dialled: a mainland mobile as ``phone_number``
    gives it, else 3 to 15 digits with an optional leading ``+`` (a landline with its area
    code, a service number, an international caller ID); None if it cannot be dialled."""
    mobile = phone_number(value)
    if mobile is not None:
        return mobile
    if not isinstance(value, str) or len(value) > 32:
        return None
    digits = value.strip()
    for separator in " -()":
        digits = digits.replace(separator, "")
    plus, digits = (digits[:1], digits[1:]) if digits.startswith("+") else ("", digits)
    if digits.isascii() and digits.isdigit() and MIN_CALLBACK <= len(digits) <= MAX_CALLBACK:
        return plus + digits
    return None


def phone_number(value: Any) -> str | None:
    """A mainland mobile number, 11 digits from 1, from what a caller ID or the keypad gives
    (``+86``, ``0086``, spaces and dashes allowed); None if it cannot be one."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or len(value) > 32:
        return None
    digits = value.strip().replace(" ", "").replace("-", "")
    for prefix in ("+86", "0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            digits = digits[len(prefix) :]
    if len(digits) == 11 and digits.isascii() and digits.isdigit() and digits[0] == "1":
        return digits
    return None
