"""What one ``ivr serve`` process holds: the menu, its prompts, the speech model, the
calls placed and the limit on calls at once. Plain Python: the app (``ivr.web.app``) puts
HTTP and WebSockets around it."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

from ivr.errors import IvrError
from ivr.web.calls import ARTIFACTS, CallRecord, PromptAudio, Send, WebCall

if TYPE_CHECKING:
    import datetime as dt

    from ivr.backoffice.office import ConnectingBackOffice
    from ivr.engine.backoffice import Reply, Request
    from ivr.hearing.tracker import UtteranceTracker
    from ivr.menu.model import Menu
    from ivr.prompts.recordings import PromptFiles

log = logging.getLogger(__name__)


DEMO_CALLERS_LISTED = 200
"""Most demo callers the page lists (``ivr db init --demo`` makes up to 10,000; the cases
take turns, so the first ones show every case)."""


CALLS_KEPT = 10_000
"""Finished calls whose files the server still serves by their links (about 1.6 KiB each:
the server must not grow with every call it ever took)."""


class Busy(IvrError):
    """Every line is taken: ``--max-calls`` calls are going on."""


class Hotline:
    """The server's calls: placed, going on, and their files by token."""

    def __init__(
        self,
        menu: Menu,
        files: PromptFiles,
        out: Path,
        *,
        max_calls: int = 20,
        model: str | None = None,
        db: str | None = None,
        calls_kept: int = CALLS_KEPT,
        call_time: dt.datetime | None = None,
    ) -> None:
        from ivr import wiring

        self.menu = menu
        self.call_time = call_time
        """When every call is made, for the contact centre (``ivr serve --time``); None:
        ``$IVR_TIME``, else the moment each call starts."""
        self.prompts = PromptAudio(files)
        self.out = out
        self.max_calls = max_calls
        self.calls: OrderedDict[str, CallRecord] = OrderedDict()
        """The calls placed, by token, oldest first: every call going on and the last
        ``calls_kept`` finished (their files stay in ``out``; only the links expire)."""
        self.calls_kept = calls_kept
        self.active: set[WebCall] = set()
        self._lock = threading.Lock()
        self._count = 0
        self._stop = threading.Event()
        self._model_path, self.speech_problem = self._find_model(model)
        self.map_svg, self.map_problem = menu_map(menu)
        self.db = db
        office = wiring.backoffice(menu, db)  # DatabaseUrlInvalid here, before serving
        self.backoffice = None if office is None else SharedBackOffice(office)
        """The back office of ``ivr call --db``: one for every call of the server, None for
        a menu without action nodes."""

    def _find_model(self, model: str | None) -> tuple[Path | None, str | None]:
        """The speech model for the menu, or the one line saying why there is none (keys
        keep working, as ``ivr call --mic`` without a model)."""
        from ivr import wiring

        try:
            return wiring.model_path(model, self.menu), None
        except IvrError as error:
            return None, str(error)

    def tracker(self) -> UtteranceTracker:
        """A recognizer for one call, on the model loaded once for the whole server."""
        from ivr import wiring

        assert self._model_path is not None
        return wiring.tracker(self._model_path, shared=True, menu=self.menu)

    def prepare_prompts(self) -> threading.Thread:
        """Render and time every prompt in the background, so a key costs no rendering."""
        thread = threading.Thread(
            target=self.prompts.prepare,
            args=(self.menu.prompt_texts(), self._stop),
            name="web-prompts",
            daemon=True,
        )
        thread.start()
        return thread

    def place(self, send: Send, caller_id: str = "") -> WebCall:
        """Start a call; `Busy` when ``max_calls`` are going on."""
        with self._lock:
            if len(self.active) >= self.max_calls:
                raise Busy(f"all {self.max_calls} lines are busy; try again later")
            self._count += 1
            record = CallRecord(self.out / f"call-{self._count:05d}")
            call = WebCall(
                self.menu,
                self.prompts,
                record,
                send,
                caller_id=caller_id or None,
                tracker=self.tracker if self._model_path is not None else None,
                backoffice=self.backoffice,
                finished=self._finished,
                call_time=self.call_time,
            )
            self.active.add(call)
            self.calls[record.token] = record
        call.start()
        return call

    def _finished(self, call: WebCall) -> None:
        with self._lock:
            self.active.discard(call)
            while len(self.calls) > self.calls_kept:
                token, oldest = next(iter(self.calls.items()))
                if not oldest.done.is_set():
                    break  # a long call still going on: trimmed once it is over
                del self.calls[token]

    def artifact(self, token: str, name: str) -> Path | None:
        """A file of a finished call: only the names in ``ARTIFACTS``, only by the call's
        token, only once the call is over; None otherwise."""
        record = self.calls.get(token)
        if record is None or name not in ARTIFACTS or not record.done.is_set():
            return None
        path = record.folder / name
        return path if path.is_file() else None

    def demo_callers(self) -> tuple[list[dict[str, str]], str | None]:
        """The demo callers a trainer may present (``ivr db accounts``: phone, demo PIN,
        case, name and what the case is about; the first `DEMO_CALLERS_LISTED`), or the
        line saying why there are none. Never a PIN hash: demo PINs are training data,
        kept in clear for this; a real account's PIN is not. Empty for a menu without a
        back office."""
        if self.backoffice is None:
            return [], None
        from itertools import islice

        from ivr.backoffice.database import Database
        from ivr.backoffice.demo import callers
        from ivr.backoffice.settings import Rules, database_url
        from ivr.engine.backoffice import BackOfficeUnavailable

        try:
            db = Database(database_url(self.db), Rules(), create=False)
            try:
                found = list(islice(callers(db), DEMO_CALLERS_LISTED))
            finally:
                db.dispose()
        except BackOfficeUnavailable as error:
            return [], str(error)
        if not found:
            return [], f"no demo callers in {db.where}: run `ivr db init --demo 100`"
        return [
            {"phone": c.phone, "pin": c.pin, "case": c.case, "name": c.name, "detail": c.detail}
            for c in found
        ], None

    def close(self, timeout: float = 10.0) -> None:
        """Hang up every call and wait for their files to be written."""
        self._stop.set()
        with self._lock:
            calls = list(self.active)
        for call in calls:
            call.caller.hang_up()
        for call in calls:
            call.thread.join(timeout)
        if self.backoffice is not None:
            self.backoffice.close()


class SharedBackOffice:
    """The server's one back office (``wiring.backoffice``: it connects at the first
    request, and again after a failure), shared by every call: the connecting is done by
    one call at a time, so two calls reaching their first action node together make one
    connection pool, not two. Requests themselves run side by side (the database back
    office is thread-safe)."""

    def __init__(self, office: ConnectingBackOffice) -> None:
        self.office = office
        self._connected = False
        self._lock = threading.Lock()

    def perform(self, request: Request) -> Reply:
        if self._connected:
            return self.office.perform(request)
        with self._lock:
            reply = self.office.perform(request)  # BackOfficeUnavailable: tried again next time
            self._connected = self.office.office is not None
            return reply

    def close(self) -> None:
        with self._lock:
            self.office.close()


def menu_map(menu: Menu) -> tuple[str | None, str | None]:
    """The menu as an SVG map (``ivr.outputs.menu_map`` laid out by Graphviz's ``dot``), or
    the line saying why there is none."""
    from ivr.outputs.menu_map import Diagram, global_keys_line, map_links, svg

    legend = [f"global keys: {global_keys_line(menu) or 'none'}"]
    try:
        return svg(Diagram(menu, map_links(menu), legend=legend).dot()), None
    except IvrError as error:  # dot not installed, or failing
        return None, str(error)
