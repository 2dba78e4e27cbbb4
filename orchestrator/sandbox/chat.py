"""Chat webhooks and bots as local sandboxes: Slack, Discord, Microsoft Teams, Telegram."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from itertools import count
from typing import Any

from starlette.responses import PlainTextResponse, Response

from orchestrator.sandbox.core import RecordedRequest
from orchestrator.sandbox.provider import (
    DEFAULT_RETRY_AFTER,
    ProviderApp,
    json_response,
    phrase,
    seconds_header,
)


def _retry_headers(retry_after: float | None) -> dict[str, str]:
    return {"Retry-After": seconds_header(retry_after)} if retry_after is not None else {}


class SlackSandbox(ProviderApp):
    """Slack incoming webhooks: any URL under /services/ posts to a channel."""

    name = "slack"

    def reset(self) -> None:
        with self.lock:
            self.messages: list[dict[str, Any]] = []

    def routes(self):
        return [("/services/{hook:path}", ["POST"], self.post)]

    def error(self, request: RecordedRequest, status: int, retry_after: float | None) -> Response:
        if status == 429:
            headers = _retry_headers(retry_after or DEFAULT_RETRY_AFTER)
            return PlainTextResponse("rate_limited", 429, headers)
        return PlainTextResponse("internal_error" if status >= 500 else "invalid_payload",
                                 status, _retry_headers(retry_after))

    def not_found(self, request: RecordedRequest) -> Response:
        return PlainTextResponse("no_service", 404)

    async def post(self, request: RecordedRequest) -> Response:
        payload = request.json
        if payload is None and "payload" in request.form:
            try:
                payload = json.loads(str(request.form["payload"]))
            except ValueError:
                payload = None
        if not isinstance(payload, dict):
            return PlainTextResponse("invalid_payload", 400)
        if not (payload.get("text") or payload.get("blocks") or payload.get("attachments")):
            return PlainTextResponse("no_text", 400)
        with self.lock:
            self.messages.append({"hook": request.path_params["hook"], **payload})
        return Response("ok", 200, media_type="text/html")


class DiscordSandbox(ProviderApp):
    """Discord channel webhooks, with `?wait=true` answering the created message."""

    name = "discord"
    max_content = 2000

    def reset(self) -> None:
        with self.lock:
            self.messages: list[dict[str, Any]] = []
            self._ids = count(1)

    def routes(self):
        return [("/api/webhooks/{webhook_id}/{token}", ["POST"], self.execute)]

    def error(self, request: RecordedRequest, status: int, retry_after: float | None) -> Response:
        if status != 429:
            return json_response({"message": phrase(status), "code": 0}, status,
                                 _retry_headers(retry_after))
        wait = retry_after or DEFAULT_RETRY_AFTER
        return json_response({"message": "You are being rate limited.", "retry_after": wait,
                              "global": False}, 429, {
            "Retry-After": seconds_header(wait), "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": f"{time.time() + wait:.3f}",
            "X-RateLimit-Reset-After": f"{wait:.3f}", "X-RateLimit-Bucket": "sandbox",
            "X-RateLimit-Scope": "user",
        })

    def not_found(self, request: RecordedRequest) -> Response:
        return json_response({"message": "Unknown Webhook", "code": 10015}, 404)

    async def execute(self, request: RecordedRequest) -> Response:
        body = request.data
        content = str(body.get("content") or "")
        if not content and not body.get("embeds"):
            return json_response({"message": "Cannot send an empty message", "code": 50006}, 400)
        if len(content) > self.max_content:
            error = {"code": "BASE_TYPE_MAX_LENGTH",
                     "message": f"Must be {self.max_content} or fewer in length."}
            return json_response({"message": "Invalid Form Body", "code": 50035,
                                  "errors": {"content": {"_errors": [error]}}}, 400)
        hook = request.path_params["webhook_id"]
        message_id = str((int(time.time() * 1000) - 1420070400000) << 22 | next(self._ids))
        message = {
            "id": message_id, "type": 0, "content": content, "channel_id": "100000000000000001",
            "author": {"bot": True, "id": hook, "username": body.get("username", "Sandbox"),
                       "avatar": None, "discriminator": "0000"},
            "attachments": [], "embeds": body.get("embeds", []), "mentions": [],
            "mention_roles": [], "pinned": False, "mention_everyone": False, "tts": False,
            "timestamp": datetime.now(UTC).isoformat(), "edited_timestamp": None, "flags": 0,
            "components": [], "webhook_id": hook,
        }
        with self.lock:
            self.messages.append(message)
        if request.query.get("wait", "").lower() == "true":
            return json_response(message)
        return Response(status_code=204)


class TeamsSandbox(ProviderApp):
    """Microsoft Teams incoming webhooks (connector and Workflows URLs)."""

    name = "teams"

    def reset(self) -> None:
        with self.lock:
            self.messages: list[dict[str, Any]] = []

    def routes(self):
        return [("/{hook:path}", ["POST"], self.post)]

    def error(self, request: RecordedRequest, status: int, retry_after: float | None) -> Response:
        if status == 429:
            retry_after = retry_after or DEFAULT_RETRY_AFTER
        return PlainTextResponse(
            f"Microsoft Teams endpoint returned HTTP error {status} with ContextId "
            "tcid=0,server=sandbox,cv=sandbox.0", status, _retry_headers(retry_after))

    async def post(self, request: RecordedRequest) -> Response:
        if not isinstance(request.json, dict):
            return PlainTextResponse("Bad payload received by generic incoming webhook.", 400)
        with self.lock:
            self.messages.append({"hook": request.path_params["hook"], **request.json})
        if request.path.startswith("/workflows/"):
            return Response(status_code=202)  # Power Automate flows accept and run later
        return PlainTextResponse("1")  # what connector webhooks have always answered


TELEGRAM_TOKEN = re.compile(r"^\d+:[\w-]{20,}$")


class TelegramSandbox(ProviderApp):
    """The Telegram Bot API's sendMessage and getMe."""

    name = "telegram"
    max_text = 4096

    def reset(self) -> None:
        with self.lock:
            self.messages: list[dict[str, Any]] = []
            self._ids = count(1)

    def routes(self):
        return [("/bot{token}/{method}", ["GET", "POST"], self.call)]

    @staticmethod
    def _failure(code: int, description: str, **extra: Any) -> Response:
        return json_response({"ok": False, "error_code": code, "description": description,
                              **extra}, code)

    def error(self, request: RecordedRequest, status: int, retry_after: float | None) -> Response:
        if status == 429:
            wait = int(seconds_header(retry_after or DEFAULT_RETRY_AFTER))
            return self._failure(429, f"Too Many Requests: retry after {wait}",
                                 parameters={"retry_after": wait})
        return self._failure(status, phrase(status))

    def not_found(self, request: RecordedRequest) -> Response:
        return self._failure(404, "Not Found")

    def _bot(self, token: str) -> dict[str, Any]:
        return {"id": int(token.split(":")[0]), "is_bot": True, "first_name": "Sandbox",
                "username": "sandbox_bot"}

    async def call(self, request: RecordedRequest) -> Response:
        token, method = request.path_params["token"], request.path_params["method"]
        if not TELEGRAM_TOKEN.match(token):
            return self._failure(401, "Unauthorized")
        if method == "getMe":
            return json_response({"ok": True, "result": self._bot(token)})
        if method != "sendMessage":
            return self._failure(404, "Not Found: method not found")
        data = {**request.query, **request.data}
        chat_id, text = str(data.get("chat_id") or ""), str(data.get("text") or "")
        if not chat_id:
            return self._failure(400, "Bad Request: chat_id is empty")
        if not text.strip():
            return self._failure(400, "Bad Request: message text is empty")
        if len(text) > self.max_text:
            return self._failure(400, "Bad Request: message is too long")
        rejected = self.harness.script.rejection(self.name, chat_id)
        if rejected == 403:
            return self._failure(403, "Forbidden: bot was blocked by the user")
        if rejected:
            return self._failure(400, "Bad Request: chat not found")
        message = {"message_id": next(self._ids), "from": self._bot(token),
                   "chat": _chat(chat_id), "date": int(time.time()), "text": text}
        with self.lock:
            self.messages.append({**message, "parse_mode": data.get("parse_mode")})
        return json_response({"ok": True, "result": message})


def _chat(chat_id: str) -> dict[str, Any]:
    if chat_id.startswith("@"):
        return {"id": -1001000000000 - len(chat_id), "title": chat_id[1:],
                "username": chat_id[1:], "type": "channel"}
    number = int(chat_id) if chat_id.lstrip("-").isdigit() else 0
    if number < 0:
        return {"id": number, "title": "Sandbox group", "type": "supergroup"}
    return {"id": number, "first_name": "Sandbox", "type": "private"}
