"""Helpers for the web phone's tests (ivr serve): prompt files without a synthesizer, a
Hotline on a menu, reading a call's messages off a WebSocket."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from ivr.audio.wav import AudioClip, write_wav
from ivr.prompts.player import estimated_duration


class ToneFiles:
    """Prompt files without a synthesizer: each prompt a quiet tone of the length a text-only
    call gives it (0.33 s a character), so timings are those of ``ivr call --text``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def get(self, text: str) -> Path:
        path = self.folder / (hashlib.sha256(text.encode()).hexdigest()[:16] + ".wav")
        if not path.exists():
            n = round(estimated_duration(text) * 8000)
            tone = (np.sin(np.arange(n) * 2 * np.pi * 440 / 8000) * 3000).astype(np.int16)
            write_wav(path, AudioClip(tone, 8000))
        return path

    def is_cached(self, text: str) -> bool:
        return True


def until(ws: Any, kind: str, limit: int = 2000) -> list[dict[str, Any]]:
    """Messages from ``ws`` up to and including the first of type ``kind``."""
    seen = []
    for _ in range(limit):
        message = ws.receive_json()
        seen.append(message)
        if message["type"] == kind:
            return seen
    raise AssertionError(f"no {kind!r} in {limit} messages: {seen[-5:]}")


def until_state(ws: Any, node: str) -> list[dict[str, Any]]:
    """Messages up to the ``state`` event entering ``node``."""
    seen = []
    for _ in range(2000):
        message = ws.receive_json()
        seen.append(message)
        record = message.get("record", {})
        if (
            message["type"] == "event"
            and record.get("type") == "state"
            and record.get("state") == node
        ):
            return seen
        assert message["type"] != "ended", seen[-5:]
    raise AssertionError(f"never entered {node}")


def demo_database(url: str, count: int = 10) -> list[Any]:
    """``ivr db init --demo COUNT`` on the database at ``url``: its demo callers, as
    ``ivr db accounts`` lists them (``ivr.backoffice.demo.Caller``)."""
    from ivr.backoffice.database import Database
    from ivr.backoffice.demo import build, callers
    from ivr.backoffice.repository import utc_now
    from ivr.backoffice.settings import Rules, database_url

    build(url, count, seed=1, now=utc_now())
    db = Database(database_url(url), Rules(), create=False)
    try:
        return list(callers(db))
    finally:
        db.dispose()


def failed_payment_keys(pin: str) -> str:
    """``ivr call --keys`` for what `self_service_call` presses: 交易咨询 (2), 查询本人的交易
    (4) and the PIN, each barging in, then 最近一笔失败的交易 (1) barging in."""
    return f"!2!4!{pin}#!1"


def self_service_call(ws: Any, caller_id: str, pin: str) -> list[dict[str, Any]]:
    """A call presenting ``caller_id`` that hears its latest failed payment: each key while
    the node's first prompt plays (``!`` in a key script), the PIN and ``#`` at once, and
    a hang-up while the failure's cause is said; the messages up to ``ended``."""
    assert ws.receive_json()["type"] == "ready"
    ws.send_json({"type": "call", "caller_id": caller_id})
    seen = until(ws, "play")
    for key, node in (("2", "transactions"), ("4", "ask_pin")):
        ws.send_json({"type": "key", "key": key})
        seen += until_state(ws, node)
        seen += until(ws, "play")
    for key in f"{pin}#":
        ws.send_json({"type": "key", "key": key})
    seen += until_state(ws, "my_account")
    seen += until(ws, "play")
    ws.send_json({"type": "key", "key": "1"})
    seen += until_state(ws, "failure_cause")
    seen += until(ws, "play")
    ws.send_json({"type": "hangup"})
    return seen + until(ws, "ended")


def records(path: Path) -> list[dict[str, Any]]:
    """A call log's events."""
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def console_log(args: list[str], path: Path) -> list[dict[str, Any]]:
    """``ivr call ARGS --log PATH --quiet``, in this process: its call log."""
    from ivr.cli.main import main

    assert main(["call", *args, "--log", str(path), "--quiet"]) == 0
    return records(path)


def without_times(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events without their times: a real-clock call and a virtual one compared."""
    return [{k: v for k, v in r.items() if k != "t"} for r in events]
