"""Facebook Graph API page posts and Instagram content publishing as a local sandbox."""

from __future__ import annotations

import json
import re
import secrets
import time
from itertools import count
from typing import Any

from starlette.responses import Response

from orchestrator.sandbox.core import RecordedRequest
from orchestrator.sandbox.provider import DEFAULT_RETRY_AFTER, ProviderApp, json_response

VERSION = re.compile(r"^v\d+\.\d+$")


def graph_error(status: int, message: str, code: int, headers: dict[str, str] | None = None,
                **extra: Any) -> Response:
    error = {"message": message, "type": "OAuthException", "code": code, **extra,
             "fbtrace_id": secrets.token_urlsafe(8)}
    return json_response({"error": error}, status, headers)


class FacebookSandbox(ProviderApp):
    """Posts to Facebook Pages as the Graph API stores them."""

    name = "facebook"

    def reset(self) -> None:
        with self.lock:
            self.posts: list[dict[str, Any]] = []
            self.containers: dict[str, dict[str, Any]] = {}
            self.media: list[dict[str, Any]] = []   # published Instagram posts
            self._ids = count(1)

    def routes(self):
        return [("/{version}/{page_id}/feed", ["POST"], self.create),
                ("/{version}/{ig_user_id}/media", ["POST"], self.create_container),
                ("/{version}/{ig_user_id}/media_publish", ["POST"], self.publish)]

    def error(self, request: RecordedRequest, status: int, retry_after: float | None) -> Response:
        if status == 429:
            # Graph throttles with error 32 and says when in the usage header (minutes).
            minutes = max(1, round((retry_after or DEFAULT_RETRY_AFTER) / 60))
            page = request.path_params.get("page_id", "0")
            usage = {page: [{"type": "pages", "call_count": 100, "total_cputime": 100,
                             "total_time": 100, "estimated_time_to_regain_access": minutes}]}
            return graph_error(429, "(#32) Page request limit reached", 32,
                               {"X-Business-Use-Case-Usage": json.dumps(usage)})
        return graph_error(status, "An unexpected error has occurred. Please retry your "
                           "request later.", 2, is_transient=True)

    def not_found(self, request: RecordedRequest) -> Response:
        return graph_error(400, "Unknown path components: " + request.path, 2500)

    def _authorized(self, request: RecordedRequest) -> tuple[dict[str, Any], Response | None]:
        """The request's fields, or the Graph error for a bad version or a missing token."""
        if not VERSION.match(request.path_params["version"]):
            return {}, self.not_found(request)
        data = {**request.query, **request.data}
        token = data.get("access_token")
        scheme, _, header_token = request.headers.get("authorization", "").partition(" ")
        if not token and scheme.lower() in ("bearer", "oauth"):
            token = header_token
        if not token:
            return data, graph_error(400, "An active access token must be used to query "
                                     "information about the current user.", 2500)
        return data, None

    async def create_container(self, request: RecordedRequest) -> Response:
        data, refused = self._authorized(request)
        if refused:
            return refused
        if not data.get("image_url"):
            return graph_error(400, "(#100) The parameter image_url is required", 100)
        if len(data.get("caption", "")) > 2200:
            return graph_error(400, "(#100) The caption is too long", 100)
        container = str(17_900_000_000_000_000 + next(self._ids))
        with self.lock:
            self.containers[container] = {"ig_user_id": request.path_params["ig_user_id"],
                                          "image_url": data["image_url"],
                                          "caption": data.get("caption", "")}
        return json_response({"id": container})

    async def publish(self, request: RecordedRequest) -> Response:
        data, refused = self._authorized(request)
        if refused:
            return refused
        with self.lock:
            container = self.containers.pop(str(data.get("creation_id")), None)
            if container is None:
                return graph_error(400, "(#9007) Media ID is not available", 9007)
            media_id = str(17_800_000_000_000_000 + next(self._ids))
            self.media.append({"id": media_id, **container})
        return json_response({"id": media_id})

    async def create(self, request: RecordedRequest) -> Response:
        data, refused = self._authorized(request)
        if refused:
            return refused
        if not data.get("message") and not data.get("link"):
            return graph_error(400, "(#100) Missing message or attachment", 100)
        page = request.path_params["page_id"]
        post_id = f"{page}_{int(time.time()) * 1000 + next(self._ids)}"
        with self.lock:
            self.posts.append({"id": post_id, "page_id": page, "message": data.get("message"),
                               "link": data.get("link")})
        return json_response({"id": post_id})
