"""``--time``: when a single call (``ivr call``, ``ivr serve``) meets the menu's contact
centre, taking precedence over ``$IVR_TIME``; a bad value is one line and exit 2."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from ivr.cli import main
from ivr.menu.model import Menu
from ivr.web.app import create_app
from ivr.web.hotline import Hotline
from tests.conftest import ROOT
from tests.web_helpers import ToneFiles, until

QUEUE_MENU = ROOT / "tests" / "menus" / "queue.zh-CN.yaml"
SATURDAY = "2026-03-21T10:00"
"""The queue menu's centre is closed on Saturdays; a Monday at 10:00 it is open."""


def queue_events(log: Path) -> list[str]:
    records = [json.loads(line) for line in log.read_text("utf-8").splitlines()]
    return [r["reason"] for r in records if r["type"] == "queue"] + [
        r["type"] for r in records if r["type"] == "agent"
    ]


def test_time_takes_precedence_over_ivr_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IVR_TIME", "2026-03-16T10:00")  # open
    log = tmp_path / "open.jsonl"
    assert main(["call", "--menu", str(QUEUE_MENU), "--keys", "0", "--log", str(log),
                 "--quiet"]) == 0  # fmt: skip
    assert "closed" not in queue_events(log)
    log = tmp_path / "closed.jsonl"
    assert main(["call", "--menu", str(QUEUE_MENU), "--keys", "0", "--log", str(log),
                 "--quiet", "--time", SATURDAY]) == 0  # fmt: skip
    assert queue_events(log) == ["closed"]
    # an unusable $IVR_TIME is not read when --time says when
    monkeypatch.setenv("IVR_TIME", "soon")
    log = tmp_path / "again.jsonl"
    assert main(["call", "--menu", str(QUEUE_MENU), "--keys", "0", "--log", str(log),
                 "--quiet", "--time", SATURDAY]) == 0  # fmt: skip
    assert queue_events(log) == ["closed"]


@pytest.mark.parametrize("command", [["call", "--keys", "0"], ["serve"]])
@pytest.mark.parametrize("value", ["tomorrow", "2026-13-01T10:00", "16/03/2026 10:00", ""])
def test_a_time_that_is_not_one_is_one_line_and_exit_2(
    command: list[str], value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as usage:
        main([*command, "--time", value])
    assert usage.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--time" in err and "not a date and time" in err


@pytest.mark.parametrize("command", ["call", "serve"])
def test_time_on_a_menu_without_a_contact_centre_is_refused(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = tmp_path / "plain.yaml"
    text = QUEUE_MENU.read_text("utf-8")
    plain.write_text(text[: text.index("\ncontact_centre:")] + "\n", "utf-8")
    extra = ["--keys", "0"] if command == "call" else ["--out", str(tmp_path / "calls")]
    assert main([command, "--menu", str(plain), *extra, "--time", SATURDAY]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "declares no contact centre" in err


def test_the_parsed_time_is_the_moment_given() -> None:
    from ivr.cli.parser import parser

    args = parser().parse_args(["serve", "--time", "2026-03-16T22:00"])
    assert args.time == dt.datetime(2026, 3, 16, 22, 0)


def test_serve_time_is_when_every_web_call_meets_the_centre(wallet: Menu, tmp_path: Path) -> None:
    """The wallet's centre at 03:00 is closed: a web call's transfer hears so, whatever
    ``$IVR_TIME`` (the tests pin it to an open Monday afternoon) says."""
    hotline = Hotline(
        wallet,
        ToneFiles(tmp_path / "prompts"),
        tmp_path / "calls",
        db=str(tmp_path / "backoffice.sqlite3"),
        call_time=dt.datetime(2026, 3, 16, 3, 0),
    )
    try:
        with TestClient(create_app(hotline)) as client, client.websocket_connect("/ws") as ws:
            assert ws.receive_json()["type"] == "ready"
            ws.send_json({"type": "call", "caller_id": ""})
            until(ws, "play")
            ws.send_json({"type": "key", "key": "0"})
            queue: list[Any] = []
            for _ in range(2000):
                message = ws.receive_json()
                record = message.get("record", {})
                if message["type"] == "event" and record.get("type") in ("queue", "agent"):
                    queue.append(record)
                    break
            ws.send_json({"type": "hangup"})
            until(ws, "ended")
    finally:
        hotline.close()
    assert queue and queue[0]["type"] == "queue" and queue[0]["reason"] == "closed"
