"""What the caller sees in the console: the keypad, the current menu and each prompt."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ivr.events import CallEvent, EventType, PromptKind
from ivr.menu import GlobalAction, Menu, NodeKind

_GLOBAL_LABELS = {
    GlobalAction.AGENT: "人工客服",
    GlobalAction.REPEAT: "重听",
    GlobalAction.BACK: "返回上一级",
    GlobalAction.MAIN: "主菜单",
    GlobalAction.HANGUP: "挂机",
}
_KEY_ROWS = ("123", "456", "789", "*0#")


class ConsoleView:
    """A call listener that prints the call as it happens."""

    def __init__(self, menu: Menu, console: Console | None = None, keypad: bool = True) -> None:
        self.menu = menu
        self.console = console or Console(highlight=False)
        self.show_keypad = keypad

    def banner(self, mode: str) -> None:
        if self.console.quiet:
            return
        self.console.print(
            Panel.fit(f"[bold]{escape(self.menu.title)}[/]\n{mode}", border_style="cyan")
        )
        if self.show_keypad:
            self.console.print(self._keypad())
            self.console.print("按 0-9 * # 选择（无需回车），q 挂机\n", style="dim")

    def __call__(self, event: CallEvent, moment: float) -> None:
        if self.console.quiet:  # rich would lay out every panel only to drop it
            return
        stamp = f"[dim]{moment:7.2f}s[/]"
        match event.type:
            case EventType.STATE | EventType.CALL_START:
                self._show_node(event.state)
            case EventType.PROMPT:
                style = "bold" if event.kind in (PromptKind.MENU, PromptKind.STEP) else ""
                line = Text(f"{moment:7.2f}s ", style="dim")
                line.append(f"🔊 {event.text}", style=style)
                # Chinese has no spaces to break at: let the terminal wrap, not rich.
                self.console.print(line, soft_wrap=True)
            case EventType.KEY:
                self.console.print(stamp, f"[green]☎ 按键 {event.key}[/]")
            case EventType.BARGE_IN:
                self.console.print(stamp, "[dim]（插话：提示音已停止）[/]")
            case EventType.NO_INPUT:
                self.console.print(stamp, f"[yellow]… 未输入（第{event.count}次）[/]")
            case EventType.NO_MATCH:
                self.console.print(stamp, f"[yellow]✗ 无效按键 {event.key}（第{event.count}次）[/]")
            case EventType.TRANSFER:
                self.console.print(stamp, "[magenta]→ 转接人工客服[/]")
            case EventType.HANGUP:
                who = "来电者" if event.reason == "caller" else "热线"
                self.console.print(stamp, f"[magenta]☎ {who}挂机[/]")
            case EventType.CALL_END:
                self.console.print(stamp, f"[bold]通话结束：{event.outcome}（在 {event.state}）[/]")

    def _show_node(self, node_id: str) -> None:
        node = self.menu.nodes.get(node_id)
        if node is None:
            return
        lines = Table.grid(padding=(0, 2))
        if node.kind is NodeKind.MENU:
            for key, target in node.options.items():
                lines.add_row(f"[cyan]{key}[/]", escape(self.menu.nodes[target].title))
        elif node.kind is NodeKind.PROCEDURE:
            keys = self.menu.step_keys
            lines.add_row(f"[cyan]{keys.next}[/]", "下一步")
            lines.add_row(f"[cyan]{keys.repeat}[/]", "重听本步")
            lines.add_row(f"[cyan]{keys.previous}[/]", "上一步")
        for key, action in self.menu.global_keys.items():
            if node.parent is None and action in (GlobalAction.BACK, GlobalAction.MAIN):
                action = GlobalAction.REPEAT  # there is no level above the start menu
            lines.add_row(f"[cyan]{key}[/]", _GLOBAL_LABELS[action])
        self.console.print(
            Panel(lines, title=f"[bold]{escape(node.title)}[/]", title_align="left", expand=False)
        )

    @staticmethod
    def _keypad() -> Table:
        pad = Table(show_header=False, box=None, padding=(0, 1))
        for row in _KEY_ROWS:
            pad.add_row(*(f"[reverse] {key} [/]" for key in row))
        return pad
