"""A Mastodon instance's statuses API as a local sandbox, honouring Idempotency-Key."""

from __future__ import annotations

import html
import re
import time
from datetime import UTC, datetime
from itertools import count
from typing import Any

from starlette.responses import Response

from orchestrator.sandbox.core import RecordedRequest
from orchestrator.sandbox.provider import (
    DEFAULT_RETRY_AFTER,
    ProviderApp,
    bearer,
    iso_millis,
    json_response,
    phrase,
)

URL = re.compile(r"https?://\S+")
# Mastodon counts every URL as 23 characters, whatever its length.
URL_WEIGHT = 23
# Mastodon remembers an Idempotency-Key for an hour.
IDEMPOTENCY_TTL = 3600.0


def mastodon_length(text: str) -> int:
    return len(URL.sub("x" * URL_WEIGHT, text))


class MastodonSandbox(ProviderApp):
    """Statuses as one Mastodon account posts them."""

    name = "mastodon"
    max_characters = 500

    def reset(self) -> None:
        with self.lock:
            self.statuses: list[dict[str, Any]] = []
            self._by_key: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
            self._ids = count(1)
            self._texts: dict[str, str] = {}

    def routes(self):
        return [
            ("/api/v1/statuses", ["POST"], self.create),
            ("/api/v1/statuses/{id}", ["GET"], self.fetch),
            ("/api/v1/statuses/{id}", ["DELETE"], self.delete),
            ("/api/v1/accounts/verify_credentials", ["GET"], self.verify_credentials),
        ]

    def error(self, request: RecordedRequest, status: int, retry_after: float | None) -> Response:
        if status != 429:
            return json_response({"error": phrase(status)}, status)
        reset = time.time() + (retry_after or DEFAULT_RETRY_AFTER)
        stamp = datetime.fromtimestamp(reset, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return json_response({"error": "Too many requests"}, 429, {
            "X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": stamp,
        })

    def not_found(self, request: RecordedRequest) -> Response:
        return json_response({"error": "Record not found"}, 404)

    def _denied(self, request: RecordedRequest) -> Response | None:
        if "authorization" not in request.headers:
            return json_response({"error": "This method requires an authenticated user"}, 401)
        if not bearer(request):
            return json_response({"error": "The access token is invalid"}, 401)
        return None

    def _account(self, request: RecordedRequest) -> dict[str, Any]:
        host = request.base.split("://", 1)[-1]
        return {
            "id": "1", "username": "sandbox", "acct": "sandbox", "display_name": "Sandbox",
            "locked": False, "bot": True, "url": f"{request.base}/@sandbox",
            "created_at": "2024-01-01T00:00:00.000Z", "note": "", "followers_count": 0,
            "following_count": 0, "statuses_count": len(self.statuses), "host": host,
        }

    async def verify_credentials(self, request: RecordedRequest) -> Response:
        if denied := self._denied(request):
            return denied
        return json_response(self._account(request))

    async def create(self, request: RecordedRequest) -> Response:
        if denied := self._denied(request):
            return denied
        key = request.headers.get("idempotency-key")
        scope = (bearer(request) or "", key or "")
        with self.lock:
            remembered = self._by_key.get(scope) if key else None
            if remembered and time.time() - remembered[0] < IDEMPOTENCY_TTL:
                # The same key returns the status it created, and creates nothing.
                return json_response(remembered[1])
        data = request.data
        text = str(data.get("status") or "")
        media = data.get("media_ids[]") or data.get("media_ids") or []
        if not text.strip() and not media:
            return json_response({"error": "Validation failed: Text can't be blank"}, 422)
        if mastodon_length(text) > self.max_characters:
            return json_response({"error": "Validation failed: Text character limit of "
                                           f"{self.max_characters} exceeded"}, 422)
        status = self._new_status(request, text, data)
        with self.lock:
            self.statuses.append(status)
            self._texts[status["id"]] = text
            if key:
                self._by_key[scope] = (time.time(), status)
        return json_response(status)

    def _new_status(self, request: RecordedRequest, text: str, data: dict[str, Any]) -> dict:
        # Snowflake-like ids: time in the high bits, so they sort by creation like the real ones.
        status_id = str((int(time.time() * 1000) << 16) + next(self._ids))
        paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n\n") if p)
        return {
            "id": status_id, "created_at": iso_millis(time.time()), "in_reply_to_id":
            data.get("in_reply_to_id"), "in_reply_to_account_id": None,
            "sensitive": str(data.get("sensitive", "false")).lower() == "true",
            "spoiler_text": data.get("spoiler_text", ""),
            "visibility": data.get("visibility", "public"), "language": data.get("language"),
            "uri": f"{request.base}/users/sandbox/statuses/{status_id}",
            "url": f"{request.base}/@sandbox/{status_id}", "replies_count": 0,
            "reblogs_count": 0, "favourites_count": 0, "edited_at": None,
            "content": paragraphs, "reblog": None, "application": {"name": "sandbox"},
            "account": self._account(request), "media_attachments": [], "mentions": [],
            "tags": [], "emojis": [], "card": None, "poll": None,
        }

    def _find(self, request: RecordedRequest) -> dict[str, Any] | None:
        with self.lock:
            return next((s for s in self.statuses if s["id"] == request.path_params["id"]), None)

    async def fetch(self, request: RecordedRequest) -> Response:
        status = self._find(request)
        return json_response(status) if status else self.not_found(request)

    async def delete(self, request: RecordedRequest) -> Response:
        if denied := self._denied(request):
            return denied
        status = self._find(request)
        if status is None:
            return self.not_found(request)
        with self.lock:
            self.statuses.remove(status)
        # Deleting answers with the source text, so a client can redraft the status.
        return json_response({**status, "text": self._texts.pop(status["id"], "")})
