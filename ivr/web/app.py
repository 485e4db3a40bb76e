"""The web phone's ASGI application (Starlette): the page, the menu map, the prompts, each
call's files, and one WebSocket per call.

Routes:

- ``/``, ``/static/*``: the page (``ivr/web/static``: HTML, JS, CSS; nothing else);
- ``/map.svg``: the menu map; ``/prompts/<id>.wav``: a prompt the hotline has said;
- ``/callers.json``: the demo callers of the back office, for the caller-ID picker;
- ``/calls/<token>/<name>``: a finished call's log, transcript or WAV, by its token;
- ``/ws``: a call. The server says ``ready`` (the menu, whether speech can be heard); the
  page sends ``call``, then keys, the microphone switch, audio frames and ``hangup``
  (``ivr.web.protocol``); the server sends ``play``/``stop`` for the prompts, each
  ``event`` of the call log as it happens, the ``status``, ``error`` and, at the end,
  ``ended`` with the links to the call's files, and closes the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from ivr.limits import CALLER_ID_DIGITS
from ivr.outputs.menu_map import mermaid_id
from ivr.web.calls import ARTIFACTS, WebCall
from ivr.web.hotline import Busy, Hotline
from ivr.web.protocol import FRAME_BYTES, Guard, Message, Problem

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
TRY_AGAIN_LATER = 1013
NO_STORE = {"Cache-Control": "no-store"}


def create_app(hotline: Hotline) -> Starlette:
    """The application around ``hotline``; closing it hangs up every call."""

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers=NO_STORE)

    async def hotline_info(request: Request) -> Response:
        return JSONResponse(ready(hotline))

    async def demo_callers(request: Request) -> Response:
        found, problem = await asyncio.to_thread(hotline.demo_callers)
        return JSONResponse({"callers": found, "problem": problem}, headers=NO_STORE)

    async def menu_map(request: Request) -> Response:
        if hotline.map_svg is None:
            return PlainTextResponse(hotline.map_problem or "no map", status_code=503)
        return Response(hotline.map_svg, media_type="image/svg+xml")

    async def prompt(request: Request) -> Response:
        path = hotline.prompts.path(str(request.path_params["prompt"]))
        if path is None:
            return PlainTextResponse("no such prompt", status_code=404)
        return FileResponse(path, media_type="audio/wav")

    async def artifact(request: Request) -> Response:
        token, name = str(request.path_params["token"]), str(request.path_params["name"])
        path = hotline.artifact(token, name)
        if path is None:
            return PlainTextResponse("not found", status_code=404, headers=NO_STORE)
        headers = {**NO_STORE, "Content-Disposition": f'attachment; filename="{name}"'}
        return FileResponse(path, media_type=ARTIFACTS[name], headers=headers)

    async def phone(websocket: WebSocket) -> None:
        await Line(hotline, websocket).serve()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await asyncio.to_thread(hotline.close)

    return Starlette(
        routes=[
            Route("/", index),
            Route("/hotline.json", hotline_info),
            Route("/callers.json", demo_callers),
            Route("/map.svg", menu_map),
            Route("/prompts/{prompt:str}.wav", prompt),
            Route("/calls/{token:str}/{name:str}", artifact),
            WebSocketRoute("/ws", phone),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        lifespan=lifespan,
    )


def ready(hotline: Hotline) -> dict[str, Any]:
    """What the page needs before a call: the menu's title and language, the map's name of
    each node, whether speech can be heard (else the line saying why)."""
    menu = hotline.menu
    return {
        "type": "ready",
        "title": menu.title,
        "language": menu.language,
        "speech": hotline.speech_problem,
        "nodes": {node: mermaid_id(node) for node in menu.nodes},
        "titles": {node: spec.title for node, spec in menu.nodes.items()},
        "max_calls": hotline.max_calls,
        "self_service": hotline.backoffice is not None,
        "caller_id_digits": CALLER_ID_DIGITS,
    }


class Line:
    """One WebSocket: at most one call, every message checked, the call hung up when the
    socket goes (its files are still written)."""

    def __init__(self, hotline: Hotline, websocket: WebSocket) -> None:
        self.hotline = hotline
        self.websocket = websocket
        self.guard = Guard()
        self.call: WebCall | None = None
        self.outbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.loop = asyncio.get_running_loop()

    def send(self, message: dict[str, Any]) -> None:
        """From any thread (the call's): queued for the sender task; dropped once the
        socket's event loop is gone (the server stopped: nobody is there to read it)."""
        try:
            self.loop.call_soon_threadsafe(self.outbox.put_nowait, message)
        except RuntimeError:  # the event loop is closed
            log.debug("web call: message after the loop closed: %s", message.get("type"))

    async def serve(self) -> None:
        websocket = self.websocket
        await websocket.accept()
        await websocket.send_json(ready(self.hotline))
        sender = asyncio.create_task(self._send_all())
        try:
            await self._receive_all()
        except WebSocketDisconnect:
            pass
        finally:
            if self.call is not None:
                self.call.caller.hang_up()
            self.outbox.put_nowait(None)
            await sender

    def say(self, message: dict[str, Any]) -> None:
        """From the event loop's thread: queued at once, in order."""
        self.outbox.put_nowait(message)

    async def _send_all(self) -> None:
        """Send what the call says, in order; after ``ended`` (or a refusal that closes the
        socket) close it."""
        websocket = self.websocket
        while (message := await self.outbox.get()) is not None:
            if websocket.application_state is not WebSocketState.CONNECTED:
                continue
            try:
                if message["type"] == "_close":
                    await websocket.close(int(message["code"]))
                    continue
                await websocket.send_json(message)
                if message["type"] == "ended":
                    await websocket.close(1000)
            except Exception:  # the page went away: the call ends through the receiver
                log.debug("web call: message not sent", exc_info=True)

    def _refuse(self, problem: Problem) -> bool:
        """Say the problem; close the socket if it asks. True when it will be closed."""
        self.say({"type": "error", "error": problem.error})
        if problem.close is None:
            return False
        self.say({"type": "_close", "code": problem.close})
        return True

    async def _receive_all(self) -> None:
        websocket = self.websocket
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("bytes")
            if data is not None:
                if await self._audio(data):
                    return
                continue
            text = message.get("text")
            checked = self.guard.text(text if text is not None else "")
            if isinstance(checked, Problem):
                if self._refuse(checked):
                    return
                continue
            if await self._act(checked):
                return

    async def _audio(self, data: bytes) -> bool:
        problem = self.guard.frame(data)
        if problem is not None:
            return self._refuse(problem)
        call = self.call
        if call is None or not call.caller.mic_on:
            return self._refuse(Problem("audio before the microphone is on: ignored"))
        if not call.caller.audio(data):
            self.say({"type": "error", "error": "the recognizer fell behind: audio dropped"})
        return False

    async def _act(self, message: Message) -> bool:
        """Do what a valid message asks. True when the socket is closed."""
        call = self.call
        if message.type == "call":
            if call is not None:
                return self._refuse(Problem("this connection has placed its call"))
            try:
                self.call = self.hotline.place(self.send, message.caller_id)
            except Busy as error:
                self.say({"type": "busy", "error": str(error)})
                self.say({"type": "_close", "code": TRY_AGAIN_LATER})
                return True
            self.say({"type": "placed", "caller_id": message.caller_id})
            return False
        if call is None:
            return self._refuse(Problem(f'no call yet: send "call" before "{message.type}"'))
        if message.type == "key":
            call.caller.key(message.key)
        elif message.type == "hangup":
            call.caller.hang_up()
        elif message.type == "mic":
            if message.on and self.hotline.speech_problem is not None:
                return self._refuse(Problem(self.hotline.speech_problem))
            await asyncio.to_thread(call.caller.microphone, message.on)
            self.say({"type": "mic", "on": message.on, "frame_bytes": FRAME_BYTES})
        return False
