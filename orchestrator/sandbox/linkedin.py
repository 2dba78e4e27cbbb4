"""LinkedIn's versioned Posts API (POST /rest/posts) as a local sandbox."""

from __future__ import annotations

import re
import time
from itertools import count
from typing import Any

from starlette.responses import Response

from orchestrator.sandbox.core import RecordedRequest
from orchestrator.sandbox.provider import ProviderApp, bearer, json_response, phrase, seconds_header

VERSION = re.compile(r"^\d{6}(\.\d{2})?$")  # YYYYMM, or YYYYMM.RR
AUTHOR = re.compile(r"^urn:li:(person|organization):\S+$")
VISIBILITIES = ("PUBLIC", "CONNECTIONS", "LOGGED_IN", "CONTAINER")
MAX_COMMENTARY = 3000


def linkedin_error(status: int, message: str, code: str | None = None,
                   headers: dict[str, str] | None = None, **extra: Any) -> Response:
    body: dict[str, Any] = {"status": status, "message": message, **extra}
    if code:
        body["code"] = code
    return json_response(body, status, headers)


class LinkedInSandbox(ProviderApp):
    """Posts as LinkedIn stores them for members and organizations."""

    name = "linkedin"

    def reset(self) -> None:
        with self.lock:
            self.posts: list[dict[str, Any]] = []
            self._ids = count(1)

    def routes(self):
        return [("/rest/posts", ["POST"], self.create)]

    def error(self, request: RecordedRequest, status: int, retry_after: float | None) -> Response:
        # LinkedIn's 429 names the exhausted quota but gives no reset time.
        headers = {"Retry-After": seconds_header(retry_after)} if retry_after is not None else {}
        if status == 429:
            return linkedin_error(
                429, "Resource level throttle APPLICATION DAY limit for calls to this resource "
                "is reached.", "TOO_MANY_REQUESTS", headers, serviceErrorCode=101)
        return linkedin_error(status, phrase(status), headers=headers)

    def not_found(self, request: RecordedRequest) -> Response:
        return linkedin_error(404, f"No virtual resource found: {request.path}",
                              "RESOURCE_NOT_FOUND")

    def _refused(self, request: RecordedRequest) -> Response | None:
        if not bearer(request):
            return linkedin_error(401, "Invalid access token", "INVALID_ACCESS_TOKEN",
                                  serviceErrorCode=65600)
        version = request.headers.get("linkedin-version")
        if not version:
            return linkedin_error(
                400, "A version must be present. Please specify a version by adding the "
                "LinkedIn-Version header.", "VERSION_MISSING")
        if not VERSION.match(version):
            return linkedin_error(426, f"Requested version {version} is not active",
                                  "NONEXISTENT_VERSION")
        if request.headers.get("x-restli-protocol-version") != "2.0.0":
            return linkedin_error(400, "The X-Restli-Protocol-Version header must be 2.0.0 "
                                       "for this resource", "ILLEGAL_ARGUMENT")
        return None

    async def create(self, request: RecordedRequest) -> Response:
        if refused := self._refused(request):
            return refused
        body = request.json if isinstance(request.json, dict) else {}
        for field in ("author", "visibility", "distribution", "lifecycleState"):
            if field not in body:
                return linkedin_error(
                    422, f"ERROR :: /{field} :: field is required but not found and has no "
                    "default value", errorDetailType="com.linkedin.common.error.BadRequest")
        problem = None
        if not AUTHOR.match(str(body["author"])):
            problem = f"ERROR :: /author :: invalid urn {body['author']!r}"
        elif body["visibility"] not in VISIBILITIES:
            problem = f"ERROR :: /visibility :: {body['visibility']!r} is not an enum symbol"
        elif len(str(body.get("commentary", ""))) > MAX_COMMENTARY:
            problem = f"ERROR :: /commentary :: length exceeds {MAX_COMMENTARY} characters"
        if problem:
            return linkedin_error(422, problem,
                                  errorDetailType="com.linkedin.common.error.BadRequest")
        share = 7_100_000_000_000_000_000 + int(time.time()) * 1000 + next(self._ids)
        urn = f"urn:li:share:{share}"
        with self.lock:
            self.posts.append({"id": urn, **body})
        return Response(status_code=201, headers={"x-restli-id": urn, "x-linkedin-id": urn})
