"""One simulated participant on the websocket: joins with its own token, reads, times replies.

The websocket is the ``websockets`` library's asyncio client: no compression (the server
would deflate every message for it), no keepalive pings of its own, no proxy, no limit on
a message's size.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.protocol import State

Handler = Callable[[dict[str, Any]], Awaitable[None] | None]


_TYPE_PREFIX = '{"type": "'

#: Bound on opening the websocket (TCP and handshake): joins come in batches on a busy server.
OPEN_TIMEOUT_S = 300.0
#: Messages buffered ahead of the reader before the socket stops being read (a few hundred
#: KiB of announcements); the reader drains them as they arrive.
MAX_QUEUE = 1024


def websocket_url(base: str) -> str:
    """The server's websocket endpoint from its address: http -> ws, https -> wss."""
    scheme, sep, rest = base.rstrip("/").partition("://")
    scheme = {"http": "ws", "https": "wss"}.get(scheme.lower(), scheme)
    return f"{scheme}{sep}{rest}/ws"


def peek_type(text: str) -> str | None:
    """The ``type`` of a server message without parsing it (the server writes it first),
    or None when the text does not start that way."""
    if not text.startswith(_TYPE_PREFIX):
        return None
    end = text.find('"', len(_TYPE_PREFIX))
    return text[len(_TYPE_PREFIX) : end] if end > 0 else None


class JoinRefused(Exception):
    """The server refused the handshake or the join (the message says why)."""


class RequestFailed(Exception):
    """The server answered a request with an ``error``, or not at all."""


class Participant:
    """A websocket client of the real protocol (docs/protocol.md), as a browser would be.

    ``handlers`` map message types to callbacks; ``wait_for`` waits for one
    message type (with a predicate); every message is timestamped on arrival.
    """

    def __init__(self, url: str, token: str, name: str, role: str) -> None:
        self.url, self.token = url.rstrip("/"), token
        self.name, self.role = name, role
        self.id = ""
        self.handlers: dict[str, list[Handler]] = {}
        self.join_s: float | None = None  # websocket opened to welcome
        self.joined_at: float | None = None
        self.started_at: float | None = None
        self.errors: list[dict[str, Any]] = []
        self.received = 0
        self.closed = asyncio.Event()
        self.close_reason: str | None = None
        self._refs = 0
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._waiters: list[tuple[str, Callable[[dict[str, Any]], bool], asyncio.Future[Any]]] = []

    def on(self, type_: str, handler: Handler) -> None:
        self.handlers.setdefault(type_, []).append(handler)

    async def join(self, timeout_s: float = 30.0) -> dict[str, Any]:
        """Open the websocket and wait for ``welcome``; JoinRefused if the server says no."""
        self.started_at = time.monotonic()
        welcome = asyncio.get_running_loop().create_future()
        self._waiters.append(("welcome", lambda m: True, welcome))
        try:
            self._ws = await connect(
                websocket_url(self.url),
                additional_headers={"Authorization": f"Bearer {self.token}"},
                compression=None,
                proxy=None,
                open_timeout=OPEN_TIMEOUT_S,
                ping_interval=None,
                close_timeout=5,
                max_size=None,
                max_queue=MAX_QUEUE,
            )
        except InvalidStatus as error:
            status = error.response.status_code
            raise JoinRefused(f"{self.name}: handshake refused ({status})") from None
        except WebSocketException as error:  # not a websocket server, a bad URL
            raise JoinRefused(f"{self.name}: handshake failed ({error})") from None
        self._reader = asyncio.get_running_loop().create_task(self._read())
        try:
            message: dict[str, Any] = await asyncio.wait_for(welcome, timeout_s)
        except (TimeoutError, ConnectionError):
            refusal = self.errors[-1]["message"] if self.errors else "no welcome"
            raise JoinRefused(f"{self.name}: {refusal}") from None
        self.joined_at = time.monotonic()
        self.join_s = self.joined_at - self.started_at
        self.id = message["you"]["sub"]
        return message

    async def send(self, type_: str, **fields: Any) -> None:
        """Send one client message (docs/protocol.md): its type and its fields."""
        if self._ws is None or self._ws.state is not State.OPEN:
            raise ConnectionError(f"{self.name}: {self.close_reason or 'not connected'}")
        try:
            await self._ws.send(json.dumps({"type": type_} | fields))
        except ConnectionClosed:
            raise ConnectionError(
                f"{self.name}: {self.close_reason or 'connection closed'}"
            ) from None

    async def request(
        self,
        type_: str,
        reply: str,
        timeout_s: float = 30.0,
        reply_echoes_ref: bool = True,
        **fields: Any,
    ) -> dict[str, Any]:
        """Send a message with a fresh ``ref``; its reply, or RequestFailed on its ``error``.

        Replies echo the ``ref``; events a message causes (``quiz_created``) do not, so
        with ``reply_echoes_ref=False`` the next message of the reply's type is taken.
        """
        self._refs += 1
        ref = f"lt{self._refs}"
        answered = self.wait_for(reply, lambda m: not reply_echoes_ref or m.get("ref") == ref)
        refused = self.wait_for("error", lambda m: m.get("ref") == ref)
        await self.send(type_, ref=ref, **fields)
        try:
            done, _ = await asyncio.wait(
                (answered, refused), timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for future in (answered, refused):
                if not future.done():
                    future.cancel()
        if answered in done:
            return answered.result()
        if refused in done:
            error = refused.result()
            raise RequestFailed(f"{type_}: {error['code']}: {error['message']}")
        raise RequestFailed(f"{type_}: no {reply} within {timeout_s:.0f} s")

    def wait_for(
        self, type_: str, where: Callable[[dict[str, Any]], bool] = lambda m: True
    ) -> asyncio.Future[dict[str, Any]]:
        """A future of the next message of this type that satisfies ``where``."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.append((type_, where, future))
        return future

    def _wanted(self, type_: str | None) -> bool:
        """Whether a message of this type is awaited or handled (else it is only counted)."""
        return (
            type_ is None
            or type_ in ("error", "welcome")
            or type_ in self.handlers
            or any(w[0] == type_ for w in self._waiters)
        )

    async def _read(self) -> None:
        assert self._ws is not None
        ws = self._ws
        try:
            while True:
                try:
                    data = await ws.recv()
                except ConnectionClosed:  # by either side, with any code
                    break
                if not isinstance(data, str):  # the server sends text only
                    break
                self.received += 1
                # A thousand simulated people in one room get a million announcements:
                # only the messages someone waits for are parsed.
                if not self._wanted(peek_type(data)):
                    continue
                message = json.loads(data)
                message["_at"] = time.monotonic()
                await self._deliver(message)
        finally:
            self.closed.set()
            if ws.close_code not in (None, 1000):
                self.close_reason = f"closed by the server ({ws.close_code})"
            for _, _, future in self._waiters:
                if not future.done():
                    future.set_exception(
                        ConnectionError(f"{self.name}: {self.close_reason or 'connection closed'}")
                    )

    async def _deliver(self, message: dict[str, Any]) -> None:
        type_ = message.get("type", "")
        if type_ == "error":
            self.errors.append(message)
        for _, where, future in [w for w in self._waiters if w[0] == type_]:
            if not future.done() and where(message):
                future.set_result(message)
        self._waiters = [w for w in self._waiters if not w[2].done()]
        for handler in self.handlers.get(type_, ()):
            result = handler(message)
            if result is not None:
                await result

    async def close(self) -> None:
        """Leave the room (no reconnect grace) and close the socket."""
        if self._ws is not None and self._ws.state is State.OPEN:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.send("leave")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.closed.wait(), 5)
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
