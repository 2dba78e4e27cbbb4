"""Facebook Graph API page posts (POST /v{version}/{page_id}/feed) as a local sandbox."""

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
            self._ids = count(1)

    def routes(self):
        return [("/{version}/{page_id}/feed", ["POST"], self.create)]

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

    async def create(self, request: RecordedRequest) -> Response:
        if not VERSION.match(request.path_params["version"]):
            return self.not_found(request)
        data = {**request.query, **request.data}
        token = data.get("access_token")
        scheme, _, header_token = request.headers.get("authorization", "").partition(" ")
        if not token and scheme.lower() in ("bearer", "oauth"):
            token = header_token
        if not token:
            return graph_error(400, "An active access token must be used to query information "
                               "about the current user.", 2500)
        if not data.get("message") and not data.get("link"):
            return graph_error(400, "(#100) Missing message or attachment", 100)
        page = request.path_params["page_id"]
        post_id = f"{page}_{int(time.time()) * 1000 + next(self._ids)}"
        with self.lock:
            self.posts.append({"id": post_id, "page_id": page, "message": data.get("message"),
                               "link": data.get("link")})
        return json_response({"id": post_id})
