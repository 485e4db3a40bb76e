"""The one place that builds adapters — recognizer, prompt cache, players, artifacts, log —
for every front end (the CLI, the scenario runner, any later one).

Front ends decide *what* a call needs; this module decides *how* it is built, so a new
recognizer or synthesizer changes here only. Heavy libraries (vosk, pyttsx3, numpy) are
imported inside the functions, so importing this module costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ivr.backoffice.office import ConnectingBackOffice
    from ivr.engine.events import CallEvent
    from ivr.hearing.recognizer import VoskModel
    from ivr.hearing.rejection import Rejection
    from ivr.hearing.tracker import UtteranceTracker
    from ivr.menu.model import Menu
    from ivr.outputs.artifacts import CallAudio
    from ivr.outputs.call_log import Warn
    from ivr.prompts.recordings import PromptFiles, RecordedPrompts
    from ivr.prompts.tts import PromptCache

_vosk_models: dict[Path, VoskModel] = {}
_caches: dict[tuple[str, int, Path | None], PromptCache] = {}


def model_path(model: str | None, menu: Menu) -> Path:
    """Where the menu's speech model is; ModelNotFound says what to install or pass,
    ModelLanguageMismatch refuses a model for another language than the menu's, and a
    model other than the one the menu's thresholds were calibrated for is one warning."""
    from ivr.hearing.models import check_calibration, check_language, find_model

    path = find_model(model, menu.language, menu.speech.model)
    check_language(path, menu.language, model)
    check_calibration(path, menu.speech.calibrated_for)
    return path


def tracker(path: Path, *, shared: bool = False, menu: Menu | None = None) -> UtteranceTracker:
    """A recognizer on the model at ``path``; ``shared`` loads each model once per process
    (a scenario run plays many calls on one model). ``menu``: hear as it says (its
    ``speech.second_pass`` and ``speech.decoys``, which its thresholds were calibrated with)."""
    from ivr.hearing.recognizer import VoskModel, VoskRecognizer
    from ivr.hearing.tracker import UtteranceTracker

    rejection = menu_rejection(menu) if menu else None
    model = shared_model(path) if shared else VoskModel(path)
    return UtteranceTracker(VoskRecognizer(model, rejection=rejection))


def shared_model(path: Path) -> VoskModel:
    """The model at ``path``, loaded once per process (~500 MB, seconds to load) and shared:
    a loaded model is read-only, each recognizer keeps its own decoding state."""
    from ivr.hearing.recognizer import VoskModel

    where = path.resolve()
    if where not in _vosk_models:
        _vosk_models[where] = VoskModel(where)
    return _vosk_models[where]


def menu_rejection(menu: Menu) -> Rejection | None:
    """How the menu's calls turn speech away (its ``speech.second_pass`` and ``speech.decoys``,
    which its thresholds were calibrated with): every way of calling hears the same."""
    from ivr.hearing.rejection import Rejection, menu_decoys

    return Rejection.for_speech(
        second_pass=menu.speech.second_pass,
        decoys=menu_decoys(menu.speech.decoys, menu.language),
    )


def prompt_cache(
    voice: str, rate: int, directory: Path | None = None, *, shared: bool = False
) -> PromptCache:
    """The rendered-prompt cache for a voice; ``shared`` keeps one per voice, rate and folder."""
    from ivr.prompts.tts import PromptCache, Pyttsx3Synthesizer

    if not shared:
        return PromptCache(Pyttsx3Synthesizer(voice=voice, rate=rate), directory)
    key = (voice, rate, directory)
    if key not in _caches:
        _caches[key] = PromptCache(Pyttsx3Synthesizer(voice=voice, rate=rate), directory)
    return _caches[key]


def recordings_folder(menu: Menu) -> Path:
    """Where the menu's prompt recordings are: ``<root>/<language>``, the root being
    $IVR_PROMPT_AUDIO or ``audio/prompts`` beside the menu's folder."""
    from ivr.prompts.recordings import audio_root

    return audio_root(menu.path) / menu.language


def recorded_prompts(
    menu: Menu, cache: PromptCache | PromptFiles, folder: Path | None = None
) -> RecordedPrompts:
    """The menu's prompt files for the players: its recordings where it has them (in
    ``folder``, else ``recordings_folder``), text-to-speech through ``cache`` otherwise."""
    from ivr.prompts.recordings import RecordedPrompts

    where = recordings_folder(menu) if folder is None else folder
    return RecordedPrompts(cache, where, menu.prompts())


def artifacts(
    folder: Path,
    cache: PromptFiles,
    listeners: list[Callable[[CallEvent, float], None]],
    stack: ExitStack,
    *,
    language: str,
    warn: Warn | None = None,
    keys_as_tones: bool = True,
) -> CallAudio:
    """Listen with the call log, the transcript (in the menu's ``language``) and the call
    audio, all into ``folder``."""
    from ivr.outputs.artifacts import CallAudio, Transcript
    from ivr.outputs.call_log import CallLog
    from ivr.prompts.player import RenderingPlayer

    call_log = CallLog(folder / "call.jsonl", warn)
    transcript = Transcript(folder / "transcript.txt", warn, language)
    stack.callback(call_log.close)
    stack.callback(transcript.close)
    rendering = RenderingPlayer(cache)
    call_audio = CallAudio(rendering.clip, keys_as_tones=keys_as_tones)
    listeners += [call_log, transcript, call_audio]
    return call_audio


def backoffice(menu: Menu, url: str | None = None) -> ConnectingBackOffice | None:
    """The back office of a menu with action nodes (None for a menu without): the database
    at ``url`` (``--db``), else ``$IVR_DATABASE_URL``, else the default SQLite file that
    ``ivr db init`` creates. It connects at the first request (a call that never reaches an
    action node never imports SQLAlchemy); a database missing or down makes each request
    ``error``: the caller hears the menu's apology and is offered an agent. Raises
    DatabaseUrlInvalid (exit 2) for a URL no database can have, before the call."""
    if not any(node.action is not None for node in menu.nodes.values()):
        return None
    from ivr.backoffice.office import ConnectingBackOffice
    from ivr.backoffice.settings import database_url

    return ConnectingBackOffice(database_url(url))
