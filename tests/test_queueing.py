"""Erlang C against published tables, business hours, and what the queue says."""

from __future__ import annotations

import datetime as dt
import io
import json
import random
from pathlib import Path

import pytest

from ivr.drivers.centre import SimulatedCentre
from ivr.drivers.memory import MemoryBackOffice
from ivr.drivers.pool import CallPool
from ivr.drivers.population import load_population
from ivr.drivers.simulation import simulate
from ivr.engine import queueing
from ivr.engine.flow import CallFlow
from ivr.menu.model import load
from ivr.menu.problems import MenuInvalid

HERE = Path(__file__).parent
QUEUE_MENU = HERE / "menus" / "queue.zh-CN.yaml"


@pytest.fixture(scope="module")
def menu():  # type: ignore[no-untyped-def]
    return load(QUEUE_MENU, cached=False)


# -- Erlang C: published values -------------------------------------------------------------


def test_erlang_c_matches_the_textbook_value_for_two_erlangs_on_three_agents() -> None:
    assert queueing.erlang_c(3, 2.0) == pytest.approx(4 / 9, abs=1e-9)  # 0.4444


def test_erlang_c_matches_pyworkforces_published_example() -> None:
    # 100 calls in 30 min, 3 min AHT: 10 erlangs on 14 agents; pyworkforce's README gives
    # waiting probability 0.1741 and service level 0.8883 (20 s), occupancy 0.7143.
    assert queueing.erlang_c(14, 10.0) == pytest.approx(0.1741, abs=5e-4)
    assert queueing.service_level(14, 10.0, 180, 20) == pytest.approx(0.8883, abs=5e-4)


def test_erlang_c_edges() -> None:
    assert queueing.erlang_c(2, 2.0) == 1.0
    assert queueing.erlang_c(0, 1.0) == 1.0
    assert queueing.erlang_c(3, 0.0) == 0.0
    assert queueing.mean_wait(2, 3.0, 100) == float("inf")
    assert queueing.erlang_c(2000, 1900.0) < 1.0  # no overflow with thousands of agents


def test_the_estimate_is_spoken_in_whole_minutes_rounded_up() -> None:
    assert queueing.position_wait(3, 2, 180) == 270
    assert [queueing.spoken_minutes(s) for s in (1, 60, 61, 270)] == [1, 1, 2, 5]


# -- business hours ---------------------------------------------------------------------------


def test_hours_lunch_break_holiday_and_weekend(menu) -> None:  # type: ignore[no-untyped-def]
    spec = menu.contact_centre
    monday = dt.datetime(2026, 3, 16)
    assert queueing.is_open(spec, monday.replace(hour=10))
    assert not queueing.is_open(spec, monday.replace(hour=12, minute=30))  # lunch
    assert not queueing.is_open(spec, monday.replace(hour=18))  # end exclusive
    assert not queueing.is_open(spec, dt.datetime(2026, 5, 1, 10))  # a holiday (Friday)
    assert not queueing.is_open(spec, dt.datetime(2026, 3, 21, 10))  # Saturday
    assert queueing.agents_at(spec, monday.replace(hour=10)) == 2
    assert queueing.agents_at(spec, monday.replace(hour=14)) == 3
    assert queueing.agents_at(spec, monday.replace(hour=20)) == 0


def test_the_next_opening_is_said_as_a_day_and_a_time(menu) -> None:  # type: ignore[no-untyped-def]
    spec = menu.contact_centre
    cases = {
        dt.datetime(2026, 3, 16, 12, 30): "今天十三点",
        dt.datetime(2026, 3, 16, 20, 0): "明天九点",
        dt.datetime(2026, 3, 21, 10, 0): "星期一九点",
    }
    for moment, said in cases.items():
        opens = queueing.next_opening(spec, moment)
        assert opens is not None
        assert queueing.say_opening(opens, queueing.local(spec, moment)) == said


# -- the checker ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("time_zone: Asia/Shanghai", "time_zone: Mars/Olympus", "unknown time zone"),
        ('tue: ["09:00-18:00"]', 'tue: ["09:00-12:00", "11:00-18:00"]', "overlaps"),
        ('tue: ["09:00-18:00"]', 'tue: ["18:00-09:00"]', "ends before it starts"),
        (
            'keys: {self_service: "1", callback: "2"}',
            'keys: {self_service: "2", callback: "2"}',
            "both 2",
        ),
        ("hold: 请您耐心等待。", "hold: 请按3等待。", "announces key 3"),
        ("closed: 抱歉", "closed: 抱歉{when}", "unknown placeholder {when}"),
        ("max_queue: 10", "max_queue: 100000", "QUEUE_LENGTH"),
        ("handle_time: 180", "handle_time: 100000", "HANDLE_SECONDS"),
    ],
)
def test_ivr_check_names_each_contact_centre_problem_at_its_line(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    text = QUEUE_MENU.read_text(encoding="utf-8")
    assert old in text
    broken = tmp_path / "m.yaml"
    broken.write_text(text.replace(old, new), encoding="utf-8")
    with pytest.raises(MenuInvalid) as raised:
        load(broken, cached=False)
    rows = text.replace(old, new).splitlines()
    line = next(i for i, row in enumerate(rows, 1) if new.split(", ")[-1] in row)
    assert any(message in p.message and p.line == line for p in raised.value.problems), (
        raised.value.problems
    )


# -- the engine and the timeline ------------------------------------------------------------


def run_pool(menu, keys: str, at: dt.datetime, caller_id: str | None = "13800138000", office=None):  # type: ignore[no-untyped-def]
    from ivr.callers.scripted import ScriptPlan

    events: list[tuple[float, dict[str, object]]] = []
    centre = SimulatedCentre(menu.contact_centre, at, random.Random(0), background=False)
    pool = CallPool(
        CallFlow(menu),
        listeners=[lambda _id, e, t: events.append((t, e.to_record()))],
        backoffice=office or MemoryBackOffice(),
        centre=centre,
    )
    pool.start(ScriptPlan(keys), caller_id=caller_id)
    pool.run()
    return events, centre


def test_a_free_agent_answers_at_once(menu) -> None:  # type: ignore[no-untyped-def]
    events, _ = run_pool(menu, "0", dt.datetime(2026, 3, 16, 10))
    kinds = [e["type"] for _, e in events]
    assert kinds[-3:] == ["transfer", "agent", "call-end"]
    assert events[-2][1]["seconds"] == 0.0 and events[-1][1]["outcome"] == "transferred"


def test_closed_offers_self_service_and_1_goes_back_to_the_menu(menu) -> None:  # type: ignore[no-untyped-def]
    events, _ = run_pool(menu, "01", dt.datetime(2026, 3, 21, 10))
    records = [e for _, e in events]
    closed = next(i for i, e in enumerate(records) if e.get("reason") == "closed")
    assert records[closed]["type"] == "queue"
    assert records[closed + 1]["text"] == "抱歉，人工客服目前不在服务时间，星期一九点起为您服务。"
    assert records[closed + 2]["text"] == "返回自助服务请按1，登记回电请按2。"
    assert {"type": "state", "state": "main", "text": "主菜单"} in records[closed:]


def test_without_a_number_no_callback_is_offered(menu) -> None:  # type: ignore[no-untyped-def]
    events, _ = run_pool(menu, "02", dt.datetime(2026, 3, 21, 10), caller_id=None)
    texts = [e.get("text") for _, e in events]
    assert "返回自助服务请按1。" in texts
    assert not any(e["type"] == "callback" for _, e in events)


def test_a_callback_is_stored_once_per_call_with_its_number(menu) -> None:  # type: ignore[no-untyped-def]
    office = MemoryBackOffice()
    events, _ = run_pool(menu, "02", dt.datetime(2026, 3, 21, 10), office=office)
    assert list(office.callbacks.values()) == ["13800138000"]
    assert events[-1][1] == {"type": "call-end", "state": "main", "outcome": "callback"}
    from ivr.engine.backoffice import Request

    call_id = next(iter(office.callbacks))
    office.perform(Request("request_callback", {"number": "13900000000"}, call_id))
    assert office.callbacks[call_id] == "13800138000"  # idempotent on the call id


def test_the_queue_announces_position_and_estimate_and_stamps_the_wait(menu) -> None:  # type: ignore[no-untyped-def]
    from ivr.callers.scripted import ScriptedCaller
    from ivr.clock import VirtualClock
    from ivr.drivers.session import Session, simulated_centre
    from ivr.prompts.player import SilentPlayer

    flow = CallFlow(menu)
    clock = VirtualClock()
    events: list[dict[str, object]] = []
    centre = simulated_centre(flow, dt.datetime(2026, 3, 16, 10))
    Session(
        flow,
        ScriptedCaller("0", clock),
        SilentPlayer(),
        clock,
        [lambda e, t: events.append(e.to_record())],
        centre=centre,
        backoffice=MemoryBackOffice(),
        caller_id="1",
    ).run()
    enter = next(e for e in events if e.get("reason") == "enter")
    assert enter["count"] == 1 and enter["seconds"] == 90.0  # 1 x 180 s / 2 agents
    assert "您前面还有1位，预计等待约2分钟。" in [e.get("text") for e in events]
    assert any(e.get("reason") == "position" for e in events)  # repeated at the interval
    hangup = next(e for e in events if e["type"] == "hangup")
    assert hangup["seconds"] > 60  # hung up at the callback offer, after its wait
    assert events[-1]["outcome"] == "abandoned"


def test_a_menu_without_a_contact_centre_transfers_as_before(tmp_path: Path) -> None:
    text = (HERE.parent / "menus" / "wallet.zh-CN.yaml").read_text(encoding="utf-8")
    at = text.index("\ncontact_centre:")
    (tmp_path / "wallet.zh-CN.yaml").write_text(text[:at] + "\n", encoding="utf-8")
    (tmp_path / "wallet-service-guide.zh-CN.txt").write_bytes(
        (HERE.parent / "menus" / "wallet-service-guide.zh-CN.txt").read_bytes()
    )
    wallet = load(tmp_path / "wallet.zh-CN.yaml")
    assert wallet.contact_centre is None
    call, _ = CallFlow(wallet).start()
    events = CallFlow(wallet).handle(
        call, __import__("ivr.engine.inputs", fromlist=["KeyPress"]).KeyPress("0")
    )
    assert [e.type for e in events][-2:] == ["transfer", "call-end"]


def test_the_wallets_contact_centre_says_no_hours_staffing_or_callback_policy() -> None:
    """The wallet's guide names no hours, staffing or callback policy: its centre is the
    simulator's configuration, and the caller hears none of it but the estimate computed
    in the call (the guide tests check every prompt against the guide's claims too)."""
    wallet = load(HERE.parent / "menus" / "wallet.zh-CN.yaml")
    centre = wallet.contact_centre
    assert centre is not None
    prompts = centre.prompts
    assert prompts.position == "您前面还有{position}位，预计等待约{minutes}分钟。"
    assert "{opens}" not in prompts.closed  # no opening hours said
    for name in ("closed", "full", "offer", "offer_without_callback", "callback_offer"):
        text = getattr(prompts, name)
        assert not any(ch.isdigit() and ch not in "12" for ch in text), (name, text)
        assert not any(word in text for word in ("点", "分钟", "小时", "工作日", "名")), text
    guide = (HERE.parent / "menus" / "wallet-service-guide.zh-CN.txt").read_text(encoding="utf-8")
    assert prompts.hold.split("，")[0] in guide  # the hold prompt is the guide's own tip


# -- checked against theory -------------------------------------------------------------------


def test_the_simulated_queue_matches_erlang_c(tmp_path: Path) -> None:
    """Patient callers asking for an agent, 24/7, 5 agents, 120 s handle time, 100 calls per
    hour: A = 3.33 erlangs, Erlang C: mean wait 23.5 s, 75.3 % answered within 20 s. Over
    10,000 calls the simulation is within 25 % of the mean wait and 0.03 of the service level
    (seeds 1-6 measured 20.7-28.0 s and 0.730-0.765: a queue's mean wait converges slowly)."""
    text = QUEUE_MENU.read_text(encoding="utf-8")
    every_day = "\n".join(
        f'    {d}: ["00:00-24:00"]' for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    )
    start = text.index("  hours:")
    end = text.index("  holidays:")
    text = text[:start] + "  hours:\n" + every_day + "\n" + text[end:]
    text = text.replace('agents: {"09:00": 2, "13:00": 3}', 'agents: {"00:00": 5}')
    text = text.replace("handle_time: 180", "handle_time: 120").replace(
        "max_queue: 10", "max_queue: 10000"
    )
    text = text.replace("callback_after: 60", "callback_after: 3600")
    menu_path = tmp_path / "theory.yaml"
    menu_path.write_text(text, encoding="utf-8")
    population = tmp_path / "patient.yaml"
    population.write_text(
        "arrivals_per_hour: 100\nintents: [{target: agent, share: 1}]\n"
        "knowledge: {type_ahead: 0}\nwrong_key: 0\nsilence: 0\ncallback: 0\n"
        "patience: {menu: [3600, 3600], queue: [3600, 3600]}\n",
        encoding="utf-8",
    )
    summary = simulate(load(menu_path, cached=False), load_population(population), 10_000, seed=1)
    traffic = 100 / 3600 * 120
    expected_wait = queueing.mean_wait(5, traffic, 120)
    expected_level = queueing.service_level(5, traffic, 120, 20)
    assert summary.answered == 10_000
    assert summary.mean_wait == pytest.approx(expected_wait, rel=0.25)
    assert summary.service_level == pytest.approx(expected_level, abs=0.03)


# -- ivr simulate -----------------------------------------------------------------------------


def test_simulate_writes_one_block_of_lines_per_call_with_its_id(menu) -> None:  # type: ignore[no-untyped-def]
    population = HERE / "menus" / "population.queue.yaml"
    log = io.StringIO()
    summary = simulate(menu, load_population(population), 50, seed=1, log=log)
    lines = [json.loads(line) for line in log.getvalue().splitlines()]
    assert summary.calls == 50
    assert all("call" in line and "t" in line for line in lines)
    assert len({line["call"] for line in lines}) == 50
    ends = [line for line in lines if line["type"] == "call-end"]
    assert len(ends) == 50


def test_simulate_refuses_speech_and_unknown_targets(tmp_path: Path, menu) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "p.yaml"
    bad.write_text("arrivals_per_hour: 10\nintents: [{target: nowhere, share: 1}]\nspeech: 0.5\n")
    with pytest.raises(MenuInvalid) as raised:
        load_population(bad)
    assert "speech" in str(raised.value) and ":3:" in str(raised.value)
    bad.write_text("arrivals_per_hour: 10\nintents: [{target: nowhere, share: 1}]\n")
    from ivr.drivers.population import key_paths

    with pytest.raises(MenuInvalid, match="nowhere"):
        key_paths(menu, load_population(bad))
