"""Recorded prompts: stable IDs, the export for a recording session, recordings played
instead of text-to-speech by every player, and what ``ivr check`` says about them."""

from __future__ import annotations

import csv
import io
import json
import logging
import random
import shutil
import wave
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from ivr.audio.wav import AudioClip, read_wav, to_rate
from ivr.engine.events import EventType
from ivr.engine.flow import CallFlow
from ivr.engine.inputs import CallInput, HangUp, KeyPress, NoInput, PromptsFinished, Utterance
from ivr.menu.model import Menu, load
from ivr.outputs.artifacts import RATE
from ivr.prompts.player import RenderingPlayer, SpeakingPlayer
from ivr.prompts.recordings import (
    AUDIO_ENV,
    MANIFEST,
    RecordedPrompts,
    audio_root,
    update_manifest,
)
from ivr.prompts.tts import PromptCache
from ivr.scenarios import run_scenario
from tests.conftest import ROOT, WALLET
from tests.test_hardening_cli import in_process

KOREAN = ROOT / "tests" / "menus" / "korean.ko-KR.yaml"
BACKLINKS = ROOT / "tests" / "menus" / "backlinks.zh-CN.yaml"
GREETING = "안녕하세요."
MENU_PROMPT = "셋 또는 오라고 말씀하세요."


# --- fixtures ---------------------------------------------------------------------------


def tone(seconds: float = 0.5, rate: int = 8000, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (8000 * np.sin(2 * np.pi * hz * t)).astype(np.int16)


def write_stereo(path: Path, left: np.ndarray, rate: int = 8000) -> None:
    """A voice talent's file as it might come: 8 kHz stereo, not what espeak-ng writes."""
    right = (left // 2).astype(np.int16)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.column_stack([left, right]).astype("<i2").tobytes())


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the Korean test menu in a project laid out like the repository
    (``menus/`` beside ``audio/prompts/``), with a recording of the greeting."""
    monkeypatch.delenv(AUDIO_ENV, raising=False)
    (tmp_path / "menus").mkdir()
    shutil.copy(KOREAN, tmp_path / "menus" / KOREAN.name)
    folder = tmp_path / "audio" / "prompts" / "ko-KR"
    folder.mkdir(parents=True)
    write_stereo(folder / "main.greeting.wav", tone())
    return tmp_path


@pytest.fixture
def menu(project: Path) -> Menu:
    return load(project / "menus" / KOREAN.name)


def recordings(project: Path) -> Path:
    return project / "audio" / "prompts" / "ko-KR"


class FakeSynth:
    """Text-to-speech without espeak-ng: each text its own 0.2 s tone at 22050 Hz."""

    engine_name = "fake"
    voice = "fake"
    rate = 170

    def __init__(self) -> None:
        self.rendered: list[str] = []

    def render(self, text: str, target: Path) -> None:
        self.rendered.append(text)
        samples = tone(0.2, 22050, 300 + len(text) * 10)
        with wave.open(str(target), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(22050)
            out.writeframes(samples.astype("<i2").tobytes())


@pytest.fixture
def tts(tmp_path: Path) -> PromptCache:
    return PromptCache(FakeSynth(), tmp_path / "tts")


@pytest.fixture
def warnings() -> Iterator[list[str]]:
    """The warnings ivr logs while the test runs, as text."""
    kept: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            kept.append(record.getMessage())

    handler = Keep(logging.WARNING)
    logging.getLogger("ivr").addHandler(handler)
    try:
        yield kept
    finally:
        logging.getLogger("ivr").removeHandler(handler)


def expected(path: Path, rate: int) -> np.ndarray:
    """What a recording must sound like once converted as TTS clips are."""
    return to_rate(read_wav(path), rate).samples


# --- IDs ----------------------------------------------------------------------------------


def test_every_prompt_has_an_id_from_where_it_is_said(wallet: Menu) -> None:
    prompts = wallet.prompts()
    ids = [p.id for p in prompts]
    assert len(set(ids)) == len(ids)
    assert len({p.text for p in prompts}) == len(prompts)  # a text is recorded once
    by_id = {p.id: p for p in prompts}
    for wanted in ("main.greeting", "main.menu", "global.transfer", "global.no_input"):
        assert wanted in by_id
    assert by_id["main.greeting"].text == wallet.greeting
    assert by_id["global.no_input"] == ("global.no_input", "", wallet.messages.no_input)
    step = by_id["password_recovery.step.2"]
    node = wallet.node("password_recovery")
    assert step.node == "password_recovery"
    assert step.text == "第二步：" + node.steps[1]
    assert all("/" not in i and not i.startswith(".") for i in ids)  # usable as file names
    assert [p.text for p in prompts] == wallet.prompt_texts()


def test_templates_get_one_id_per_text_they_can_be_filled_with(wallet: Menu) -> None:
    by_id = {p.id: p.text for p in wallet.prompts()}
    failed = wallet.node("transaction_failed")
    assert by_id["transaction_failed.step.4"] == "第四种原因：" + failed.steps[3]
    assert by_id["transaction_failed.confirm"].startswith("您要咨询的是交易失败吗？")
    assert by_id["global.confirm.agent"].startswith("您要咨询的是人工")
    assert by_id["global.confirm.step_next"].startswith("您要咨询的是下一步吗？")


def test_an_edited_text_keeps_its_id(make_menu: Callable[..., Menu]) -> None:
    before = make_menu()
    after = make_menu({"点击忘记密码。": "点击“忘记密码”按钮。", "欢迎致电。": "您好。"})
    assert [p.id for p in before.prompts()] == [p.id for p in after.prompts()]
    changed = {
        p.id for p, q in zip(before.prompts(), after.prompts(), strict=True) if p.text != q.text
    }
    assert changed == {"password.step.2", "main.greeting"}


def test_a_menu_without_procedures_asks_for_no_step_messages(menu: Menu) -> None:
    ids = {p.id for p in menu.prompts()}
    assert "global.first_step" not in ids and "global.confirm.step_next" not in ids
    assert "global.confirm.agent" in ids


@pytest.mark.parametrize("path", [WALLET, KOREAN, BACKLINKS], ids=lambda p: p.name)
def test_every_prompt_a_call_can_say_has_an_id(path: Path) -> None:
    """Random callers (keys, timeouts, sure and unsure speech): every prompt is listed."""
    menu = load(path)
    listed = set(menu.prompt_texts())
    flow = CallFlow(menu)
    rng = random.Random(11)
    keys = "0123456789*#"
    said: set[str] = set()
    for _ in range(400):
        call, events = flow.start()
        for _ in range(30):
            said |= {e.text for e in events if e.type is EventType.PROMPT and e.text}
            if call.ended:
                break
            roll = rng.random()
            received: CallInput
            if roll < 0.5:
                received = KeyPress(rng.choice(keys))
            elif roll < 0.85 and flow.choices(call):
                phrase = rng.choice(flow.choices(call)).phrase
                received = Utterance(phrase, rng.choice([1.0, 0.5]))
            elif roll < 0.95:
                received = NoInput() if rng.random() < 0.5 else PromptsFinished()
            else:
                received = HangUp()
            events = flow.handle(call, received)
    assert said - listed == set()
    assert any("맞습니까" in t or "您要咨询的是" in t for t in said)  # confirmations were said


# --- export -------------------------------------------------------------------------------


def parse(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_export_lists_id_node_and_text_and_keeps_a_manifest(menu: Menu, project: Path) -> None:
    out = project / "session.csv"
    code, stdout, err = in_process(["prompts", "export", str(menu.path), "--out", str(out)])
    assert code == 0, err
    assert stdout == ""
    rows = parse(out.read_text(encoding="utf-8"))
    assert rows[0] == ["id", "node", "text"]
    assert [tuple(r) for r in rows[1:]] == menu.prompts()
    assert ["main.menu", "main", MENU_PROMPT] in rows
    code, stdout, _ = in_process(["prompts", "export", str(menu.path)])
    assert code == 0
    assert parse(stdout) == rows  # stdout without --out
    manifest = parse((recordings(project) / MANIFEST).read_text(encoding="utf-8"))
    assert manifest == rows


def test_export_missing_lists_what_is_still_to_record(menu: Menu, project: Path) -> None:
    code, stdout, err = in_process(["prompts", "export", str(menu.path), "--missing"])
    assert code == 0, err
    ids = [row[0] for row in parse(stdout)[1:]]
    assert "main.greeting" not in ids and "main.menu" in ids
    assert len(ids) == len(menu.prompts()) - 1


def test_export_to_another_audio_folder(menu: Menu, tmp_path: Path) -> None:
    elsewhere = tmp_path / "studio"
    code, _, err = in_process(["prompts", "export", str(menu.path), "--audio", str(elsewhere)])
    assert code == 0, err
    assert (elsewhere / "ko-KR" / MANIFEST).is_file()


def test_the_manifest_keeps_the_text_a_prompt_was_recorded_from(
    make_menu: Callable[..., Menu], tmp_path: Path
) -> None:
    folder = tmp_path / "rec"
    update_manifest(folder, make_menu().prompts())
    write_stereo(folder / "main.menu.wav", tone())
    edited = make_menu({"账户请按1，帮助": "账户问题请按1，帮助", "欢迎致电。": "您好。"})
    update_manifest(folder, edited.prompts())
    rows = {r[0]: r[2] for r in parse((folder / MANIFEST).read_text(encoding="utf-8"))}
    assert rows["main.menu"] == "账户请按1，帮助请按2，人工服务请按0。"  # recorded: kept
    assert rows["main.greeting"] == "您好。"  # not recorded yet: the text to record now


def test_render_keeps_its_bare_form_and_exports_options_are_refused(menu: Menu) -> None:
    code, _, err = in_process(["prompts", "render", str(menu.path), "--out", "x.csv"])
    assert code == 2 and "--out does not go with render" in err
    code, _, err = in_process(["prompts", "export", str(menu.path), "--cache", "c"])
    assert code == 2 and "--cache does not go with export" in err
    code, _, err = in_process(["prompts", "frobnicate", str(menu.path)])
    assert code == 2 and "unknown action" in err


def test_render_pre_renders_in_both_forms(menu: Menu, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    code, out, err = in_process(["prompts", str(menu.path), "--cache", str(cache)])
    assert code == 0, err
    count = len(menu.prompt_texts())
    assert f"{count} prompts, {count} rendered" in out
    code, out, err = in_process(["prompts", "render", str(menu.path), "--cache", str(cache)])
    assert code == 0, err
    assert f"{count} prompts, 0 rendered, {count} already cached" in out


# --- where the recordings are ---------------------------------------------------------------


def test_the_audio_folder_is_beside_the_menus_folder_or_configured(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    menu_path = project / "menus" / KOREAN.name
    assert audio_root(menu_path) == project / "audio" / "prompts"
    assert audio_root(WALLET) == ROOT / "audio" / "prompts"
    monkeypatch.setenv(AUDIO_ENV, str(project / "elsewhere"))
    assert audio_root(menu_path) == project / "elsewhere"


# --- playback -------------------------------------------------------------------------------


def test_the_rendering_player_plays_the_recording_and_tts_for_the_rest(
    menu: Menu, project: Path, tts: PromptCache
) -> None:
    recorded = RecordedPrompts(tts, recordings(project), menu.prompts())
    player = RenderingPlayer(recorded)
    greeting = recordings(project) / "main.greeting.wav"
    assert player.start(GREETING) == pytest.approx(0.5)
    assert np.array_equal(player.clip(GREETING).samples, read_wav(greeting).samples)
    assert np.array_equal(player.clip(MENU_PROMPT).samples, read_wav(tts.get(MENU_PROMPT)).samples)
    assert tts.synthesizer.rendered == [MENU_PROMPT]  # type: ignore[attr-defined]


class FakeSpeaker:
    rate = 48000

    def __init__(self) -> None:
        self.played: list[AudioClip] = []

    def play(self, clip: AudioClip) -> float:
        self.played.append(clip)
        return clip.duration

    def stop(self) -> None:
        pass

    def close(self) -> None:
        pass

    @property
    def is_playing(self) -> bool:
        return False


def test_the_speaking_player_plays_the_recording_at_the_speakers_rate(
    menu: Menu, project: Path, tts: PromptCache
) -> None:
    speaker = FakeSpeaker()
    player = SpeakingPlayer(RecordedPrompts(tts, recordings(project), menu.prompts()), speaker)
    assert player.prefetch(menu.prompt_texts()) == len(menu.prompt_texts()) - 1  # not recorded
    assert player.start(GREETING) == pytest.approx(0.5)
    player.start(MENU_PROMPT)
    greeting, spoken = speaker.played
    assert greeting.rate == spoken.rate == 48000
    assert np.array_equal(
        greeting.samples, expected(recordings(project) / "main.greeting.wav", 48000)
    )
    assert np.array_equal(spoken.samples, expected(tts.get(MENU_PROMPT), 48000))


def test_a_broken_recording_is_one_warning_and_the_prompt_is_said_by_tts(
    menu: Menu, project: Path, tts: PromptCache, warnings: list[str]
) -> None:
    broken = recordings(project) / "main.menu.wav"
    broken.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk")
    player = RenderingPlayer(RecordedPrompts(tts, recordings(project), menu.prompts()))
    for _ in range(3):
        clip = player.clip(MENU_PROMPT)
    assert np.array_equal(clip.samples, read_wav(tts.get(MENU_PROMPT)).samples)
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith(f"{broken}: ")
    assert "\n" not in warnings[0]
    assert player.start(GREETING) == pytest.approx(0.5)  # the other recording still plays


def test_an_outdated_recording_is_not_played(menu: Menu, project: Path, tts: PromptCache) -> None:
    folder = recordings(project)
    (folder / MANIFEST).write_text(
        "id,node,text\nmain.greeting,main,옛 인사말.\n", encoding="utf-8"
    )
    player = RenderingPlayer(RecordedPrompts(tts, folder, menu.prompts()))
    assert np.array_equal(player.clip(GREETING).samples, read_wav(tts.get(GREETING)).samples)


def test_a_call_with_out_has_the_recording_in_its_call_audio(menu: Menu, project: Path) -> None:
    """End to end with the real text-to-speech: `ivr call --keys 0 --out DIR`."""
    out = project / "run"
    code, _, err = in_process(
        ["call", "--menu", str(menu.path), "--keys", "0", "--out", str(out), "--quiet"]
    )
    assert code == 0, err
    events = [json.loads(line) for line in (out / "call.jsonl").read_text().splitlines()]
    prompts = [(e["t"], e["text"]) for e in events if e["type"] == "prompt"]
    assert prompts[0] == (0, GREETING)
    assert prompts[1] == (0.5, MENU_PROMPT)  # timed by the recording's length
    with wave.open(str(out / "call.wav")) as call:
        assert call.getframerate() == RATE
        stereo = np.frombuffer(call.readframes(call.getnframes()), "<i2").reshape(-1, 2)
    hotline = stereo[:, 1]
    greeting = expected(recordings(project) / "main.greeting.wav", RATE)
    assert np.array_equal(hotline[: len(greeting)], greeting)
    from ivr import wiring

    spoken = expected(wiring.prompt_cache(menu.voice.id, menu.voice.rate).get(MENU_PROMPT), RATE)
    at = int(0.5 * RATE)
    assert np.array_equal(hotline[at : at + len(spoken)], spoken)  # TTS: no recording


def test_a_scenarios_call_audio_has_the_recording(menu: Menu, project: Path) -> None:
    scenario = project / "menus" / "agent.call.yaml"
    scenario.write_text(
        f"menu: {KOREAN.name}\nturns:\n  - press: '0'\nexpect: {{outcome: transferred}}\n",
        encoding="utf-8",
    )
    result = run_scenario(scenario, artifacts=project / "art", raise_errors=True)
    assert result.status.value == "passed", result
    with wave.open(str(project / "art" / "call.wav")) as call:
        stereo = np.frombuffer(call.readframes(call.getnframes()), "<i2").reshape(-1, 2)
    greeting = expected(recordings(project) / "main.greeting.wav", RATE)
    assert np.array_equal(stereo[: len(greeting), 1], greeting)


# --- ivr check ------------------------------------------------------------------------------


def test_check_reports_recordings_of_no_prompt_and_changed_texts(menu: Menu, project: Path) -> None:
    folder = recordings(project)
    code, _, err = in_process(["prompts", "export", str(menu.path)])
    assert code == 0, err
    code, _, err = in_process(["check", str(menu.path)])
    assert (code, err) == (0, "")
    write_stereo(folder / "main.goodbye.wav", tone())
    edited = menu.path.read_text(encoding="utf-8").replace(GREETING, "반갑습니다.")
    menu.path.write_text(edited, encoding="utf-8")
    code, _, err = in_process(["check", str(menu.path)])
    assert code == 1
    assert err.splitlines() == [
        f"{folder / 'main.goodbye.wav'}: recording of no prompt",
        f"{folder / 'main.greeting.wav'}: text changed after it was recorded "
        "(recorded '안녕하세요.', now '반갑습니다.'); record it again",
    ]


def test_check_reports_a_recording_whose_text_is_unknown_or_that_is_broken(
    menu: Menu, project: Path
) -> None:
    folder = recordings(project)
    (folder / "main.menu.wav").write_bytes(b"not a wav")
    code, _, err = in_process(["check", str(menu.path)])
    assert code == 1
    lines = err.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{folder / 'main.greeting.wav'}: recorded text unknown")
    assert lines[1].startswith(f"{folder / 'main.menu.wav'}: ")


def test_the_wallet_menu_checks_clean_with_the_repositorys_audio_folder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(AUDIO_ENV, raising=False)
    code, _, err = in_process(["check", str(WALLET)])
    assert (code, err) == (0, "")
