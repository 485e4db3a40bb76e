"""The wallet's self-service flows against the real back office, the same tests on SQLite and
on a real PostgreSQL server (``tests/backoffice_db.py``): every database scenario of
``tests/calls/wallet`` played on each, the lock-out persisted across calls, tickets written
once per call (a hang-up at any moment leaves a whole ticket or none), the transfer's context.
No mock: the demo data is built in the database by ``ivr.backoffice.demo``.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from ivr.backoffice import schema as s
from ivr.backoffice.database import Database
from ivr.backoffice.office import DatabaseBackOffice
from ivr.backoffice.settings import Rules, database_url
from ivr.clock import VirtualClock
from ivr.drivers.session import Session
from ivr.engine.events import EventType, Outcome
from ivr.engine.flow import CallFlow
from ivr.engine.inputs import CallerAction, HangUp, KeyPress
from ivr.menu.model import load
from ivr.outputs.artifacts import CallAudio
from ivr.outputs.call_log import CallLog
from ivr.prompts.player import SilentPlayer
from ivr.scenarios import Status, load_scenario, run_scenario
from ivr.scenarios.running import DEMO_ACCOUNTS, DEMO_NOW, DEMO_SEED
from tests.backoffice_db import (
    BACKENDS,
    DemoTemplates,
    db_url,  # noqa: F401  (the fixture: each database)
)
from tests.backoffice_db import demo_pins_hashed_once as demo_pins_hashed_once  # fixture
from tests.conftest import ROOT

WALLET = ROOT / "menus" / "wallet.zh-CN.yaml"
CALLS = ROOT / "tests" / "calls" / "wallet"
NOW = dt.datetime.fromisoformat(DEMO_NOW)
FAILED_PAYMENT = ("13818034063", "596853")  # seed 1's first caller: 余额不足
DIGITS = dict(zip("幺二三四五六七八九零", "1234567890", strict=True))
# Every test here builds the demo data: its PINs hashed once per process (tests/backoffice_db.py).
pytestmark = pytest.mark.usefixtures("demo_pins_hashed_once")


@functools.cache  # loads every scenario (and its menu): once, at collection
def database_scenarios() -> list[Path]:
    found = []
    for path in sorted(CALLS.glob("*.call.yaml")):
        data = load_scenario(path).backoffice
        if data is not None and data.get("database") == "demo":
            found.append(path)
    return found


def test_the_database_scenarios_are_the_self_service_ones() -> None:
    names = [p.name for p in database_scenarios()]
    assert len(names) >= 20 and all(n.startswith("self-") for n in names)


# On SQLite each of these scenarios is played by tests/test_coverage.py::
# test_the_shipped_wallet_scenarios_pass (and again as an item of tests/calls/): on a copy of
# the demo data that the same ``build`` made in a SQLite file. Here they are played where
# nothing else plays them: built by ``run_scenario`` in a real PostgreSQL database.
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("path", database_scenarios(), ids=lambda p: p.name.split(".")[0])
def test_each_database_scenario_passes_on_postgresql(path: Path, db_url: str) -> None:  # noqa: F811
    result = run_scenario(path, database=db_url, raise_errors=True)
    assert result.status is Status.PASSED, result.explain()


# --- one database, several calls ---------------------------------------------------------


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoTemplates]:
    made = DemoTemplates(tmp_path_factory.mktemp("demo-templates"))
    yield made
    made.close()


@pytest.fixture(params=BACKENDS)
def demo(request: pytest.FixtureRequest, templates: DemoTemplates, tmp_path: Path) -> Iterator[str]:
    """A fresh database of each kind with the demo data (copied from one built per module)."""
    yield from templates.copy(request.param, tmp_path, DEMO_ACCOUNTS, DEMO_SEED, NOW)


def office(url: str) -> DatabaseBackOffice:
    return DatabaseBackOffice(url, create=False, now=lambda: NOW)


class Keys:
    """A caller pressing keys when the hotline listens, and hanging up at ``hang_up``:
    "listening" (when the keys are done and it listens), "waiting" (at the first moment
    it does not listen after the keys: the back office working on the last request)."""

    def __init__(self, keys: str, hang_up: str = "listening") -> None:
        self.keys = list(keys)
        self.hang_up = hang_up

    def next_input(self, until: float, listening: bool) -> CallerAction | None:
        if self.keys:
            return KeyPress(self.keys.pop(0)) if listening else None
        if self.hang_up == "waiting" and not listening:
            return HangUp()
        return HangUp() if listening else None

    def expect(self, grammar: tuple[str, ...], end_of_speech: float | None) -> None:
        pass


def call(
    url: str,
    keys: str,
    tmp_path: Path,
    caller_id: str | None = FAILED_PAYMENT[0],
    hang_up: str = "listening",
    latency: float = 0.0,
    out: Path | None = None,
) -> list[dict[str, Any]]:
    """One wallet call on the database at ``url``; its log's records. ``out``: keep the
    call's audio there (call.wav and its voice messages), as ``--out`` does."""
    from ivr.scenarios.running import _Slowed

    log_path = tmp_path / f"call-{len(list(tmp_path.glob('call-*')))}.jsonl"
    log = CallLog(log_path)
    backoffice = office(url)
    asked = _Slowed(backoffice, latency) if latency else backoffice
    audio = CallAudio(None) if out is not None else None
    try:
        Session(
            CallFlow(load(WALLET)),
            Keys(keys, hang_up),
            SilentPlayer(),
            VirtualClock(),
            [log] if audio is None else [log, audio],
            backoffice=asked,
            caller_id=caller_id,
            keeps_audio=audio is not None,
        ).run()
    finally:
        log.close()
        backoffice.close()
    if audio is not None and out is not None:
        out.mkdir(exist_ok=True)
        audio.write(out / "call.wav")
    return [json.loads(line) for line in log_path.read_text("utf-8").splitlines()]


def tickets(url: str) -> list[dict[str, Any]]:
    db = Database(database_url(url), Rules(), create=False)
    try:
        with db.reading() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.select(s.tickets))]
    finally:
        db.dispose()


def ticket_read(records: list[dict[str, Any]]) -> str | None:
    for record in records:
        found = re.search(r"反馈编号是([幺二三四五六七八九零]{10})", record.get("text", ""))
        if found:
            return "".join(DIGITS[c] for c in found.group(1))
    return None


def states(records: list[dict[str, Any]]) -> list[str]:
    return [r["state"] for r in records if r["type"] == "state"]


def test_three_wrong_pins_lock_the_account_for_the_next_call_too(demo: str, tmp_path: Path) -> None:
    first = call(demo, "24111111#1222222#1333333#", tmp_path)
    assert states(first)[-2:] == ["pin_locked", "account"]  # said, then back
    pin = FAILED_PAYMENT[1]
    second = call(demo, f"24{pin}#1", tmp_path)  # the right PIN, in a new call
    assert "pin_locked" in states(second) and "my_account" not in states(second)
    assert not any(pin in json.dumps(r, ensure_ascii=False) for r in first + second)


def test_a_complaint_is_one_ticket_in_the_database_with_the_number_read(
    demo: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    records = call(demo, "541#", tmp_path, caller_id=None, out=out)  # the audio kept
    number = ticket_read(records)
    (ticket,) = tickets(demo)
    assert ticket["ticket_number"] == number
    assert len(ticket["call_id"]) == 32  # the call's id: its idempotency key
    (ended,) = [r for r in records if r["type"] == "record" and r["reason"] == "terminator"]
    assert (ticket["category"], ticket["account_id"], ticket["voice_message"]) == (
        "complaint",
        None,
        f"{ticket['call_id']}-message.wav",  # the message, named by the call's id
    )
    assert ended["text"] == ticket["voice_message"]
    assert (out / ticket["voice_message"]).is_file()  # the file it names was written
    assert ticket["voice_seconds"] == Decimal(str(ended["seconds"]))


def test_a_message_whose_audio_is_not_kept_is_its_length_and_no_file_reference(
    demo: str, tmp_path: Path
) -> None:
    """A keys-only call without ``--out`` writes no file: the ticket names none."""
    records = call(demo, "541#", tmp_path, caller_id=None)
    (ticket,) = tickets(demo)
    (ended,) = [r for r in records if r["type"] == "record" and r["reason"] == "terminator"]
    assert "text" not in ended
    assert ticket["voice_message"] is None
    assert ticket["voice_seconds"] == Decimal(str(ended["seconds"]))
    assert not list(tmp_path.glob("*.wav"))


def test_a_complaint_without_a_message_stores_none(demo: str, tmp_path: Path) -> None:
    call(demo, "5411", tmp_path, caller_id=None)  # 不留言请按1
    (ticket,) = tickets(demo)
    assert (ticket["voice_message"], ticket["voice_seconds"]) == (None, None)


def test_a_hang_up_during_the_message_leaves_no_ticket(demo: str, tmp_path: Path) -> None:
    records = call(demo, "541", tmp_path, caller_id=None)  # hangs up while recorded
    assert [r["type"] for r in records][-3:] == ["record", "hangup", "call-end"]
    assert records[-3]["reason"] == "hangup" and "text" not in records[-3]
    assert tickets(demo) == []


def test_a_verified_callers_suggestion_names_the_account_and_a_second_is_the_same_ticket(
    demo: str, tmp_path: Path
) -> None:
    _phone, pin = FAILED_PAYMENT
    records = call(demo, f"24{pin}#62#" + "21", tmp_path)  # a message, then none
    numbers = {
        "".join(DIGITS[c] for c in m)
        for r in records
        for m in re.findall(r"反馈编号是([幺二三四五六七八九零]{10})", r.get("text", ""))
    }
    (ticket,) = tickets(demo)  # one call, one ticket: the second request got the same
    assert numbers == {ticket["ticket_number"]}
    assert ticket["category"] == "suggestion" and ticket["account_id"] is not None


def test_a_hang_up_before_the_request_leaves_no_ticket(demo: str, tmp_path: Path) -> None:
    records = call(demo, "54", tmp_path, caller_id=None)
    assert records[-1]["outcome"] == Outcome.ABANDONED
    assert tickets(demo) == []


def test_a_hang_up_while_the_ticket_is_filed_leaves_it_whole(demo: str, tmp_path: Path) -> None:
    records = call(demo, "541#", tmp_path, caller_id=None, hang_up="waiting", latency=4.9)
    # the request was sent; the caller hung up while the hotline waited for its reply
    assert [r["type"] for r in records][-3:] == ["request", "hangup", "call-end"]
    assert records[-1]["state"] == "file_complaint"  # the number was never read
    assert ticket_read(records) is None
    (ticket,) = tickets(demo)
    assert ticket["category"] == "complaint" and len(ticket["ticket_number"]) == 10


def test_the_transfer_carries_what_the_agent_needs_and_never_the_pin(
    demo: str, tmp_path: Path
) -> None:
    phone, pin = FAILED_PAYMENT
    records = call(demo, f"24{pin}#10", tmp_path)
    (transfer,) = [r for r in records if r["type"] == EventType.TRANSFER]
    context = transfer["context"]
    assert context["verified"] == "yes"
    assert context["account"] == phone[:3] + "****" + phone[-4:]
    assert context["path"].split(" › ") == [
        "主菜单",
        "交易咨询",
        "自助查询",
        "输入支付密码",
        "验证支付密码",
        "本人账户查询",
        "失败的交易",
        "失败原因",
        "原因：余额不足",
    ]
    assert context["case"] == "latest_failed_transaction: found"
    assert (context["cause"], context["amount"]) == ("余额不足", "854.37")
    text = json.dumps(records, ensure_ascii=False)
    assert pin not in text and phone not in text


def test_an_unverified_transfer_says_so_and_reads_nothing(demo: str, tmp_path: Path) -> None:
    records = call(demo, "24" + "111111#" + "0", tmp_path)
    (transfer,) = [r for r in records if r["type"] == EventType.TRANSFER]
    context = transfer["context"]
    assert context["verified"] == "no" and context["case"] == "verify_pin: wrong_pin"
    assert set(context) == {"verified", "account", "path", "case"}
