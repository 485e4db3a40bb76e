"""``ivr speech-eval MENU --model M``: how well the menu's spoken choices are heard.

Renders every phrase of every listening state with espeak-ng over voices, speeds and
pitches, hears them clean, in noise and across the phone line with the real recognizer
and matcher, and prints accuracy per condition and phrase, the confusions, the false
accepts and the recommended thresholds (``ivr.hearing.evaluation``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from ivr.cli import common
from ivr.cli.common import console, err, load
from ivr.errors import IvrError

if TYPE_CHECKING:
    from ivr.menu.model import Menu


def run(args: argparse.Namespace) -> int:
    from ivr.hearing import evaluation as ev
    from ivr.hearing.calibration import write_calibration

    menu = load(args.menu)
    try:
        model = common.model(menu, args.model)
        plan = ev.default_plan(menu.language, quick=args.quick)
        if args.conditions:
            unknown = [c for c in args.conditions if c not in ev.CONDITIONS]
            if unknown:
                err.print(
                    f"ivr speech-eval: unknown condition {unknown[0]!r} "
                    f"(one of: {', '.join(ev.CONDITIONS)})",
                    markup=False,
                )
                return 2
            plan = ev.Plan(plan.voices, plan.speeds, plan.pitches, tuple(args.conditions),
                           plan.oog_share)  # fmt: skip
        oog = ev.shipped_oog(menu.language)
        for path in args.oog or ():
            oog += ev.parse_oog(Path(path).read_text(encoding="utf-8"))
        out = console()
        with out.status("rendering and recognizing…") as status:

            def progress(done: int, total: int) -> None:
                if done % 25 == 0 or done == total:
                    status.update(f"{done}/{total} utterances heard")

            trials = ev.run_trials(
                menu,
                model,
                plan,
                oog=oog,
                recordings=args.recordings,
                progress=progress if not args.quiet else None,
                recognizer_options=_options(_second_pass(args, menu), _decoys(args, menu)),
            )
    except (OSError, UnicodeDecodeError) as error:
        err.print(f"ivr speech-eval: {error}", markup=False)
        return 1
    except IvrError as error:
        err.print(f"ivr speech-eval: {error}", markup=False)
        return 1
    from ivr.hearing.models import model_name

    decoys = _decoys(args, menu)
    report = ev.Report.build(
        menu,
        model_name(model.path),
        trials,
        second_pass=_second_pass(args, menu),
        decoys=bool(decoys),
        decoyed=ev.decoyed(
            [t.item.text for t in trials if not t.in_grammar],
            decoys,
            model.vocabulary.segment,
        ),
    )
    if not args.quiet:
        print_report(report)
    if args.json is not None:
        args.json.write_text(
            json.dumps(report.to_json(), ensure_ascii=False, indent=1), encoding="utf-8"
        )
    if args.chart is not None:
        write_chart(report, args.chart)
    if args.write_calibration:
        path = write_calibration(menu.path, report)
        console().print(f"calibration written to {path}", markup=False)
    return 0


def _second_pass(args: argparse.Namespace, menu: Menu) -> bool:
    """Measure as the menu's calls hear: with the second pass if the menu has it on
    (``speech.second_pass``), or if asked (``--second-pass``); ``--no-second-pass`` off."""
    chosen: bool | None = getattr(args, "second_pass", None)
    return menu.speech.second_pass if chosen is None else chosen


def _decoys(args: argparse.Namespace, menu: Menu) -> tuple[str, ...]:
    """Measure as the menu's calls hear: with its ``speech.decoys``, or the shipped list for
    its language if asked (``--decoys``); ``--no-decoys`` none."""
    from ivr.hearing.rejection import menu_decoys

    chosen: bool | None = getattr(args, "decoys", None)
    setting = menu.speech.decoys
    if chosen is True and setting is False:
        setting = True
    elif chosen is False:
        setting = False
    return menu_decoys(setting, menu.language)


def _options(second_pass: bool, decoys: tuple[str, ...] = ()) -> dict[str, object] | None:
    """The recognizer as calls build it: with or without the second pass and decoys."""
    from ivr.hearing.rejection import Rejection

    rejection = Rejection.for_speech(second_pass=second_pass, decoys=decoys)
    return None if rejection is None else {"rejection": rejection}


def print_report(report: object) -> None:
    from rich.table import Table

    from ivr.hearing.evaluation import Report, curve

    assert isinstance(report, Report)
    out = console()
    out.print(
        f"{report.menu} with {report.model}: {len(report.trials)} utterances, "
        f"thresholds accept {report.accept} / confirm {report.confirm}"
        + (", second pass on" if report.second_pass else "")
        + (", decoys on" if report.decoys else ""),
        markup=False,
    )
    summary = Table(title="By condition (in grammar: right/wrong accepted; out of grammar: taken)")
    for column in ("condition", "in", "right", "wrong", "confirm ok", "confirm bad",
                   "rejected", "oog", "oog taken", "oog confirmed"):  # fmt: skip
        summary.add_column(column, justify="left" if column == "condition" else "right")
    rows = [*report.by_condition.items()]
    if report.overall is not None:
        rows.append(("all", report.overall))
    if report.held_out is not None:
        rows.append(("held out", report.held_out))  # oog without decoy words
    for name, r in rows:
        summary.add_row(
            name, str(r.n_in), _pct(r.right), _pct(r.wrong), _pct(r.confirm_right),
            _pct(r.confirm_wrong), _pct(r.rejected_in), str(r.n_out), _pct(r.oog_accepted),
            _pct(r.oog_confirmed),
        )  # fmt: skip
    out.print(summary)
    if report.held_out is not None:
        out.print("held out: out-of-grammar utterances that hold no decoy word only", markup=False)
    phrases = Table(title="Right option accepted, per phrase and condition")
    conditions = list(report.by_condition)
    phrases.add_column("state")
    phrases.add_column("phrase")
    for c in conditions:
        phrases.add_column(c, justify="right")
    grid: dict[tuple[str, str], dict[str, str]] = {}
    for state, phrase, condition, r in report.per_phrase():
        grid.setdefault((state, phrase), {})[condition] = f"{_pct(r.right)}" + (
            f" ({_pct(r.wrong)} wrong)" if r.wrong else ""
        )
    for (state, phrase), cells in grid.items():
        phrases.add_row(state, phrase, *(cells.get(c, "") for c in conditions))
    out.print(phrases)
    confusion = Table(title="Confusions: what each phrase was taken or confirmed as ('-' rejected)")
    confusion.add_column("said")
    confusion.add_column("heard as")
    for said, counts in report.confusions().items():
        confusion.add_row(said, ", ".join(f"{k} {v}" for k, v in counts.most_common()))
    out.print(confusion)
    pairs = report.confused_pairs()
    if pairs:
        table = Table(title="Confused pairs (rename one of them)")
        for column in ("state", "said", "taken for", "accepted", "confirmed"):
            table.add_column(column)
        for state, said, taken, n, m in pairs[:15]:
            table.add_row(state, said, taken, str(n), str(m))
        out.print(table)
    false = report.false_accepts()
    if false:
        table = Table(title="Out-of-grammar speech taken or confirmed")
        for column in ("state", "said", "taken for", "accepted", "confirmed"):
            table.add_column(column)
        for state, said, taken, n, m in false[:15]:
            table.add_row(state, said, taken, str(n), str(m))
        out.print(table)
    thefts = report.decoy_thefts()
    if thefts:
        out.print(
            "garbage words heard in the menu's own phrases (drop such decoys): "
            + ", ".join(f"{w} {n}" for w, n in thefts.most_common(12)),
            markup=False,
        )
    table = Table(title="If accept were… (share of utterances accepted)")
    for column in ("threshold", "right", "wrong", "out of grammar"):
        table.add_column(column, justify="right")
    for p in curve(report.trials, 0.1):
        table.add_row(f"{p.threshold:.1f}", _pct(p.right), _pct(p.wrong), _pct(p.oog))
    out.print(table)
    rec = report.recommended
    out.print(
        f"recommended: accept {rec.accept:.2f}, confirm {rec.confirm:.2f} ({rec.reason}); "
        f"targets {'met' if rec.meets_targets else 'NOT met'}",
        markup=False,
    )


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def write_chart(report: object, path: Path) -> None:
    """The accept/false-accept curve and accuracy per condition, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ivr.hearing.evaluation import Report, curve

    assert isinstance(report, Report)
    points = curve(report.trials)
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    thresholds = [p.threshold for p in points]
    left.plot(thresholds, [p.right for p in points], label="in grammar, right option")
    left.plot(thresholds, [p.wrong for p in points], label="in grammar, wrong option")
    left.plot(thresholds, [p.oog for p in points], label="out of grammar")
    rec = report.recommended
    left.axvline(rec.accept, color="grey", linestyle="--", label=f"recommended accept {rec.accept}")
    left.axvline(report.accept, color="black", linestyle=":", label=f"menu accept {report.accept}")
    left.set_xlabel("accept threshold (score)")
    left.set_ylabel("share accepted")
    left.set_ylim(0, 1.02)
    left.legend(fontsize=8)
    left.set_title("Accepted vs threshold")
    names = list(report.by_condition)
    xs = range(len(names))
    width = 0.27
    values = [report.by_condition[n] for n in names]
    right.bar([x - width for x in xs], [r.right for r in values], width, label="right")
    right.bar(list(xs), [r.wrong for r in values], width, label="wrong")
    right.bar([x + width for x in xs], [r.oog_accepted for r in values], width, label="oog taken")
    right.set_xticks(list(xs), names)
    right.set_ylim(0, 1.02)
    right.legend(fontsize=8)
    right.set_title("At the menu's thresholds, per condition")
    figure.suptitle(f"{Path(report.menu).name} with {report.model}")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
