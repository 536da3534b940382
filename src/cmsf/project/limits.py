"""Request bodies bounded before anything reads them: an ASGI middleware in front of the whole app. A declared
Content-Length over the bound is answered 413 before a byte of the body is read; a body sent in chunks is counted as
it arrives and answered 413 the moment it passes the bound, so nothing past the bound is kept or written anywhere."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]

_TOO_LARGE = b"413 Payload too large"


class BodyLimit:
    """`limit` bytes for every request body, `prefixed` (path prefix, bytes) for the paths that need another."""

    def __init__(self, app: App, *, limit: int, prefixed: dict[str, int]) -> None:
        self.app = app
        self.limit = limit
        self.prefixed = prefixed

    def limit_for(self, path: str) -> int:
        return next((bound for prefix, bound in self.prefixed.items() if path.startswith(prefix)), self.limit)

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = next((value for name, value in scope["headers"] if name == b"content-length"), None)
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            await _too_large(send)
            return
        received = 0
        started = refused = False

        async def bounded_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True  # the app sees the client gone and stops reading; the answer is ours
                    if not started:
                        await _too_large(send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            started = True
            await send(message)

        await self.app(scope, bounded_receive, guarded_send)


async def _too_large(send: Send) -> None:
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(_TOO_LARGE)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": [*headers, (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": _TOO_LARGE, "more_body": False})
