"""``ivr speech-eval``: how well a menu's spoken choices are heard, measured before shipping.

For every distinct grammar a call listens with (a menu, a procedure, a confirmation), each
phrase is rendered by espeak-ng over several voices, speeds and pitches, heard clean, with
white noise and through the phone line, and run through the same path as a call: the
state's closed grammar in a ``VoskRecognizer`` behind an ``UtteranceTracker`` fed 20 ms at
a time, then ``match`` and ``decide`` against the menu's choices and thresholds. An
out-of-grammar set (shipped per language in ``ivr/hearing/data/oog.<language>.txt``,
extendable, plus the phrases of the menu's other states) measures what should be turned
away. The report gives accuracy per phrase and condition, the confusion table, confused
pairs, false accepts and confirms, and the accept/false-accept curve over thresholds with
a recommended operating point (``recommend``).

Renders are cached by espeak-ng voice, speed, pitch and text, so a second run only decodes.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ivr.engine.matching import Action, Choice, Verdict, decide, match
from ivr.errors import IvrError
from ivr.menu.phrases import normalize

if TYPE_CHECKING:
    from ivr.audio.wav import AudioClip
    from ivr.hearing.recognizer import VoskModel
    from ivr.menu.model import Menu

RATE = 16000
CHUNK = 320
"""20 ms at 16 kHz: how a call feeds the recognizer."""
LEAD, TAIL = 0.3, 1.2
"""Seconds of silence before and after each utterance."""

VOICES: dict[str, tuple[str, ...]] = {"ko": ("ko", "ko+f2"), "zh": ("cmn", "cmn+f2")}
"""espeak-ng voices per language (the part before '-' of the menu's language)."""
SPEEDS = (120, 150, 175, 195)
PITCHES = (35, 50, 65)


class EvaluationError(IvrError):
    """The evaluation cannot run (no espeak-ng, no voice for the language, a bad OOG file)."""


@dataclass(frozen=True)
class Render:
    """One espeak-ng rendering: voice, words per minute, pitch (0-99)."""

    voice: str
    speed: int
    pitch: int

    @property
    def label(self) -> str:
        return f"{self.voice} s{self.speed} p{self.pitch}"


@dataclass(frozen=True)
class Condition:
    """How a render reaches the recognizer: as it is, with white noise ``snr_db`` below
    the speech's active level, and/or across a G.711 phone line (``ivr.audio.phone_line``)."""

    name: str
    snr_db: float | None = None
    line: bool = False

    def apply(self, clip: AudioClip, seed: int) -> AudioClip:
        from ivr.audio.dtmf import Noise, active_power
        from ivr.audio.phone_line import Line
        from ivr.audio.wav import to_rate

        if self.line:
            clip = to_rate(Line("ulaw", snr_db=self.snr_db, seed=seed)(clip), RATE)
        elif self.snr_db is not None:
            clip = Noise(active_power(clip), self.snr_db, seed).add(clip)
        return clip


CONDITIONS: dict[str, Condition] = {
    "clean": Condition("clean"),
    "noise20": Condition("noise20", snr_db=20.0),
    "noise10": Condition("noise10", snr_db=10.0),
    "line": Condition("line", line=True),
    "line20": Condition("line20", snr_db=20.0, line=True),
}
DEFAULT_CONDITIONS = ("clean", "noise20", "line")


@dataclass(frozen=True)
class Plan:
    """What to render and how to hear it."""

    voices: tuple[str, ...]
    speeds: tuple[int, ...] = SPEEDS
    pitches: tuple[int, ...] = PITCHES
    conditions: tuple[str, ...] = DEFAULT_CONDITIONS
    oog_share: int = 4
    """Each out-of-grammar utterance is heard with every ``oog_share``-th render (a
    different subset for each), so the out-of-grammar set costs no more than the phrases."""

    @property
    def renders(self) -> list[Render]:
        return [Render(v, s, p) for v in self.voices for s in self.speeds for p in self.pitches]


def default_plan(language: str, *, quick: bool = False) -> Plan:
    """2 voices x 4 speeds x 3 pitches, clean/noise/line; ``quick``: 1 voice, 2 speeds."""
    voices = VOICES.get(language.split("-")[0].lower())
    if voices is None:
        raise EvaluationError(f"no espeak-ng voice known for language {language!r}")
    if quick:
        return Plan(voices[:1], (150, 195), (50,), ("clean", "noise20"), oog_share=1)
    return Plan(voices)


# --- rendering -------------------------------------------------------------------------


class Renderer:
    """espeak-ng renders at 16 kHz, cached on disk by voice, speed, pitch and text."""

    def __init__(self, cache_dir: Path | None = None) -> None:
        espeak = shutil.which("espeak-ng")
        if espeak is None:
            raise EvaluationError("espeak-ng is not installed: apt-get install espeak-ng")
        self.espeak = espeak
        if cache_dir is None:
            import platformdirs

            cache_dir = Path(platformdirs.user_cache_dir("ivr")) / "speech-eval"
        self.cache_dir = cache_dir

    def clip(self, text: str, render: Render) -> AudioClip:
        from ivr.audio.wav import read_wav, to_rate, write_wav

        key = f"espeak-ng|{render.voice}|{render.speed}|{render.pitch}|{text}"
        path = self.cache_dir / (hashlib.sha256(key.encode()).hexdigest()[:24] + ".wav")
        if path.is_file():
            return read_wav(path)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.cache_dir) as tmp:
            raw = Path(tmp) / "raw.wav"
            command = [self.espeak, "-v", render.voice, "-s", str(render.speed)]
            command += ["-p", str(render.pitch), "-w", str(raw), text]
            try:
                subprocess.run(command, check=True, capture_output=True, timeout=30)
            except (OSError, subprocess.SubprocessError) as exc:
                raise EvaluationError(f"espeak-ng cannot say {text!r}: {exc}") from None
            clip = to_rate(read_wav(raw), RATE)
            done = Path(tmp) / "done.wav"
            write_wav(done, clip)
            done.replace(path)
        return clip


# --- what is said where ----------------------------------------------------------------


@dataclass(frozen=True)
class Listening:
    """A grammar a call listens with, named after the first state that uses it."""

    name: str
    choices: tuple[Choice, ...]
    end_of_speech: float | None

    @property
    def grammar(self) -> tuple[str, ...]:
        return tuple(choice.phrase for choice in self.choices)


def listening_states(menu: Menu) -> list[Listening]:
    """Every distinct grammar of the menu (its phrases, in order), once."""
    from ivr.engine.flow import Call, CallFlow, Phase
    from ivr.menu.model import NodeKind

    flow = CallFlow(menu)
    found: dict[tuple[str, ...], Listening] = {}
    for node_id, node in menu.nodes.items():
        heard = Phase.PLAYING if node.kind is NodeKind.ANSWER else Phase.LISTENING
        for phase in (heard, Phase.CONFIRMING):
            call = Call(state=node_id, phase=phase)
            choices = flow.choices(call)
            grammar = flow.grammar(call)
            if not grammar or grammar in found:
                continue
            name = node_id if phase is Phase.LISTENING else f"{node_id} ({phase})"
            found[grammar] = Listening(name, choices, node.settings.end_of_speech)
    return list(found.values())


def shipped_oog(language: str) -> list[str]:
    """The out-of-grammar set shipped for the language ('ko-KR', 'zh-CN'), or []."""
    base = resources.files("ivr.hearing") / "data"
    for name in (f"oog.{language}.txt", f"oog.{language.split('-')[0]}.txt"):
        entry = base / name
        if entry.is_file():
            return parse_oog(entry.read_text(encoding="utf-8"))
    return []


def parse_oog(text: str) -> list[str]:
    """One utterance a line; '#' starts a comment; blank lines are skipped."""
    out = []
    for line in text.splitlines():
        said = line.split("#", 1)[0].strip()
        if said:
            out.append(said)
    return list(dict.fromkeys(out))


def out_of_grammar(state: Listening, pool: Sequence[str]) -> list[str]:
    """The utterances of ``pool`` that are no phrase of ``state`` and contain none."""
    forms = [normalize(phrase) for phrase in state.grammar]
    return [
        said
        for said in dict.fromkeys(pool)
        if (form := normalize(said)) and not any(f and f in form for f in forms)
    ]


# --- trials -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """One thing said in one state: a phrase of it (``expected``), or out of grammar."""

    state: str
    text: str
    expected: Action | None
    recording: Path | None = None
    """The designer's own recording of it (None: rendered by espeak-ng)."""


@dataclass(frozen=True)
class Trial:
    item: Item
    render: Render
    condition: str
    heard: str
    confidence: float
    verdict: Verdict
    score: float
    """Match score times confidence: what ``accept`` and ``confirm`` are compared with."""
    phrase: str | None
    """The menu phrase matched (None: no match)."""
    action: Action | None

    @property
    def in_grammar(self) -> bool:
        return self.item.expected is not None

    @property
    def right(self) -> bool:
        return self.action is not None and self.action == self.item.expected

    def outcome(self, accept: float | None = None, confirm: float | None = None) -> str:
        """'right'/'wrong' (accepted), 'confirm-right'/'confirm-wrong', or 'reject', at the
        thresholds given (default: the decision taken)."""
        if accept is None or confirm is None:
            verdict = self.verdict
        elif self.action is None or self.score < confirm:
            verdict = Verdict.REJECT
        else:
            verdict = Verdict.ACCEPT if self.score >= accept else Verdict.CONFIRM
        if verdict is Verdict.REJECT or self.action is None:
            return "reject"
        good = self.right
        if verdict is Verdict.ACCEPT:
            return "right" if good else "wrong"
        return "confirm-right" if good else "confirm-wrong"


Progress = Callable[[int, int], None]


def run_trials(
    menu: Menu,
    model: VoskModel,
    plan: Plan,
    *,
    oog: Sequence[str] = (),
    renderer: Renderer | None = None,
    recordings: Path | None = None,
    progress: Progress | None = None,
    recognizer_options: dict[str, Any] | None = None,
) -> list[Trial]:
    """Every (state, utterance, render, condition) through the real recognizer and matcher.

    ``recordings``: a folder of the designer's own WAV files, named ``<phrase>.wav`` or
    ``<phrase>/<anything>.wav`` (out of grammar: under ``_oog/``); heard in every condition
    as render ``recorded``.
    """
    from ivr.hearing.recognizer import VoskRecognizer
    from ivr.hearing.tracker import UtteranceTracker

    renderer = renderer or Renderer()
    states = listening_states(menu)
    all_phrases = [phrase for state in states for phrase in state.grammar]
    pool = list(dict.fromkeys([*oog, *all_phrases]))
    items: list[Item] = []
    for state in states:
        items += [Item(state.name, c.phrase, c.action) for c in state.choices]
        items += [Item(state.name, said, None) for said in out_of_grammar(state, pool)]
    own = _recordings(recordings) if recordings is not None else {}
    for state in states:
        for choice in state.choices:
            items += [
                Item(state.name, choice.phrase, choice.action, p)
                for p in own.get(choice.phrase, [])
            ]
        items += [Item(state.name, p.stem, None, p) for p in own.get("_oog", [])]
    by_state = {state.name: state for state in states}
    tracker = UtteranceTracker(VoskRecognizer(model, **(recognizer_options or {})))
    renders = plan.renders
    chosen = [
        _renders_for(item, number, renders, plan.oog_share) for number, item in enumerate(items)
    ]
    total = sum(len(r) for r in chosen) * len(plan.conditions)
    trials: list[Trial] = []
    for item, item_renders in zip(items, chosen, strict=True):
        state = by_state[item.state]
        if item.recording is not None:
            sources = [(Render("recorded", 0, 0), _read(item.recording))]
        else:
            sources = [(r, renderer.clip(item.text, r)) for r in item_renders]
        for number, (render, clip) in enumerate(sources):
            for condition in plan.conditions:
                seed = int(hashlib.sha256(f"{item.text}|{number}".encode()).hexdigest()[:8], 16)
                heard = CONDITIONS[condition].apply(clip, seed)
                text, confidence = hear(tracker, state, heard)
                found = match(text, state.choices) if text else None
                decision = decide(found, confidence, menu.speech.accept, menu.speech.confirm)
                trials.append(
                    Trial(
                        item,
                        render,
                        condition,
                        text,
                        round(confidence, 3),
                        decision.verdict,
                        decision.score,
                        found.choice.phrase if found else None,
                        found.choice.action if found else None,
                    )
                )
                if progress is not None:
                    progress(len(trials), total)
    return trials


def hear(tracker: Any, state: Listening, clip: AudioClip) -> tuple[str, float]:
    """What a call in ``state`` hears in ``clip``: silence, the clip, silence, fed 20 ms at a
    time until the tracker ends the utterance (or the audio ends)."""
    import numpy as np

    tracker.expect(state.grammar, state.end_of_speech)
    samples = np.concatenate(
        [
            np.zeros(round(LEAD * RATE), np.int16),
            clip.samples,
            np.zeros(round(TAIL * RATE), np.int16),
        ]
    )
    data = samples.astype("<i2").tobytes()
    from ivr.engine.inputs import Utterance

    for start in range(0, len(data), 2 * CHUNK):
        event = tracker.feed(data[start : start + 2 * CHUNK])
        if isinstance(event, Utterance):
            return event.text, event.confidence
    last = tracker.finish()
    return (last.text, last.confidence) if last is not None else ("", 0.0)


def decoyed(
    pool: Sequence[str], decoys: Sequence[str], segment: Callable[[str], Any]
) -> frozenset[str]:
    """The utterances of ``pool`` that hold one of ``decoys`` as a model word (``segment``:
    the model's word split, ``Vocabulary.segment``)."""
    words = set(decoys)
    return frozenset(
        said for said in pool if any(set(segment(token)) & words for token in said.split())
    )


def _renders_for(item: Item, number: int, renders: list[Render], share: int) -> list[Render]:
    if item.recording is not None:
        return [Render("recorded", 0, 0)]
    if item.expected is not None or share <= 1:
        return renders
    return renders[number % share :: share]


def _recordings(folder: Path) -> dict[str, list[Path]]:
    if not folder.is_dir():
        raise EvaluationError(f"{folder}: no such folder of recordings")
    found: dict[str, list[Path]] = defaultdict(list)
    for path in sorted(folder.rglob("*.wav")):
        relative = path.relative_to(folder)
        name = relative.parts[0] if len(relative.parts) > 1 else path.stem
        found[name].append(path)
    return dict(found)


def _read(path: Path) -> AudioClip:
    from ivr.audio.wav import read_wav, to_rate

    return to_rate(read_wav(path), RATE)


# --- report -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Rates:
    """Shares of trials: in grammar taken right / wrong / confirmed; out of grammar taken
    or confirmed."""

    n_in: int
    n_out: int
    right: float
    wrong: float
    confirm_right: float
    confirm_wrong: float
    rejected_in: float
    oog_accepted: float
    oog_confirmed: float


def rates(
    trials: Sequence[Trial], accept: float | None = None, confirm: float | None = None
) -> Rates:
    inside = [t.outcome(accept, confirm) for t in trials if t.in_grammar]
    outside = [t.outcome(accept, confirm) for t in trials if not t.in_grammar]
    n_in, n_out = len(inside), len(outside)

    def share(values: list[str], *kinds: str) -> float:
        return sum(v in kinds for v in values) / len(values) if values else 0.0

    return Rates(
        n_in,
        n_out,
        share(inside, "right"),
        share(inside, "wrong"),
        share(inside, "confirm-right"),
        share(inside, "confirm-wrong"),
        share(inside, "reject"),
        share(outside, "right", "wrong"),
        share(outside, "confirm-right", "confirm-wrong"),
    )


@dataclass(frozen=True)
class CurvePoint:
    threshold: float
    right: float
    """In-grammar utterances whose right option scores at least ``threshold``."""
    wrong: float
    oog: float


def curve(trials: Sequence[Trial], step: float = 0.01) -> list[CurvePoint]:
    """Accepted shares if ``accept`` were each threshold from 0 to 1."""
    inside = [t for t in trials if t.in_grammar]
    outside = [t for t in trials if not t.in_grammar]
    points = []
    for i in range(round(1 / step) + 1):
        t = round(i * step, 4)

        def taken(group: list[Trial], want: bool | None, t: float = t) -> float:
            hits = [
                x
                for x in group
                if x.action is not None and x.score >= t and (want is None or x.right == want)
            ]
            return len(hits) / len(group) if group else 0.0

        points.append(
            CurvePoint(t, taken(inside, True), taken(inside, False), taken(outside, None))
        )
    return points


@dataclass(frozen=True)
class Targets:
    right: float = 0.90
    wrong: float = 0.02
    oog: float = 0.10


@dataclass(frozen=True)
class OperatingPoint:
    accept: float
    confirm: float
    meets_targets: bool
    reason: str


def recommend(trials: Sequence[Trial], targets: Targets = Targets()) -> OperatingPoint:
    """Thresholds from the measured curve.

    ``accept``: the lowest threshold at which wrong options and out-of-grammar speech are
    taken no more often than the targets (the most right answers under those limits); if
    none is that safe, the one with the fewest false accepts (wrong + out of grammar) per
    right answer lost. ``confirm``: the lowest threshold below ``accept`` at which what
    would be confirmed holds no more than 30 % out-of-grammar and 10 % wrong options of
    what is heard there; ``accept`` itself if none.
    """
    points = curve(trials)
    safe = [p for p in points if p.wrong <= targets.wrong and p.oog <= targets.oog]
    if safe:
        best = max(safe, key=lambda p: (p.right, -p.threshold))
        accept = best.threshold
        meets = best.right >= targets.right
        reason = (
            f"lowest threshold with wrong <= {targets.wrong:.0%} and out-of-grammar <= "
            f"{targets.oog:.0%}: right {best.right:.1%}"
        )
    else:
        best = max(points, key=lambda p: (p.right - 5 * p.wrong - p.oog, p.threshold))
        accept = best.threshold
        meets = False
        reason = "no threshold meets the false-accept targets; best trade-off taken"
    accept = max(accept, 0.05)
    inside = [t for t in trials if t.in_grammar and t.action is not None]
    outside = [t for t in trials if not t.in_grammar and t.action is not None]
    confirm = accept
    for p in reversed([p for p in points if 0.2 <= p.threshold < accept]):
        band_in = [t for t in inside if p.threshold <= t.score < accept]
        band_out = [t for t in outside if p.threshold <= t.score < accept]
        total = len(band_in) + len(band_out)
        if total == 0:
            confirm = p.threshold
            continue
        wrong = sum(not t.right for t in band_in)
        if len(band_out) / total > 0.3 or wrong / total > 0.1:
            break
        confirm = p.threshold
    return OperatingPoint(round(accept, 2), round(confirm, 2), meets, reason)


@dataclass
class Report:
    """Everything ``ivr speech-eval`` prints, as plain data (``to_json``)."""

    menu: str
    model: str
    accept: float
    confirm: float
    trials: list[Trial]
    recommended: OperatingPoint
    by_condition: dict[str, Rates] = field(default_factory=dict)
    overall: Rates | None = None
    second_pass: bool = False
    """The trials were heard with the second pass: the thresholds hold only with it on."""
    decoys: bool = False
    """The trials were heard with decoys in the grammar (likewise)."""
    decoyed: frozenset[str] = frozenset()
    """Out-of-grammar utterances that hold a decoy word: turning them away is no test of
    the decoys, so ``held_out`` leaves them out."""
    held_out: Rates | None = None
    """In grammar, and out of grammar without the ``decoyed`` utterances."""

    @classmethod
    def build(
        cls,
        menu: Menu,
        model_name: str,
        trials: list[Trial],
        *,
        second_pass: bool = False,
        decoys: bool = False,
        decoyed: frozenset[str] = frozenset(),
    ) -> Report:
        conditions = list(dict.fromkeys(t.condition for t in trials))
        report = cls(
            str(menu.path),
            model_name,
            menu.speech.accept,
            menu.speech.confirm,
            trials,
            recommend(trials),
            second_pass=second_pass,
            decoys=decoys,
            decoyed=decoyed,
        )
        report.by_condition = {
            c: rates([t for t in trials if t.condition == c]) for c in conditions
        }
        report.overall = rates(trials)
        if decoyed:
            report.held_out = rates(
                [t for t in trials if t.in_grammar or t.item.text not in decoyed]
            )
        return report

    def decoy_thefts(self) -> Counter[str]:
        """Garbage words (decoys, unknown-word symbols) heard in the menu's own phrases,
        by how many in-grammar utterances they spoilt: the decoys a designer drops."""
        found: Counter[str] = Counter()
        for t in self.trials:
            if t.in_grammar and not t.right:
                found.update({w for w in t.heard.split() if w.startswith("<")})
        return found

    def per_phrase(self) -> list[tuple[str, str, str, Rates]]:
        """(state, phrase, condition, rates) for every in-grammar phrase."""
        groups: dict[tuple[str, str, str], list[Trial]] = defaultdict(list)
        for t in self.trials:
            if t.in_grammar:
                groups[(t.item.state, t.item.text, t.condition)].append(t)
        return [(s, p, c, rates(ts)) for (s, p, c), ts in groups.items()]

    def confusions(self) -> dict[str, Counter[str]]:
        """Said phrase -> what it was taken or confirmed as ('-' rejected), all conditions."""
        table: dict[str, Counter[str]] = defaultdict(Counter)
        for t in self.trials:
            if t.in_grammar:
                outcome = t.outcome()
                table[f"{t.item.state}: {t.item.text}"][
                    "-" if outcome == "reject" else str(t.phrase)
                ] += 1
        return dict(table)

    def confused_pairs(self) -> list[tuple[str, str, str, int, int]]:
        """(state, said, taken for, accepted, confirmed), most frequent first: the phrases
        a designer should rename."""
        pairs: Counter[tuple[str, str, str]] = Counter()
        confirmed: Counter[tuple[str, str, str]] = Counter()
        for t in self.trials:
            if not t.in_grammar or t.action is None or t.right:
                continue
            outcome = t.outcome()
            key = (t.item.state, t.item.text, str(t.phrase))
            if outcome == "wrong":
                pairs[key] += 1
            elif outcome == "confirm-wrong":
                confirmed[key] += 1
        keys = set(pairs) | set(confirmed)
        rows = [(s, a, b, pairs[(s, a, b)], confirmed[(s, a, b)]) for s, a, b in keys]
        return sorted(rows, key=lambda r: (-r[3] - r[4], r[0], r[1], r[2]))

    def false_accepts(self) -> list[tuple[str, str, str, int, int]]:
        """Out-of-grammar utterances taken or confirmed: (state, said, taken for, accepted,
        confirmed), most frequent first."""
        taken: Counter[tuple[str, str, str]] = Counter()
        confirmed: Counter[tuple[str, str, str]] = Counter()
        for t in self.trials:
            if t.in_grammar:
                continue
            outcome = t.outcome()
            key = (t.item.state, t.item.text, str(t.phrase))
            if outcome in ("right", "wrong"):
                taken[key] += 1
            elif outcome.startswith("confirm"):
                confirmed[key] += 1
        keys = set(taken) | set(confirmed)
        rows = [(s, a, b, taken[(s, a, b)], confirmed[(s, a, b)]) for s, a, b in keys]
        return sorted(rows, key=lambda r: (-r[3] - r[4], r[0], r[1], r[2]))

    def to_json(self) -> dict[str, Any]:
        def as_dict(r: Rates) -> dict[str, Any]:
            return {k: round(v, 4) if isinstance(v, float) else v for k, v in vars(r).items()}

        return {
            "menu": self.menu,
            "model": self.model,
            "thresholds": {"accept": self.accept, "confirm": self.confirm},
            "second_pass": self.second_pass,
            "decoys": self.decoys,
            "overall": as_dict(self.overall) if self.overall else None,
            "held_out": as_dict(self.held_out) if self.held_out else None,
            "decoy_thefts": dict(self.decoy_thefts().most_common()),
            "by_condition": {c: as_dict(r) for c, r in self.by_condition.items()},
            "per_phrase": [
                {"state": s, "phrase": p, "condition": c, **as_dict(r)}
                for s, p, c, r in self.per_phrase()
            ],
            "confusions": {k: dict(v) for k, v in self.confusions().items()},
            "confused_pairs": [
                {"state": s, "said": a, "taken_for": b, "accepted": n, "confirmed": m}
                for s, a, b, n, m in self.confused_pairs()
            ],
            "false_accepts": [
                {"state": s, "said": a, "taken_for": b, "accepted": n, "confirmed": m}
                for s, a, b, n, m in self.false_accepts()
            ],
            "curve": [
                {
                    "threshold": p.threshold,
                    "right": round(p.right, 4),
                    "wrong": round(p.wrong, 4),
                    "oog": round(p.oog, 4),
                }
                for p in curve(self.trials, 0.05)
            ],
            "recommended": vars(self.recommended),
            "trials": [
                {
                    "state": t.item.state,
                    "said": t.item.text,
                    "in_grammar": t.in_grammar,
                    "render": t.render.label,
                    "condition": t.condition,
                    "heard": t.heard,
                    "confidence": t.confidence,
                    "score": t.score,
                    "decision": str(t.verdict),
                    "phrase": t.phrase,
                    "outcome": t.outcome(),
                }
                for t in self.trials
            ],
        }
