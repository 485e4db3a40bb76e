"""One error root: every error ivr raises on purpose is an IvrError; keys are a closed type."""

from __future__ import annotations

import pytest

from ivr.audio.wav import AudioDeviceUnavailable, AudioFileError
from ivr.callers.scripted import ScriptError
from ivr.engine.inputs import TELEPHONE_KEYS, KeyPress
from ivr.errors import InvalidKey, IvrError
from ivr.hearing.models import ModelDownloadError, ModelError, ModelNotFound
from ivr.hearing.recognizer import (
    GrammarError,
    ModelLoadError,
    SpeechError,
    UnknownWords,
    VocabularyError,
)
from ivr.menu.problems import MenuInvalid
from ivr.outputs.paths import OutputError
from ivr.prompts.tts import TTSError, TTSUnavailable
from ivr.scenarios.pytest_plugin import ScenarioFailed, ScenarioInvalid


@pytest.mark.parametrize(
    "error",
    [
        AudioDeviceUnavailable,
        AudioFileError,
        GrammarError,
        InvalidKey,
        MenuInvalid,
        ModelDownloadError,
        ModelError,
        ModelLoadError,
        ModelNotFound,
        OutputError,
        ScenarioFailed,
        ScenarioInvalid,
        ScriptError,
        SpeechError,
        TTSError,
        TTSUnavailable,
        UnknownWords,
        VocabularyError,
    ],
)
def test_every_project_error_has_the_one_root(error: type[Exception]) -> None:
    assert issubclass(error, IvrError)


def test_the_two_model_errors_have_different_names() -> None:
    assert ModelError is not ModelLoadError
    assert not issubclass(ModelLoadError, ModelError)


@pytest.mark.parametrize("key", sorted(TELEPHONE_KEYS))
def test_a_telephone_key_is_a_key_press(key: str) -> None:
    assert KeyPress(key).key == key


@pytest.mark.parametrize("key", ["A", "B", "C", "D", "", "12", "x", "١", " "])
def test_anything_else_is_refused(key: str) -> None:
    with pytest.raises(InvalidKey, match="not a telephone key"):
        KeyPress(key)
    with pytest.raises(ValueError):
        KeyPress(key)
