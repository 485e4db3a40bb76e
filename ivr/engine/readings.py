"""Call variables read aloud the way a Mandarin hotline reads them, and templates filled.

Numerals come from ``cn2an`` (a maintained converter), imported the first time a template
needs one: a keyed call of a menu without templates never loads it. The readings:

- ``money``: 123.45 -> 一百二十三元四角五分, 100 -> 一百元, 0.05 -> 五分, 100.05 -> 一百元零五分
- ``date``: 2026-12-02 -> 二零二六年十二月二日 (the year digit by digit, as it is said)
- ``time``: 14:05 -> 十四点零五分, 9:00 -> 九点整
- ``digits``: 13800138000 -> 幺三八零零幺三八零零零 (幺 for 1, as hotlines read numbers)
- ``number``: 123 -> 一百二十三, and 2 -> 两 (a count: 还可以再试两次)
- ``text``: the value as it is

A value that is not what its reading needs (``{merchant:money}``) is read as text: a call
never fails on a template.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from ivr.menu.templates import Field, parse

MISSING = ""
"""What an unset variable reads as (ivr check warns of variables set nowhere)."""


def _an2cn(number: str | int, mode: str = "low") -> str:
    import cn2an

    text: str = cn2an.an2cn(number, mode)
    return text


def money(value: Any) -> str:
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        return str(value)
    sign = "负" if amount < 0 else ""
    cents = abs(int(amount * 100))
    yuan, rest = divmod(cents, 100)
    jiao, fen = divmod(rest, 10)
    said = _an2cn(yuan) + "元" if yuan else ""
    if jiao:
        said += _an2cn(jiao) + "角"
    elif fen and yuan:
        said += "零"
    if fen:
        said += _an2cn(fen) + "分"
    return sign + (said or "零元")


def date(value: Any) -> str:
    if isinstance(value, dt.datetime):
        value = value.date()
    if not isinstance(value, dt.date):
        try:
            value = dt.date.fromisoformat(str(value))
        except ValueError:
            return str(value)
    year = _an2cn(str(value.year), "direct")
    return f"{year}年{_an2cn(value.month)}月{_an2cn(value.day)}日"


def time(value: Any) -> str:
    if isinstance(value, dt.datetime):
        value = value.time()
    if not isinstance(value, dt.time):
        try:
            value = dt.time.fromisoformat(str(value))
        except ValueError:
            return str(value)
    hour = _an2cn(value.hour)
    if value.minute == 0:
        return f"{hour}点整"
    minute = _an2cn(value.minute)
    return f"{hour}点{'零' if value.minute < 10 else ''}{minute}分"


def digits(value: Any) -> str:
    text = str(value)
    if not text.isdigit():
        return text
    return "".join(_an2cn(digit, "direct") for digit in text).replace("一", "幺")


def number(value: Any) -> str:
    try:
        count = int(value)
    except (ValueError, TypeError):
        return str(value)
    return "两" if count == 2 else _an2cn(count)  # 两次, 两笔: 2 before a measure word


_READERS = {"money": money, "date": date, "time": time, "digits": digits, "number": number}


def read(value: Any, reading: str = "") -> str:
    """``value`` as a hotline says it: by ``reading``, else by its type."""
    if value is None:
        return MISSING
    if not reading:
        if isinstance(value, bool):
            reading = "text"
        elif isinstance(value, Decimal):
            reading = "money"
        elif isinstance(value, dt.datetime):
            return date(value) + time(value)
        elif isinstance(value, dt.date):
            reading = "date"
        elif isinstance(value, dt.time):
            reading = "time"
        elif isinstance(value, int):
            reading = "number"
    reader = _READERS.get(reading)
    return str(value) if reader is None else reader(value)


def fill(text: str, variables: Mapping[str, Any], hidden: frozenset[str] = frozenset()) -> str:
    """A checked template with the call's variables read aloud; ``hidden`` variables (the
    sensitive ones) are never said, whatever the menu asks."""
    parts = []
    for literal, field in parse(text):
        parts.append(literal)
        if field is not None:
            parts.append(_value(field, variables, hidden))
    return "".join(parts)


def _value(field: Field, variables: Mapping[str, Any], hidden: frozenset[str]) -> str:
    if field.name in hidden:
        return MISSING
    return read(variables.get(field.name), field.reading)
