"""Request-body size limit, enforced before the body is read."""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.messages import error_body


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int):
        super().__init__(413, f"request body larger than {limit} bytes")


class BodySizeLimit:
    """413 for a declared Content-Length over ``limit`` (nothing read), or as soon as a chunked body
    passes it (the rest is not read)."""

    def __init__(self, app: ASGIApp, limit: int):
        self.app = app
        self.limit = limit

    @staticmethod
    async def _refuse(send: Send, status: int, detail: str) -> None:
        """Answered here, before the app's error handlers: the same body as theirs (English and Chinese)."""
        body = json.dumps(error_body(detail), ensure_ascii=False).encode("utf-8")
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    async def _reject(self, send: Send) -> None:
        await self._refuse(send, 413, f"request body larger than {self.limit} bytes")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for key, value in scope.get("headers", []):
            if key == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared < 0:
                    await self._refuse(send, 400, "invalid Content-Length")
                    return
                if declared > self.limit:
                    await self._reject(send)
                    return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await self._reject(send)
