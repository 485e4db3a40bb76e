"""The web phone's server (``ivr serve``) at the protocol level: a plain WebSocket client
(Starlette's TestClient) places calls, presses keys, sends bad messages and floods, and
fetches (or fails to fetch) the calls' files."""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from ivr.clock import VirtualClock
from ivr.drivers.session import Session
from ivr.engine.flow import CallFlow
from ivr.engine.inputs import CallerAction, HangUp, KeyPress
from ivr.limits import CALLER_ID_DIGITS
from ivr.menu.model import Menu
from ivr.outputs.call_log import CallLog
from ivr.prompts.player import RenderingPlayer
from ivr.web import protocol
from ivr.web.app import create_app
from ivr.web.hotline import Hotline
from ivr.web.protocol import FRAME_BYTES, Bucket, Message, Problem, read_text
from tests.backoffice_db import db_url as db_url  # fixture, used by name
from tests.backoffice_db import demo_pins_hashed_once as demo_pins_hashed_once  # fixture
from tests.web_helpers import (
    ToneFiles,
    console_log,
    demo_database,
    failed_payment_keys,
    self_service_call,
    until,
    until_state,
)

SETTINGS = settings(deadline=None, derandomize=True, database=None)


@pytest.fixture
def hotline(wallet: Menu, tmp_path: Path) -> Iterator[Hotline]:
    line = Hotline(
        wallet,
        ToneFiles(tmp_path / "prompts"),
        tmp_path / "calls",
        max_calls=3,
        db=str(tmp_path / "backoffice.sqlite3"),  # none: never the user's own
    )
    yield line
    line.close()


@pytest.fixture
def client(hotline: Hotline) -> Iterator[TestClient]:
    with TestClient(create_app(hotline)) as test_client:
        yield test_client


def _call(ws: Any, caller_id: str = "") -> None:
    assert ws.receive_json()["type"] == "ready"
    ws.send_json({"type": "call", "caller_id": caller_id})
    until(ws, "play")


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def _without_times(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "t"} for r in records]


def _press_1_2(ws: Any) -> list[dict[str, Any]]:
    """Call, press 1 and 2 each while the node's first prompt plays, hang up; the last
    message is ``ended``."""
    _call(ws)
    ws.send_json({"type": "key", "key": "1"})
    until_state(ws, "account")
    until(ws, "play")
    ws.send_json({"type": "key", "key": "2"})
    until_state(ws, "password_recovery")
    until(ws, "play")
    ws.send_json({"type": "hangup"})
    return until(ws, "ended")


# -- messages -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"type": "key", "key": "#"}', Message("key", key="#")),
        (
            '{"type": "call", "caller_id": "8613800138000"}',
            Message("call", caller_id="8613800138000"),
        ),
        ('{"type": "call"}', Message("call")),
        ('{"type": "mic", "on": true}', Message("mic", on=True)),
        ('{"type": "hangup"}', Message("hangup")),
    ],
)
def test_valid_messages_are_read(text: str, expected: Message) -> None:
    assert read_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        "[1, 2]",
        '{"key": "1"}',
        '{"type": 3}',
        '{"type": "key", "key": "A"}',
        '{"type": "key", "key": "12"}',
        '{"type": "key"}',
        '{"type": "call", "caller_id": "138; rm -rf"}',
        '{"type": "call", "caller_id": "1234567890123456789012"}',
        '{"type": "call", "caller_id": "+8613800138000"}',
        '{"type": "call", "caller_id": "138 0013 8000"}',
        '{"type": "call", "caller_id": "\u0663\u0663"}',
        '{"type": "call", "caller_id": 13800138000}',
        '{"type": "mic", "on": "yes"}',
        '{"type": "dial"}',
    ],
)
def test_malformed_messages_get_an_error_and_keep_the_socket(text: str) -> None:
    checked = read_text(text)
    assert isinstance(checked, Problem) and checked.close is None, checked


@SETTINGS
@given(
    st.text(
        st.sampled_from([*"0123456789", "+", " ", "\u0663", "１", "²", "a", "\x00"]), max_size=60
    )
)
def test_a_caller_id_is_taken_exactly_when_digits_within_the_limit(caller_id: str) -> None:
    checked = read_text(json.dumps({"type": "call", "caller_id": caller_id}))
    valid = all(c in "0123456789" for c in caller_id) and len(caller_id) <= CALLER_ID_DIGITS
    assert (
        checked == Message("call", caller_id=caller_id) if valid else isinstance(checked, Problem)
    )
    if isinstance(checked, Problem):
        assert checked.close is None, "the call may be placed again with a good number"
        if all(c in "0123456789" for c in caller_id):
            assert "CALLER_ID_DIGITS" in checked.error and str(CALLER_ID_DIGITS) in checked.error


@SETTINGS
@given(st.integers(min_value=0, max_value=protocol.MAX_TEXT))
def test_caller_ids_up_to_the_limit_are_taken_and_longer_refused(digits: int) -> None:
    checked = read_text(json.dumps({"type": "call", "caller_id": "1" * digits}))
    assert isinstance(checked, Message) == (digits <= CALLER_ID_DIGITS), digits


def test_an_oversized_message_closes_the_socket() -> None:
    checked = read_text('{"type": "key", "key": "1", "x": "' + "a" * 600 + '"}')
    assert isinstance(checked, Problem) and checked.close == protocol.TOO_LARGE


def test_audio_frames_must_be_20_ms() -> None:
    assert protocol.check_frame(bytes(FRAME_BYTES)) is None
    short = protocol.check_frame(bytes(FRAME_BYTES - 2))
    assert short is not None and short.close is None
    large = protocol.check_frame(bytes(FRAME_BYTES + 2))
    assert large is not None and large.close == protocol.TOO_LARGE


def test_the_bucket_refuses_a_flood_and_refills() -> None:
    now = [0.0]
    bucket = Bucket(rate=10, burst=3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    now[0] += 0.1  # one more token
    assert [bucket.take(), bucket.take()] == [True, False]


# -- calls ------------------------------------------------------------------------------------


def test_keys_lead_through_the_menu_and_the_log_holds_them(
    client: TestClient, hotline: Hotline
) -> None:
    with client.websocket_connect("/ws") as ws:
        messages = _press_1_2(ws)
    ended = messages[-1]
    assert ended["outcome"] == "abandoned"
    assert sorted(ended["downloads"]) == ["call.jsonl", "call.wav", "transcript.txt"]
    log = client.get(ended["downloads"]["call.jsonl"])
    assert log.status_code == 200
    keys = [r["key"] for r in map(json.loads, log.text.splitlines()) if r["type"] == "key"]
    assert keys == ["1", "2"]
    transcript = client.get(ended["downloads"]["transcript.txt"]).text
    assert "如果您忘记了密码" in transcript
    wav = client.get(ended["downloads"]["call.wav"])
    assert wav.headers["content-type"] == "audio/wav" and wav.content[:4] == b"RIFF"


def test_the_page_is_told_which_prompt_to_play_and_can_fetch_it(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        assert ws.receive_json()["type"] == "ready"
        ws.send_json({"type": "call"})
        play = until(ws, "play")[-1]
        assert play["text"].startswith("您好") or play["text"]
        audio = client.get(play["url"])
        assert audio.status_code == 200 and audio.content[:4] == b"RIFF"
        ws.send_json({"type": "key", "key": "1"})
        assert "stop" in [m["type"] for m in until(ws, "play")], "barge-in stops the prompt"
        ws.send_json({"type": "hangup"})
        until(ws, "ended")
    assert client.get("/prompts/" + "0" * 24 + ".wav").status_code == 404


def test_a_web_call_logs_what_a_session_with_the_same_keys_logs(
    client: TestClient, hotline: Hotline, wallet: Menu, tmp_path: Path
) -> None:
    with client.websocket_connect("/ws") as ws:
        ended = _press_1_2(ws)[-1]
    web = _records(next(hotline.out.glob("call-*")) / "call.jsonl")
    assert client.get(ended["downloads"]["call.jsonl"]).text.splitlines() == [
        json.dumps(r, ensure_ascii=False) for r in web
    ]

    clock = VirtualClock()

    class Keys:
        """Each action the moment the hotline starts to wait: a key on a prompt's start."""

        def __init__(self) -> None:
            self.actions: list[CallerAction] = [KeyPress("1"), KeyPress("2"), HangUp()]

        def expect(self, phrases: tuple[str, ...], end_of_speech: float | None) -> None:
            pass

        def next_input(self, until: float, listening: bool) -> CallerAction | None:
            if self.actions:
                return self.actions.pop(0)
            clock.sleep_until(until)
            return None

    log_path = tmp_path / "console.jsonl"
    log = CallLog(log_path)
    player = RenderingPlayer(hotline.prompts.files)
    Session(CallFlow(wallet), Keys(), player, clock, [log]).run()
    log.close()
    console = _records(log_path)
    assert _without_times(web) == _without_times(console)
    assert [r["type"] for r in web].count("barge-in") == 2


def test_the_caller_id_is_the_call_variable(client: TestClient, hotline: Hotline) -> None:
    with client.websocket_connect("/ws") as ws:
        _call(ws, caller_id="13800138000")
        ws.send_json({"type": "hangup"})
        until(ws, "ended")
    assert hotline.calls  # placed; the engine got the number (no action node reads it here)
    call = next(iter(hotline.calls.values()))
    assert call.done.is_set()


# -- bad messages, floods, the limit ---------------------------------------------------------


def test_bad_messages_get_errors_and_the_call_goes_on(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        assert ws.receive_json()["type"] == "ready"
        ws.send_json({"type": "key", "key": "1"})
        assert "no call yet" in until(ws, "error")[-1]["error"]
        ws.send_json({"type": "call"})
        until(ws, "play")
        for bad in ["{oops", '{"type": "dial"}', '{"type": "key", "key": "x"}']:
            ws.send_text(bad)
            assert until(ws, "error")[-1]["error"]
        ws.send_json({"type": "call"})
        assert "placed its call" in until(ws, "error")[-1]["error"]
        ws.send_bytes(bytes(FRAME_BYTES))
        assert "microphone" in until(ws, "error")[-1]["error"]
        ws.send_bytes(bytes(100))
        assert "100 bytes" in until(ws, "error")[-1]["error"]
        ws.send_json({"type": "key", "key": "1"})
        until_state(ws, "account")
        ws.send_json({"type": "hangup"})
        assert until(ws, "ended")[-1]["outcome"] == "abandoned"


@pytest.mark.parametrize(
    ("send", "code"),
    [
        (lambda ws: ws.send_text('{"type": "key", "key": "1", "pad": "' + "x" * 1000 + '"}'), 1009),
        (lambda ws: ws.send_bytes(bytes(FRAME_BYTES * 4)), 1009),
    ],
    ids=["long-text", "large-frame"],
)
def test_oversized_messages_close_the_socket_and_the_log_is_kept(
    client: TestClient, hotline: Hotline, send: Any, code: int
) -> None:
    with client.websocket_connect("/ws") as ws:
        _call(ws)
        send(ws)
        assert "too l" in until(ws, "error")[-1]["error"]
        with pytest.raises(WebSocketDisconnect) as closed:
            until(ws, "never")
        assert closed.value.code == code
    _wait_ended(hotline)
    records = _records(next(hotline.out.glob("call-*")) / "call.jsonl")
    assert records[-1]["type"] == "call-end" and records[-1]["outcome"] == "abandoned"


def _wait_ended(hotline: Hotline) -> None:
    for record in hotline.calls.values():
        assert record.done.wait(30), "the call did not end"


def test_a_flood_closes_that_call_only(client: TestClient, hotline: Hotline) -> None:
    with client.websocket_connect("/ws") as calm, client.websocket_connect("/ws") as flood:
        _call(calm)
        _call(flood)
        for _ in range(300):
            flood.send_json({"type": "key", "key": "*"})
        errors = []
        with pytest.raises(WebSocketDisconnect) as closed:
            while True:
                message = flood.receive_json()
                if message["type"] == "error":
                    errors.append(message["error"])
        assert closed.value.code == protocol.POLICY
        assert any("too many messages" in e for e in errors)
        calm.send_json({"type": "key", "key": "1"})
        until_state(calm, "account")
        calm.send_json({"type": "hangup"})
        until(calm, "ended")
    _wait_ended(hotline)
    logs = sorted(hotline.out.glob("call-*/call.jsonl"))
    assert len(logs) == 2 and all(_records(p)[-1]["type"] == "call-end" for p in logs)


def test_the_call_limit_says_busy_and_frees_the_line(wallet: Menu, tmp_path: Path) -> None:
    hotline = Hotline(wallet, ToneFiles(tmp_path / "p"), tmp_path / "calls", max_calls=1)
    with TestClient(create_app(hotline)) as client:
        with client.websocket_connect("/ws") as first:
            _call(first)
            with client.websocket_connect("/ws") as second:
                assert second.receive_json()["type"] == "ready"
                second.send_json({"type": "call"})
                busy = until(second, "busy")[-1]
                assert "1 lines are busy" in busy["error"]
                with pytest.raises(WebSocketDisconnect) as closed:
                    second.receive_json()
                assert closed.value.code == 1013
            first.send_json({"type": "hangup"})
            until(first, "ended")
        with client.websocket_connect("/ws") as third:
            _call(third)
            third.send_json({"type": "hangup"})
            until(third, "ended")
    assert len(hotline.calls) == 2


def test_the_socket_going_away_hangs_up_and_keeps_the_log(
    client: TestClient, hotline: Hotline
) -> None:
    with client.websocket_connect("/ws") as ws:
        _call(ws)
        ws.send_json({"type": "key", "key": "1"})
        until_state(ws, "account")
    _wait_ended(hotline)
    records = _records(next(hotline.out.glob("call-*")) / "call.jsonl")
    assert records[-2]["type"] == "hangup" and records[-1]["type"] == "call-end"


def test_the_microphone_without_a_model_says_so_and_keys_keep_working(
    client: TestClient, hotline: Hotline
) -> None:
    assert hotline.speech_problem is not None and "ivr models download" in hotline.speech_problem
    assert client.get("/hotline.json").json()["speech"] == hotline.speech_problem
    with client.websocket_connect("/ws") as ws:
        _call(ws)
        ws.send_json({"type": "mic", "on": True})
        assert until(ws, "error")[-1]["error"] == hotline.speech_problem
        ws.send_json({"type": "key", "key": "1"})
        until_state(ws, "account")
        ws.send_json({"type": "hangup"})
        until(ws, "ended")


# -- downloads --------------------------------------------------------------------------------


def test_downloads_are_only_that_calls_files(client: TestClient, hotline: Hotline) -> None:
    with client.websocket_connect("/ws") as ws:
        _call(ws)
        token = next(iter(hotline.calls))
        assert client.get(f"/calls/{token}/call.jsonl").status_code == 404, "not before the end"
        ws.send_json({"type": "hangup"})
        ended = until(ws, "ended")[-1]
    with client.websocket_connect("/ws") as ws:
        other = _press_1_2(ws)[-1]
    assert ended["downloads"]["call.jsonl"] != other["downloads"]["call.jsonl"]
    first = client.get(ended["downloads"]["call.jsonl"]).text
    second = client.get(other["downloads"]["call.jsonl"]).text
    assert '"key": "2"' in second and '"key"' not in first
    (hotline.out / "secret.txt").write_text("secret")
    for path in [
        f"/calls/{token}/secret.txt",
        f"/calls/{token}/../secret.txt",
        f"/calls/{token}/..%2Fsecret.txt",
        f"/calls/{token}/%2e%2e%2fsecret.txt",
        f"/calls/{token}/..%2F..%2Fcall-00002%2Fcall.jsonl",
        f"/calls/..%2Fcalls/{token}/call.jsonl",
        f"/calls/{token[:-1]}/call.jsonl",
        "/calls//call.jsonl",
        "/calls/call-00001/call.jsonl",
        "/static/../hotline.py",
        "/static/%2e%2e/hotline.py",
        "/static/..%2Fhotline.py",
    ]:
        response = client.get(path)
        assert response.status_code == 404, path
        assert "secret" not in response.text and "import" not in response.text, path


def test_the_page_its_scripts_and_the_map_are_served(client: TestClient, wallet: Menu) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "/static/phone.js" in page.text
    assert "http" not in page.text.replace("http-equiv", ""), "nothing from another host"
    for name in ["phone.js", "phone.css", "mic-worklet.js"]:
        assert client.get(f"/static/{name}").status_code == 200, name
    svg = client.get("/map.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert "<title>n_password_recovery</title>" in svg.text
    assert client.get("/hotline.json").json()["nodes"]["password_recovery"] == "n_password_recovery"


# -- the command ------------------------------------------------------------------------------


def _serve_args(**options: Any) -> argparse.Namespace:
    from ivr.cli.parser import parser

    args = parser().parse_args(["serve", *options.pop("argv", [])])
    return args


def test_serve_binds_to_loopback_and_warns_about_any_other_address(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import uvicorn

    from ivr.cli import serve

    ran: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: ran.append(kw))
    monkeypatch.setattr("ivr.web.hotline.Hotline.prepare_prompts", lambda self: None)
    args = _serve_args(argv=["--out", str(tmp_path), "--port", "0"])
    assert args.host == "127.0.0.1" and args.max_calls == 20
    assert serve.run(args) == 0
    assert ran[-1]["host"] == "127.0.0.1"
    assert "warning" not in capsys.readouterr().err
    args = _serve_args(argv=["--out", str(tmp_path), "--host", "0.0.0.0", "--max-calls", "2"])
    assert serve.run(args) == 0
    assert ran[-1]["host"] == "0.0.0.0"
    assert "warning: listening on 0.0.0.0" in capsys.readouterr().err
    assert serve.is_loopback("::1") and serve.is_loopback("localhost")
    assert not serve.is_loopback("192.168.1.2") and not serve.is_loopback("example.org")


@pytest.mark.parametrize("bad", [["--max-calls", "0"], ["--port", "70000"], ["--port", "x"]])
def test_serve_refuses_bad_options(bad: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        _serve_args(argv=bad)
    assert exit_.value.code == 2


# -- the back office: ivr call's database, demo callers ------------------------------------


@pytest.mark.usefixtures("demo_pins_hashed_once")  # the demo PINs hashed once
def test_a_self_service_web_call_logs_what_ivr_call_logs_on_the_same_database(
    wallet: Menu, tmp_path: Path, db_url: str
) -> None:
    caller = next(c for c in demo_database(db_url) if c.case == "failed-payment")
    hotline = Hotline(wallet, ToneFiles(tmp_path / "prompts"), tmp_path / "calls", db=db_url)
    with TestClient(create_app(hotline)) as client, client.websocket_connect("/ws") as ws:
        seen = self_service_call(ws, caller.phone, caller.pin)
    assert seen[-1]["outcome"] == "abandoned"
    web = _records(next(hotline.out.glob("call-*")) / "call.jsonl")
    console = console_log(
        ["--db", db_url, "--caller", caller.phone, "--keys", failed_payment_keys(caller.pin)],
        tmp_path / "console.jsonl",
    )
    assert _without_times(web) == _without_times(console)
    replies = [(r["operation"], r["result"]) for r in web if r["type"] == "reply"]
    assert replies == [
        ("find_account", "found"),
        ("verify_pin", "verified"),
        ("latest_failed_transaction", "found"),
    ]
    cause = caller.detail.split(":")[0]  # the case as ivr db accounts shows it: 余额不足: …
    said = [r["text"] for r in web if r["type"] == "prompt"][-1]
    assert f"原因是{cause}" in said, said
    assert caller.pin not in json.dumps(web, ensure_ascii=False), "the PIN is never logged"


def test_a_web_call_without_its_database_hears_the_apology_and_the_error_is_logged_once(
    wallet: Menu, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    missing = str(tmp_path / "missing.sqlite3")
    hotline = Hotline(wallet, ToneFiles(tmp_path / "prompts"), tmp_path / "calls", db=missing)
    with caplog.at_level("WARNING", logger="ivr.drivers.timeline"):
        with TestClient(create_app(hotline)) as client, client.websocket_connect("/ws") as ws:
            _call(ws, caller_id="13800138000")
            for key, node in (("2", "transactions"), ("4", "sorry"), ("1", "sorry")):
                ws.send_json({"type": "key", "key": key})
                until_state(ws, node)
                until(ws, "play")
            ws.send_json({"type": "hangup"})
            until(ws, "ended")
        web_lines = [r.getMessage() for r in caplog.records]
        caplog.clear()
        console_log(
            ["--db", missing, "--caller", "13800138000", "--keys", "!2!4!1"], tmp_path / "c.jsonl"
        )
        console_lines = [r.getMessage() for r in caplog.records]
    assert not (tmp_path / "missing.sqlite3").exists(), "a call never creates the database"
    assert len(web_lines) == 1, web_lines
    assert f"there is no back-office database at {missing}" in web_lines[0]

    def anonymous(line: str) -> str:
        return re.sub(r"\(call \w+,", "(call …,", line)

    assert [anonymous(line) for line in web_lines] == [anonymous(line) for line in console_lines]
    web = _records(next(hotline.out.glob("call-*")) / "call.jsonl")
    console = _records(tmp_path / "c.jsonl")
    assert _without_times(web) == _without_times(console)


@pytest.mark.usefixtures("demo_pins_hashed_once")  # the demo PINs hashed once
def test_the_page_gets_the_demo_callers_without_pin_hashes(wallet: Menu, tmp_path: Path) -> None:
    url = str(tmp_path / "demo.sqlite3")
    demo = demo_database(url, count=12)
    hotline = Hotline(wallet, ToneFiles(tmp_path / "prompts"), tmp_path / "calls", db=url)
    with TestClient(create_app(hotline)) as client:
        assert client.get("/hotline.json").json()["self_service"] is True
        response = client.get("/callers.json")
    listed = response.json()
    assert listed["problem"] is None
    assert [(c["phone"], c["pin"], c["case"]) for c in listed["callers"]] == [
        (c.phone, c.pin, c.case) for c in demo
    ]
    assert {c["case"] for c in listed["callers"]} >= {"failed-payment", "refund", "locked"}
    assert "argon2" not in response.text and "hash" not in response.text


def test_the_page_is_told_why_there_are_no_demo_callers(
    wallet: Menu, make_menu: Any, tmp_path: Path
) -> None:
    missing = tmp_path / "missing.sqlite3"
    hotline = Hotline(wallet, ToneFiles(tmp_path / "prompts"), tmp_path / "calls", db=str(missing))
    with TestClient(create_app(hotline)) as client:
        listed = client.get("/callers.json").json()
    assert listed["callers"] == [] and "ivr db init" in listed["problem"]
    assert not missing.exists()
    empty = str(tmp_path / "empty.sqlite3")
    demo_database(empty, count=0)
    hotline = Hotline(wallet, ToneFiles(tmp_path / "prompts"), tmp_path / "calls", db=empty)
    assert hotline.demo_callers() == (
        [],
        f"no demo callers in {empty}: run `ivr db init --demo 100`",
    )
    small = Hotline(make_menu(), ToneFiles(tmp_path / "prompts"), tmp_path / "calls")
    assert small.backoffice is None and small.demo_callers() == ([], None)
    with TestClient(create_app(small)) as client:
        assert client.get("/hotline.json").json()["self_service"] is False


# -- memory -----------------------------------------------------------------------------------


def test_the_prompts_known_are_bounded(tmp_path: Path) -> None:
    from ivr.audio.wav import read_wav
    from ivr.web.calls import PromptAudio

    files = ToneFiles(tmp_path / "prompts")
    prompts = PromptAudio(files, kept=3)
    texts = [f"您的第{n}笔交易" for n in range(5)]
    ids = [prompts.register(text)[0] for text in texts]
    assert len(prompts) == 3
    assert [prompts.path(i) is None for i in ids] == [True, True, False, False, False]
    assert prompts.path(ids[2]) is not None  # the oldest known, now the latest used
    prompts.register("又一笔")
    assert prompts.path(ids[3]) is None and prompts.path(ids[2]) is not None
    _, duration = prompts.register(texts[0])  # said again: rendered file, timed again
    assert duration == read_wav(files.get(texts[0])).duration


def test_the_server_keeps_the_links_of_its_last_calls_only(wallet: Menu, tmp_path: Path) -> None:
    hotline = Hotline(wallet, ToneFiles(tmp_path / "p"), tmp_path / "calls", calls_kept=2)
    links = []
    with TestClient(create_app(hotline)) as client:
        for _ in range(4):
            with client.websocket_connect("/ws") as ws:
                _call(ws)
                ws.send_json({"type": "hangup"})
                links.append(until(ws, "ended")[-1]["downloads"]["call.jsonl"])
        assert [client.get(link).status_code for link in links] == [404, 404, 200, 200]
    assert len(hotline.calls) == 2
    assert len(list(hotline.out.glob("call-*/call.jsonl"))) == 4, "the files stay"
