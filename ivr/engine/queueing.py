"""Queueing theory and business hours for the contact centre: pure functions, no clock.

Erlang C is the M/M/c queue: calls arrive at random (Poisson, ``rate`` per second), each
agent handles one at a time for an exponentially distributed time (mean ``handle_time``),
and a caller who finds every agent busy waits, first come first served, without hanging up.
With traffic ``A = rate × handle_time`` erlangs on ``c`` agents (``A < c``):

- the chance of waiting at all is Erlang C, ``C(c, A)``, computed here through the Erlang B
  recurrence ``B(0) = 1``, ``B(n) = A·B(n-1) / (n + A·B(n-1))`` and
  ``C = c·B / (c - A·(1 - B))`` (stable for thousands of agents, no factorials);
- the mean wait is ``C · handle_time / (c - A)``;
- the service level, the share answered within ``t`` seconds, is
  ``1 - C · exp(-(c - A) · t / handle_time)``;
- a caller who joins the queue with ``P - 1`` callers ahead of them (position ``P``) while
  every agent is busy waits for ``P`` departures at rate ``c / handle_time``: on average
  ``P · handle_time / c``. That is the estimate the hotline says.

``pyworkforce`` computes the same figures but pulls in pandas and OR-Tools; these few lines
are tested against published Erlang C tables instead (tests/test_queueing.py).
"""

from __future__ import annotations

import datetime as dt
import math
from functools import cache

from ivr.menu.model import WEEKDAYS, ContactCentre


def erlang_b(agents: int, traffic: float) -> float:
    """Blocking probability of ``agents`` servers offered ``traffic`` erlangs."""
    b = 1.0
    for n in range(1, agents + 1):
        b = traffic * b / (n + traffic * b)
    return b


def erlang_c(agents: int, traffic: float) -> float:
    """The chance that a caller waits (every agent busy); 1 when the queue never empties."""
    if agents <= 0 or traffic >= agents:
        return 1.0
    if traffic <= 0:
        return 0.0
    b = erlang_b(agents, traffic)
    return agents * b / (agents - traffic * (1 - b))


def mean_wait(agents: int, traffic: float, handle_time: float) -> float:
    """Average seconds in the queue over all callers (the ASA); inf when overloaded."""
    if agents <= 0 or traffic >= agents:
        return math.inf
    return erlang_c(agents, traffic) * handle_time / (agents - traffic)


def service_level(agents: int, traffic: float, handle_time: float, within: float) -> float:
    """Share of callers answered within ``within`` seconds (those who never wait included)."""
    if agents <= 0 or traffic >= agents:
        return 0.0
    decay = math.exp(-(agents - traffic) * within / handle_time)
    return 1.0 - erlang_c(agents, traffic) * decay


def position_wait(position: int, agents: int, handle_time: float) -> float:
    """Expected seconds until an agent takes the caller at ``position`` (1: next), every
    agent being busy: ``position`` departures at ``agents / handle_time`` each second."""
    return position * handle_time / max(agents, 1)


def spoken_minutes(seconds: float) -> int:
    """The estimate as said: whole minutes, rounded up, at least one."""
    return max(1, math.ceil(seconds / 60 - 1e-9))


# -- business hours ------------------------------------------------------------------------


@cache
def zone(name: str) -> dt.tzinfo:
    import zoneinfo

    return zoneinfo.ZoneInfo(name)


def local(centre: ContactCentre, moment: dt.datetime) -> dt.datetime:
    """``moment`` in the centre's time zone (a naive moment is taken as already local)."""
    tz = zone(centre.time_zone)
    return moment.replace(tzinfo=tz) if moment.tzinfo is None else moment.astimezone(tz)


def _minute(moment: dt.datetime) -> float:
    return moment.hour * 60 + moment.minute + moment.second / 60 + moment.microsecond / 6e7


def _periods(centre: ContactCentre, day: dt.date) -> tuple[tuple[int, int], ...]:
    if day.isoformat() in centre.holidays:
        return ()
    return centre.hours.get(WEEKDAYS[day.weekday()], ())


def is_open(centre: ContactCentre, moment: dt.datetime) -> bool:
    """Whether agents answer at ``moment`` (business hours, not a holiday)."""
    here = local(centre, moment)
    minute = _minute(here)
    return any(start <= minute < end for start, end in _periods(centre, here.date()))


def next_opening(centre: ContactCentre, moment: dt.datetime) -> dt.datetime | None:
    """When agents next answer after ``moment`` (local time); None if never in a year."""
    here = local(centre, moment)
    minute = _minute(here)
    for ahead in range(0, 366):
        day = here.date() + dt.timedelta(days=ahead)
        for start, _ in sorted(_periods(centre, day)):
            if ahead == 0 and start <= minute:
                continue
            hour, rest = divmod(start, 60)
            return dt.datetime.combine(day, dt.time(hour, rest), tzinfo=here.tzinfo)
    return None


def _at(table: tuple[tuple[int, float], ...] | tuple[tuple[int, int], ...], minute: float) -> float:
    """The value of a time-of-day table at ``minute``; before its first entry, its last."""
    value = table[-1][1]
    for start, given in table:
        if start <= minute:
            value = given
    return value


def agents_at(centre: ContactCentre, moment: dt.datetime) -> int:
    """Agents on duty at ``moment``: none outside business hours."""
    if not is_open(centre, moment):
        return 0
    return int(_at(centre.agents, _minute(local(centre, moment))))


def calls_per_hour_at(centre: ContactCentre, moment: dt.datetime) -> float:
    """The declared load at ``moment`` (calls per hour reaching the queue while open)."""
    if not is_open(centre, moment):
        return 0.0
    return float(_at(centre.calls_per_hour, _minute(local(centre, moment))))


_WEEKDAY_WORDS = "一二三四五六日"


def say_opening(opens: dt.datetime, now: dt.datetime) -> str:
    """When agents are next available, as said in Mandarin: 今天十四点, 明天九点三十分,
    星期一九点."""
    from ivr.menu.model import chinese_number

    days = (opens.date() - local_date(now, opens.tzinfo)).days
    if days == 0:
        day = "今天"
    elif days == 1:
        day = "明天"
    else:
        day = "星期" + _WEEKDAY_WORDS[opens.weekday()]
    time = f"{chinese_number(opens.hour)}点"
    if opens.minute:
        time += f"{chinese_number(opens.minute)}分"
    return day + time


def local_date(moment: dt.datetime, tz: dt.tzinfo | None) -> dt.date:
    return (moment.replace(tzinfo=tz) if moment.tzinfo is None else moment.astimezone(tz)).date()
