"""The record node (a voice message after a beep): its timing rules on the timeline with no
clock, the checker's limits, the back offices keeping the message, and the message file
cut from the call WAV's caller channel. Each test breaks if its rule does."""

from __future__ import annotations

import wave
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.clock import VirtualClock
from ivr.drivers.memory import MemoryBackOffice
from ivr.drivers.session import Listener, Session
from ivr.drivers.timeline import CallTimeline, Wait
from ivr.engine.backoffice import Request
from ivr.engine.events import CallEvent, EventType, Outcome
from ivr.engine.flow import CallFlow, Phase
from ivr.engine.inputs import CallerAction, HangUp, KeyPress, SpeechStarted, Utterance
from ivr.limits import RECORD_SECONDS
from ivr.menu.model import BEEP, load
from ivr.menu.problems import MenuInvalid
from ivr.outputs.artifacts import RATE, CallAudio
from ivr.prompts.player import SilentPlayer
from ivr.prompts.tts import BEEP_TEXT
from tests.conftest import ROOT

WALLET = ROOT / "menus" / "wallet.zh-CN.yaml"
PROMPT = "请在提示音后留言，留言完毕请按井号键。不留言请按1。"

MENU = f"""
language: zh-CN
start: main
settings: {{no_input_timeout: 5, max_no_input: 2}}
global_keys: {{"0": agent, "*": repeat, "#": back}}
nodes:
  main:
    title: 主菜单
    prompt: 留言请按1。
    options: {{"1": message}}
  message:
    title: 留言
    prompt: {PROMPT}
    record: {{store: voice_message, next: done, skip_key: "1", max_length: 30,
             final_silence: 2}}
  done:
    title: 已记录
    answer: 谢谢。
"""


class Driver:
    """Says every prompt in 1 s and keeps what the timeline reported."""

    def __init__(self, flow: CallFlow) -> None:
        self.flow = flow
        self.events: list[tuple[float, CallEvent]] = []

    def say(self, line: CallTimeline, text: str, now: float) -> float:
        return now + 1.0

    def hush(self, line: CallTimeline) -> None:
        pass

    def report(self, line: CallTimeline, event: CallEvent, now: float) -> None:
        self.events.append((now, event))

    def changed(self, line: CallTimeline) -> None:
        pass

    def ask(self, line: CallTimeline, request: Request, now: float) -> tuple[object, float, None]:
        raise AssertionError("no back office here")

    def records(self) -> list[tuple[float, CallEvent]]:
        return [(t, e) for t, e in self.events if e.type is EventType.RECORD]


def menu_file(tmp_path: Path, text: str = MENU) -> Path:
    path = tmp_path / "menu.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory) -> CallFlow:
    return CallFlow(load(menu_file(tmp_path_factory.mktemp("record")), cached=False))


def recording(flow: CallFlow, keeps_audio: bool = True) -> tuple[CallTimeline, Driver]:
    """A call at the record node, its prompt (2-3 s) and beep (3-4 s) said: recording
    since 4 s. ``keeps_audio``: the call's audio is written after it (``--out``)."""
    driver = Driver(flow)
    line = CallTimeline(driver, keeps_audio=keeps_audio)  # type: ignore[arg-type]
    line.answer(0.0)
    line.time_out(1.0)  # the main menu said: listening
    line.receive(KeyPress("1"), 2.0)
    line.time_out(3.0)
    said = [e.text for _, e in driver.events if e.type is EventType.PROMPT]
    assert said[-2:] == [PROMPT, BEEP]
    line.time_out(4.0)
    assert line.call is not None and line.call.phase is Phase.RECORDING
    assert driver.records()[-1] == (4.0, CallEvent(EventType.RECORD, "message", reason="start"))
    assert line.wait is Wait.LISTENING
    return line, driver


def test_the_terminator_ends_the_message_and_keeps_it(flow: CallFlow) -> None:
    line, driver = recording(flow)
    line.receive(SpeechStarted(), 5.0)
    line.receive(Utterance("我要投诉"), 7.5)
    line.receive(KeyPress("#"), 8.0)
    (_, ended) = driver.records()[-1]
    assert (ended.reason, ended.seconds) == ("terminator", 4.0)
    assert ended.text == f"{line.call_key}-message.wav"
    assert line.call is not None and line.call.state == "done"
    variables = line.call.variables or {}
    assert variables["voice_message"] == ended.text
    assert variables["voice_message_seconds"] == Decimal("4.000")


def test_a_call_whose_audio_is_not_kept_keeps_the_length_and_no_reference(
    flow: CallFlow,
) -> None:
    """No file will be written, so nothing may name one: the length alone is true."""
    line, driver = recording(flow, keeps_audio=False)
    line.receive(SpeechStarted(), 5.0)
    line.receive(Utterance("我要投诉"), 7.5)
    line.receive(KeyPress("#"), 8.0)
    (_, ended) = driver.records()[-1]
    assert (ended.reason, ended.seconds, ended.text) == ("terminator", 4.0, None)
    assert line.call is not None and line.call.state == "done"
    assert line.call.variables == {"voice_message": "", "voice_message_seconds": Decimal("4.000")}


def test_the_final_silence_after_the_last_words_ends_it_and_is_not_kept(flow: CallFlow) -> None:
    line, driver = recording(flow)
    line.receive(SpeechStarted(), 5.0)
    assert line.until == 4.0 + 30  # while speaking only the maximum length ends it
    line.receive(Utterance("我要投诉"), 9.0)
    assert line.until == 9.0 + 2  # the final silence runs from the last words
    line.receive(SpeechStarted(), 10.0)  # speech again: the silence starts over
    line.receive(Utterance("谢谢"), 12.0)
    assert line.until == 14.0
    line.time_out(14.0)
    (_, ended) = driver.records()[-1]
    assert (ended.reason, ended.seconds) == ("silence", 8.0)  # 4 s to 12 s, not the silence
    assert line.call is not None and line.call.state == "done"


def test_the_maximum_length_ends_a_caller_who_keeps_talking(flow: CallFlow) -> None:
    line, driver = recording(flow)
    line.receive(SpeechStarted(), 4.5)
    line.time_out(34.0)
    (_, ended) = driver.records()[-1]
    assert (ended.reason, ended.seconds) == ("max-length", 30.0)
    assert line.call is not None and line.call.state == "done"


def test_nothing_said_is_a_no_input_counted_then_the_failure_action(flow: CallFlow) -> None:
    line, driver = recording(flow)
    assert line.until == 9.0  # the node's no-input timeout after the beep
    line.time_out(9.0)
    kinds = [e.type for _, e in driver.events if _ == 9.0]
    assert kinds[:3] == [EventType.RECORD, EventType.NO_INPUT, EventType.PROMPT]
    assert driver.records()[-1][1].reason == "no-input"
    said = [e.text for t, e in driver.events if e.type is EventType.PROMPT and t >= 9.0]
    assert said == ["抱歉，没有听到您的留言。"]  # then the reprompt and the beep, in turn
    for moment in (10.0, 11.0, 12.0):
        line.time_out(moment)
    assert line.recording is not None and line.recording.start == 12.0
    line.time_out(17.0)  # the second no-input: max_no_input is 2
    (count,) = [e.count for t, e in driver.events if t == 17.0 and e.type is EventType.NO_INPUT]
    assert count == 2
    line.time_out(18.0)  # the max-failures notice said, then the transfer message
    line.time_out(19.0)
    assert any(e.type is EventType.TRANSFER for _, e in driver.events)
    assert line.call is not None and (line.call.variables or {}).get("voice_message") is None


def test_the_skip_key_before_any_words_leaves_no_message(flow: CallFlow) -> None:
    line, driver = recording(flow)
    line.receive(KeyPress("1"), 5.0)
    (_, ended) = driver.records()[-1]
    assert (ended.reason, ended.text) == ("skipped", None)
    assert line.call is not None and line.call.state == "done"
    assert line.call.variables == {"voice_message": "", "voice_message_seconds": ""}


def test_after_words_the_skip_key_is_part_of_the_message(flow: CallFlow) -> None:
    line, driver = recording(flow)
    line.receive(SpeechStarted(), 5.0)
    line.receive(Utterance("我要投诉"), 6.0)
    line.receive(KeyPress("1"), 6.5)
    line.receive(KeyPress("0"), 6.6)  # not the agent key while recorded
    assert line.call is not None and line.call.state == "message"
    assert driver.records()[-1][1].reason == "start"
    line.receive(KeyPress("#"), 7.0)
    assert driver.records()[-1][1].reason == "terminator"


def test_the_skip_key_during_the_prompt_skips_too(flow: CallFlow) -> None:
    driver = Driver(flow)
    line = CallTimeline(driver)  # type: ignore[arg-type]
    line.answer(0.0)
    line.time_out(1.0)
    line.receive(KeyPress("1"), 2.0)
    line.receive(KeyPress("1"), 2.5)  # barge-in on the record prompt
    assert driver.records()[-1][1].reason == "skipped"
    assert line.call is not None and line.call.state == "done"


def test_speech_before_the_beep_is_not_heard(flow: CallFlow) -> None:
    driver = Driver(flow)
    line = CallTimeline(driver)  # type: ignore[arg-type]
    line.answer(0.0)
    line.time_out(1.0)
    line.receive(KeyPress("1"), 2.0)
    assert line.receive(SpeechStarted(), 2.5) is False
    assert line.wait is Wait.SAYING


def test_a_hang_up_while_recorded_ends_the_call_and_keeps_nothing(flow: CallFlow) -> None:
    line, driver = recording(flow)
    line.receive(SpeechStarted(), 5.0)
    line.receive(HangUp(), 6.0)
    types = [e.type for t, e in driver.events if t == 6.0]
    assert types == [EventType.RECORD, EventType.HANGUP, EventType.CALL_END]
    ended = driver.records()[-1][1]
    assert (ended.reason, ended.seconds, ended.text) == ("hangup", 2.0, None)
    assert line.call is not None and line.call.outcome is Outcome.ABANDONED
    assert (line.call.variables or {}).get("voice_message") is None


@settings(max_examples=60, deadline=None)
@given(
    length=st.floats(min_value=1.0, max_value=RECORD_SECONDS),
    silence=st.floats(min_value=0.1, max_value=30.0),
    talk=st.lists(st.floats(min_value=0.01, max_value=100.0), min_size=1, max_size=20),
)
def test_no_message_outlasts_its_max_length(
    tmp_path_factory: pytest.TempPathFactory, length: float, silence: float, talk: list[float]
) -> None:
    """Whatever the caller says and however long, a message ends by its max_length and
    lasts no longer (RECORD_SECONDS bounds every max_length the checker lets through)."""
    if silence >= length:
        silence = length / 2
    text = MENU.replace("max_length: 30", f"max_length: {length!r}").replace(
        "final_silence: 2", f"final_silence: {silence!r}"
    )
    menu = load(menu_file(tmp_path_factory.mktemp("prop"), text), cached=False)
    line, driver = recording(CallFlow(menu))
    now = 4.0
    for i, gap in enumerate(talk):
        if line.recording is None:
            break
        now = min(now + gap, line.until)
        action = SpeechStarted() if i % 2 == 0 else Utterance("话")
        line.receive(action, now)
    while line.recording is not None:
        line.time_out(line.until)
    ended = [e for _, e in driver.records() if e.reason != "start"][-1]
    assert ended.seconds is not None and ended.seconds <= length + 0.0005  # ms, as logged
    assert driver.records()[-1][0] <= 4.0 + length + 1e-9


@pytest.mark.parametrize(
    ("record", "problem"),
    [
        ("max_length: 601", "max_length 601 s is longer than 600 s (limit RECORD_SECONDS)"),
        ("max_length: 10, final_silence: 10", "final_silence 10 s is not shorter than"),
        ('skip_key: "#"', "skip_key '#' is also the terminator"),
        ("next: nowhere", "unknown target 'nowhere'"),
    ],
)
def test_ivr_check_knows_the_record_node(tmp_path: Path, record: str, problem: str) -> None:
    text = MENU.replace(
        'record: {store: voice_message, next: done, skip_key: "1", max_length: 30,\n'
        "             final_silence: 2}",
        f"record: {{store: voice_message, next: done, {record}}}".replace(
            "next: done, next: nowhere", "next: nowhere"
        ),
    )
    with pytest.raises(MenuInvalid) as raised:
        load(menu_file(tmp_path, text), cached=False)
    assert problem in str(raised.value)


def test_a_record_prompt_may_announce_only_its_own_keys(tmp_path: Path) -> None:
    text = MENU.replace(f"prompt: {PROMPT}", "prompt: 请在提示音后留言，人工服务请按0。")
    with pytest.raises(MenuInvalid) as raised:
        load(menu_file(tmp_path, text), cached=False)
    assert "0" in str(raised.value)


def test_the_message_variables_reach_a_ticket_in_the_memory_back_office() -> None:
    office = MemoryBackOffice()
    values = {"account_id": None, "category": "complaint"}
    message = {"voice_message": "abc-message.wav", "voice_seconds": Decimal("4.000")}
    office.perform(Request("file_ticket", values | message, "abc"))
    office.perform(Request("file_ticket", values | message, "abc"))  # a retry: one ticket
    office.perform(Request("file_ticket", values | {"voice_message": ""}, "def"))
    skipped = {"voice_message": "", "voice_seconds": ""}
    office.perform(Request("file_ticket", values | skipped, "ghi"))
    unkept = {"voice_message": "", "voice_seconds": Decimal("0.000")}  # "#" at the beep
    office.perform(Request("file_ticket", values | unkept, "jkl"))  # audio not kept
    assert len(office.tickets) == 4
    assert office.messages == {
        "abc": ("abc-message.wav", Decimal("4.000")),
        "jkl": (None, Decimal("0.000")),
    }


def test_the_beep_is_a_tone_and_one_text_everywhere(tmp_path: Path) -> None:
    from ivr.prompts.tts import write_beep

    assert BEEP == BEEP_TEXT
    write_beep(tmp_path / "beep.wav")
    with wave.open(str(tmp_path / "beep.wav")) as wav:
        samples = np.frombuffer(wav.readframes(wav.getnframes()), np.int16)
        rate = wav.getframerate()
    spectrum = np.abs(np.fft.rfft(samples))
    assert abs(np.argmax(spectrum) * rate / len(samples) - 1000) < 5


def test_the_message_file_is_the_caller_channel_between_beep_and_end(tmp_path: Path) -> None:
    audio = CallAudio(None, keys_as_tones=False)
    voice = np.full(RATE * 10, 1000, np.int16)  # the caller's audio, 0-10 s
    audio.caller_audio(0.0, voice)
    audio(CallEvent(EventType.RECORD, "message", reason="start"), 4.0)
    ended = CallEvent(EventType.RECORD, "message", reason="terminator", seconds=3.0, text="x.wav")
    audio(ended, 7.0)
    audio(CallEvent(EventType.RECORD, "message", reason="start"), 8.0)
    audio(CallEvent(EventType.RECORD, "message", reason="hangup", seconds=1.0), 9.0)
    audio.write(tmp_path / "call.wav")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["call.wav", "x.wav"]
    with wave.open(str(tmp_path / "x.wav")) as wav:
        assert wav.getnframes() == RATE * 3


class Keys:
    """Presses its keys whenever the hotline listens, then hangs up."""

    def __init__(self, keys: str) -> None:
        self.keys = list(keys)

    def next_input(self, until: float, listening: bool) -> CallerAction | None:
        if not listening:
            return None
        return KeyPress(self.keys.pop(0)) if self.keys else HangUp()

    def expect(self, grammar: tuple[str, ...], end_of_speech: float | None) -> None:
        pass


@pytest.mark.parametrize("kept", [False, True], ids=["audio-not-kept", "audio-kept"])
def test_a_ticket_in_the_memory_back_office_names_only_a_file_written(
    tmp_path: Path, kept: bool
) -> None:
    """The wallet's complaint with a message ended by ``#``: with the call's audio kept the
    ticket names the file written beside call.wav; without, no file, so no name, and the
    length alone."""
    from ivr.drivers.memory import demo

    office = demo()
    listeners: list[Listener] = []
    audio = CallAudio(None) if kept else None
    listeners += [audio] if audio is not None else []
    Session(
        CallFlow(load(WALLET)),
        Keys("541#"),
        SilentPlayer(),
        VirtualClock(),
        listeners,
        backoffice=office,
        keeps_audio=kept,
    ).run()
    if audio is not None:
        audio.write(tmp_path / "call.wav")
    ((call_id, (reference, length)),) = office.messages.items()
    assert length is not None  # a keys-only caller's "#" at once: 0 s, a message still
    if kept:
        assert reference == f"{call_id}-message.wav" and (tmp_path / reference).is_file()
    else:
        assert reference is None and list(tmp_path.iterdir()) == []
