"""Speech through the session: recorded utterances on a virtual clock, with a fake recognizer.

These pin the timing rules of speech (end of speech, barge-in, the independent no-input
timer, grammar switching) without a model; tests/test_speech_vosk.py repeats the important
ones with the real recognizer.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from ivr.audio.wav import AudioClip
from ivr.callers.clips import ClipCaller, SaidClip
from ivr.clock import VirtualClock
from ivr.drivers.session import Session
from ivr.drivers.testing import FakeRecognizer, RecordingPlayer
from ivr.engine.events import CallEvent, EventType, Outcome
from ivr.engine.flow import CallFlow
from ivr.hearing.tracker import UtteranceTracker
from ivr.menu.model import Menu

RATE = 16000
MakeMenu = Callable[..., Menu]


def tone(seconds: float, amplitude: float = 8000.0) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    return (amplitude * np.sin(2 * np.pi * 300 * t)).astype(np.int16)


def speech(seconds: float = 0.6, lead: float = 0.2) -> AudioClip:
    """A loud burst after a little silence: 'speech' to the fake recognizer."""
    return AudioClip(np.concatenate([np.zeros(int(RATE * lead), np.int16), tone(seconds)]), RATE)


def faint_noise(seconds: float) -> AudioClip:
    rng = np.random.default_rng(1)
    return AudioClip((rng.normal(0, 40, int(RATE * seconds))).astype(np.int16), RATE)


def call_with(
    menu: Menu,
    recordings: list[SaidClip],
    transcripts: list[tuple[str, float]],
    recognizer: FakeRecognizer | None = None,
) -> tuple[list[tuple[float, CallEvent]], FakeRecognizer, Session]:
    clock = VirtualClock()
    fake = recognizer or FakeRecognizer(transcripts)
    caller = ClipCaller(recordings, UtteranceTracker(fake), clock)
    events: list[tuple[float, CallEvent]] = []
    session = Session(
        CallFlow(menu),
        caller,
        RecordingPlayer(clock, lambda text: 2.0),
        clock,
        [lambda event, moment: events.append((moment, event))],
    )
    session.run()
    return events, fake, session


def of(events: list[tuple[float, CallEvent]], kind: EventType) -> list[tuple[float, CallEvent]]:
    return [(t, e) for t, e in events if e.type is kind]


def test_a_spoken_recording_chooses_an_option(wallet: Menu) -> None:
    events, _, _ = call_with(wallet, [SaidClip(speech())], [("找回 密码", 0.95)])
    assert [e.state for _, e in of(events, EventType.STATE)] == ["password_recovery"]
    ((moment, heard),) = of(events, EventType.UTTERANCE)
    assert heard.text == "找回 密码" and heard.decision == "accept"
    # greeting + menu = 4 s, think 0.5 s, 0.2 s lead + 0.6 s speech, then 0.5 s of silence
    assert moment == pytest.approx(4.0 + 0.5 + 0.8 + 0.5, abs=0.021)


def test_the_grammar_follows_the_state(wallet: Menu) -> None:
    _, fake, _ = call_with(wallet, [SaidClip(speech())], [("找回 密码", 0.95)])
    main, procedure = fake.grammars[0], fake.grammars[-1]
    assert main is not None and "电子发票" in main and "下一步" not in main
    assert procedure is not None and "下一步" in procedure and "电子发票" not in procedure


def test_recordings_run_out_then_the_caller_hangs_up(wallet: Menu) -> None:
    events, _, _ = call_with(wallet, [SaidClip(speech())], [("账户问题", 0.95)])
    ((_, end),) = of(events, EventType.CALL_END)
    assert end.outcome is Outcome.ABANDONED and end.state == "account"


def test_speech_during_a_prompt_barges_in(wallet: Menu) -> None:
    events, _, _ = call_with(wallet, [SaidClip(speech(), barge_in=True)], [("转人工", 0.95)])
    ((moment, barge),) = of(events, EventType.BARGE_IN)
    assert barge.reason == "speech" and barge.key is None
    assert barge.text == wallet.greeting
    assert 1.2 <= moment <= 1.5  # 1 s into the greeting, 0.2 s lead, then speech is heard
    assert len(of(events, EventType.PROMPT)) == 2  # the greeting, then the transfer notice
    assert of(events, EventType.CALL_END)[0][1].outcome is Outcome.TRANSFERRED


def test_faint_noise_is_no_input_at_the_timeout(wallet: Menu) -> None:
    events, _, _ = call_with(wallet, [SaidClip(faint_noise(3.0))], [("账户问题", 0.95)])
    assert of(events, EventType.UTTERANCE) == []
    ((moment, _),) = of(events, EventType.NO_INPUT)[:1]
    assert moment == pytest.approx(4.0 + 5.0)


def test_no_input_timer_runs_even_if_the_recognizer_never_finishes(wallet: Menu) -> None:
    never_ends = FakeRecognizer([("账户问题", 0.95)], end_silence=1e9)
    events, _, _ = call_with(
        wallet, [SaidClip(AudioClip(tone(30.0), RATE))], [], recognizer=never_ends
    )
    ((moment, heard),) = of(events, EventType.UTTERANCE)
    assert moment == pytest.approx(4.0 + 5.0)  # taken at the no-input deadline
    assert heard.text == "账户问题"


def test_unsure_speech_is_confirmed_by_the_next_recording(wallet: Menu) -> None:
    events, _, _ = call_with(
        wallet, [SaidClip(speech()), SaidClip(speech())], [("退款", 0.5), ("是", 0.9)]
    )
    decisions = [e.decision for _, e in of(events, EventType.UTTERANCE)]
    assert decisions == ["confirm", "accept"]
    assert next(e.state for _, e in of(events, EventType.STATE)) == "refund"


def test_a_states_end_of_speech_ends_the_utterance_before_the_models_rules(
    make_menu: MakeMenu,
) -> None:
    menu = make_menu(replace={"no_input_timeout: 5": "no_input_timeout: 5\n  end_of_speech: 0.3"})
    never_ends = FakeRecognizer([("账户", 0.95)], end_silence=1e9)
    events, _, _ = call_with(menu, [SaidClip(speech())], [], recognizer=never_ends)
    ((moment, heard),) = of(events, EventType.UTTERANCE)
    # greeting + menu = 4 s, think 0.5 s, 0.2 s lead + 0.6 s speech, then 0.3 s of silence
    assert moment == pytest.approx(4.0 + 0.5 + 0.8 + 0.3, abs=0.021)
    assert heard.text == "账户"


def test_speech_during_an_answer_is_judged_in_the_answer_like_a_key(wallet: Menu) -> None:
    events, _, _ = call_with(
        wallet,
        [SaidClip(speech()), SaidClip(speech()), SaidClip(speech(), barge_in=True)],
        [("账户问题", 0.95), ("注册", 0.95), ("重听", 0.95)],
    )
    answer = wallet.nodes["registration"].answer
    assert [e.state for _, e in of(events, EventType.STATE)][:2] == ["account", "registration"]
    ((_, barge),) = of(events, EventType.BARGE_IN)
    assert barge.text == answer
    said = [e.text for _, e in of(events, EventType.PROMPT)]
    assert said[-2:] == [answer, wallet.nodes["account"].prompt]  # repeated, then back up
    assert said.count(answer) == 2
