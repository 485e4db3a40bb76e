"""What the caller sees in the console: the keypad, the current menu, each prompt, each
key and utterance, and a status line (speaking, waiting with the seconds left,
recognizing, and the node's no-input and no-match counts).

Every word comes from the menu language's table in ivr/outputs/catalogue.py.

A live call on a terminal keeps the keypad (the last key lit) and the status line at the
bottom of the screen with rich's `Live`, counting the no-input timer down; everything
else, and any console that is not a terminal (a pipe, a test), gets plain lines: a line
when the hotline starts waiting for input, with the timer's length and the counts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.cells import cell_len
from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ivr.engine.events import CallEvent, EventType, PromptKind
from ivr.menu.model import GlobalAction, Menu, NodeKind
from ivr.outputs.catalogue import Words, outcome, record_reason, words_for

if TYPE_CHECKING:
    from rich.live import Live

    from ivr.engine.flow import Call

_KEY_ROWS = ("123", "456", "789", "*0#")
LIT = "bold black on bright_green"
"""The style of the key last pressed on the keypad drawing."""
UNLIT = "reverse"
_GAP = 2
"""Cells between a node's keys and what they do, in its panel."""

KEYPAD, TYPED, MIC = "keypad", "typed", "mic"
"""How a live caller presses or speaks: the banner's hint (``keypad_hint`` ...) for each."""


class ConsoleView:
    """A call listener that prints the call as it happens, and a session watcher that
    shows what the hotline is doing (``status``)."""

    def __init__(
        self,
        menu: Menu,
        console: Console | None = None,
        keypad: bool = True,
        *,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.menu = menu
        self.words: Words = words_for(menu.language)
        self.console = console or Console(highlight=False)
        self.show_keypad = keypad
        self.clock = clock
        """The call's clock, for a live countdown; None: plain lines (virtual-clock runs)."""
        self.lit: str | None = None
        """The key last pressed, lit on the keypad."""
        self.activity: str | None = None
        self.until = 0.0
        self.counts = (0, 0)
        self.node: str | None = None
        self._live: Live | None = None
        self._draft: Callable[[], str] | None = None

    def typing(self, draft: Callable[[], str]) -> None:
        """Show the line a typing caller is writing (``draft()``) under the status line."""
        self._draft = draft

    @property
    def live(self) -> bool:
        """Whether the keypad and status line stay on screen and count down."""
        return self.clock is not None and self.console.is_terminal and not self.console.quiet

    # -- the banner ---------------------------------------------------------------------

    def mode(self, mode: str, text_only: bool | None = None, speed: float = 1.0) -> str:
        """The banner's mode line in the menu's language: ``mode`` is a `Words` field name
        (``keypad_mode``, ``script_mode`` ...)."""
        words = self.words
        parts = [getattr(words, mode)]
        if text_only is not None:
            parts.append(words.text_only if text_only else words.spoken)
        if speed != 1.0:
            parts.append(words.speed.format(speed=f"{speed:g}"))
        return " · ".join(parts)

    def banner(self, mode: str, hint: str | None = KEYPAD) -> None:
        """The menu's title and the mode line; with the keypad, the keypad and how to press
        or speak (``hint``: `KEYPAD`, `TYPED` or `MIC`)."""
        if self.console.quiet:
            return
        self.console.print(
            Panel.fit(f"[bold]{escape(self.menu.title)}[/]\n{escape(mode)}", border_style="cyan")
        )
        if self.show_keypad and not self.live:
            self.console.print(self.keypad())
        words = self.words
        hints = {KEYPAD: words.keypad_hint, TYPED: words.typed_hint, MIC: words.mic_hint}
        if self.show_keypad and hint in hints:
            self.console.print(hints[hint] + "\n", style="dim", markup=False)
        if self.live:
            from rich.live import Live

            self._live = Live(
                _Bottom(self),
                console=self.console,
                refresh_per_second=4,
                transient=True,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._live.start()

    def close(self) -> None:
        """Take the live keypad and status line off the screen (the call is over)."""
        live, self._live = self._live, None
        if live is not None:
            live.stop()

    # -- events -------------------------------------------------------------------------

    def __call__(self, event: CallEvent, moment: float) -> None:
        if self.console.quiet:  # rich would lay out every panel only to drop it
            return
        words = self.words
        match event.type:
            case EventType.STATE | EventType.CALL_START:
                self._show_node(event.state)
            case EventType.PROMPT:
                bold = (PromptKind.MENU, PromptKind.STEP, PromptKind.COLLECT)
                style = "bold" if event.kind in bold else ""
                line = Text(f"{moment:7.2f}s ", style="dim")
                line.append(f"🔊 {event.text}", style=style)
                # Chinese has no spaces to break at: let the terminal wrap, not rich.
                self.console.print(line, soft_wrap=True)
            case EventType.KEY:
                self.lit = event.key
                self._print(moment, words.key.format(key=event.key), "green")
            case EventType.UTTERANCE:
                self._print(moment, self.heard(event), "green")
            case EventType.DIGITS:
                self._print(moment, words.digits.format(text=event.text), "green")
            case EventType.REQUEST:
                self._print(moment, words.request.format(operation=event.operation), "dim")
            case EventType.REPLY:
                reason = f" ({event.reason})" if event.reason else ""
                self._print(moment, words.reply.format(result=event.result) + reason, "dim")
            case EventType.BARGE_IN:
                self._print(moment, words.barge_in, "dim")
            case EventType.NO_INPUT:
                self._print(moment, words.no_input.format(count=event.count), "yellow")
            case EventType.NO_MATCH:
                if event.reason == "invalid-entry":
                    text = words.no_match_entry.format(text=event.text, count=event.count)
                elif event.key is None:  # nothing pressed: speech that was not recognized
                    text = words.no_match_speech.format(count=event.count)
                else:
                    text = words.no_match_key.format(key=event.key, count=event.count)
                self._print(moment, text, "yellow")
            case EventType.RECORD:
                self._print(moment, self.recorded(event), "cyan")
            case EventType.TRANSFER:
                self._print(moment, words.transfer, "magenta")
            case EventType.HANGUP:
                who = words.hangup_caller if event.reason == "caller" else words.hangup_hotline
                self._print(moment, who, "magenta")
            case EventType.CALL_END:
                self._print(moment, self.end_line(event), "bold")

    def heard(self, event: CallEvent) -> str:
        """An utterance: 🗣 「text」 confidence, and what it was taken for."""
        words = self.words
        confidence = f"{event.confidence:.2f}" if event.confidence is not None else "?"
        if event.decision == "accept" and event.phrase:
            decision = words.heard_accepted.format(phrase=event.phrase)
        elif event.decision == "confirm" and event.phrase:
            decision = words.heard_confirm.format(phrase=event.phrase)
        else:
            decision = words.heard_rejected
        return f"🗣 「{event.text or '…'}」 {confidence} {decision}"

    def recorded(self, event: CallEvent) -> str:
        """A record node's recording started or ended, in words (the log keeps the code),
        with the message's reference when its file will be written."""
        reason = record_reason(self.words, event.reason)
        if event.reason == "start":
            return self.words.record_start.format(reason=reason)
        line = self.words.record_end.format(reason=reason, seconds=f"{event.seconds or 0:g}")
        return line + (f" → {event.text}" if event.text else "")

    def end_line(self, event: CallEvent) -> str:
        """How the call ended, and in which node, in the menu's language."""
        node = self.menu.nodes.get(event.state)
        return self.words.call_end.format(
            outcome=outcome(self.words, event.outcome),
            node=node.title if node is not None else event.state,
        )

    def _print(self, moment: float, text: str, style: str) -> None:
        """A line: the call time, dim, then ``text`` (not markup) in ``style``."""
        line = Text.assemble((f"{moment:7.2f}s", "dim"), " ", (text, style))
        self.console.print(line, soft_wrap=True)

    # -- the status line ------------------------------------------------------------------

    def status(self, activity: str, now: float, until: float, call: Call) -> None:
        """What the hotline does now (a session's watcher): the live line follows it; plain
        output gets a line when the caller's turn starts and when speech is being heard."""
        changed = activity != self.activity or until != self.until
        self.activity, self.until = activity, until
        self.counts = (call.no_input_count, call.no_match_count)
        self.node = call.state
        if activity == "ended":
            self.close()
        if self.console.quiet or self.live or not changed:
            return
        if activity in ("listening", "recognizing", "working"):
            self._print(now, self.status_text(now), "dim")

    def status_text(self, now: float) -> str:
        """The status line at call time ``now``: activity, seconds left, counts."""
        words = self.words
        activity = self.activity
        if activity == "speaking":
            said = words.speaking
        elif activity == "listening":
            said = words.waiting.format(seconds=f"{max(self.until - now, 0.0):.1f}")
        elif activity == "recognizing":
            said = words.recognizing
        elif activity == "closing":
            said = words.closing
        elif activity == "working":
            said = words.working
        else:
            return ""
        node = self.menu.nodes.get(self.node or "")
        if node is None:
            return said
        settings = node.settings
        counts = words.counts.format(
            no_input=self.counts[0],
            max_no_input=settings.max_no_input,
            no_match=self.counts[1],
            max_no_match=settings.max_no_match,
        )
        return f"{said} · {counts}"

    # -- drawings ---------------------------------------------------------------------------

    def _show_node(self, node_id: str) -> None:
        node = self.menu.nodes.get(node_id)
        if node is None or node.kind in (NodeKind.ACTION, NodeKind.SWITCH):
            return  # they say nothing and take no keys: the request and reply lines show them
        words = self.words
        rows: list[tuple[str, str]] = []
        taken: set[str] = set()
        if node.collect is not None:
            collect = node.collect
            digits = words.collect_digits.format(low=collect.min_length, high=collect.max_length)
            rows.append(("[cyan]0-9[/]", escape(digits)))
            if collect.terminator is not None:
                rows.append((f"[cyan]{collect.terminator}[/]", escape(words.collect_end)))
            rows.append(("[cyan]*[/]", escape(words.collect_restart)))
            taken = {*"0123456789*", collect.terminator or "*"}
        if node.kind is NodeKind.MENU:
            for key, target in node.options.items():
                rows.append((f"[cyan]{key}[/]", escape(self.menu.nodes[target].title)))
        elif node.kind is NodeKind.PROCEDURE:
            keys = self.menu.step_keys
            rows.append((f"[cyan]{keys.next}[/]", escape(words.next_step)))
            rows.append((f"[cyan]{keys.repeat}[/]", escape(words.repeat_step)))
            rows.append((f"[cyan]{keys.previous}[/]", escape(words.previous_step)))
        for key, action in self.menu.global_keys.items():
            if key in taken:
                continue  # a digit, the terminator or * of the entry
            if node.parent is None and action in (GlobalAction.BACK, GlobalAction.MAIN):
                action = GlobalAction.REPEAT  # there is no level above the start menu
            rows.append((f"[cyan]{key}[/]", escape(words.globals[action])))
        self.console.print(
            Panel(
                self._grid(rows),
                title=f"[bold]{escape(node.title)}[/]",
                title_align="left",
                expand=False,
            )
        )

    def _grid(self, rows: list[tuple[str, str]]) -> RenderableType:
        """A node's keys and what each does, in two columns two spaces apart: a grid
        `Table`, or when every row fits on one line in the panel, the same lines laid out
        here as one `Text` (rich measures and renders a table's every cell several times:
        ~5 ms a panel, where the text takes ~1 ms; the output is the same, character for
        character and style for style, which tests/test_console.py checks). Each cell is
        rendered as rich renders a table's cell in a panel: markup, no highlighting."""
        console = self.console
        cells = [
            (console.render_str(key, highlight=False), console.render_str(does, highlight=False))
            for key, does in rows
        ]
        plain = [(key.plain, text.plain) for key, text in cells]
        if plain and not any("\n" in k or "\t" in k or "\n" in t or "\t" in t for k, t in plain):
            key_width = max(cell_len(key) for key, _ in plain)
            text_width = max(cell_len(text) for _, text in plain)
            # the panel's borders and padding take 4 cells
            if key_width + _GAP + text_width + 4 <= console.width:
                lines = Text()
                for row, ((key_cell, text_cell), (key_plain, text_plain)) in enumerate(
                    zip(cells, plain, strict=True)
                ):
                    if row:
                        lines.append("\n")
                    lines.append_text(key_cell)
                    lines.append(" " * (key_width - cell_len(key_plain) + _GAP))
                    lines.append_text(text_cell)
                    lines.append(" " * (text_width - cell_len(text_plain)))
                return lines
        return _table(rows)

    def keypad(self) -> Table:
        """The telephone keypad, the key last pressed lit."""
        pad = Table(show_header=False, box=None, padding=(0, 1))
        for row in _KEY_ROWS:
            pad.add_row(*(Text(f" {key} ", style=LIT if key == self.lit else UNLIT) for key in row))
        return pad


def _table(rows: list[tuple[str, str]]) -> Table:
    """A node's keys (markup) and what each does (markup) as a grid, for any width."""
    grid = Table.grid(padding=(0, _GAP))
    for key, does in rows:
        grid.add_row(key, does)
    return grid


class _Bottom:
    """The live bottom of the screen: the keypad and the status line, redrawn by `Live`
    a few times a second so the no-input timer counts down."""

    def __init__(self, view: ConsoleView) -> None:
        self.view = view

    def __rich__(self) -> RenderableType:
        view = self.view
        assert view.clock is not None
        parts: list[RenderableType] = [view.keypad()] if view.show_keypad else []
        parts.append(Text(view.status_text(view.clock()), style="bold cyan"))
        if view._draft is not None:
            parts.append(Text(f"> {view._draft()}▏"))
        return Group(*parts)
