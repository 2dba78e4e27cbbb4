"""A Bluesky PDS's XRPC session and record endpoints as a local sandbox."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import unicodedata
from typing import Any

from starlette.responses import Response

from orchestrator.sandbox.core import RecordedRequest
from orchestrator.sandbox.provider import (
    DEFAULT_RETRY_AFTER,
    ProviderApp,
    bearer,
    json_response,
    phrase,
)

XRPC = "/xrpc/"
MAX_GRAPHEMES = 300
MAX_BYTES = 3000
BASE32 = "abcdefghijklmnopqrstuvwxyz234567"
# Base32-sortable alphabet of atproto record keys (TIDs).
TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"


def grapheme_count(text: str) -> int:
    """User-perceived characters, close enough to Unicode's extended grapheme clusters.

    Combining marks, variation selectors, emoji modifiers and whatever follows a
    zero-width joiner extend the cluster before them; regional indicators pair up.
    (The stdlib has no segmentation and the project takes no dependency for it.)
    """
    clusters, joined, flags = 0, False, 0
    for ch in text:
        point = ord(ch)
        regional = 0x1F1E6 <= point <= 0x1F1FF
        extends = (
            unicodedata.category(ch) in ("Mn", "Me", "Mc")
            or 0xFE00 <= point <= 0xFE0F or 0x1F3FB <= point <= 0x1F3FF
            or 0xE0020 <= point <= 0xE007F or point == 0x200D
        )
        if joined or extends or (regional and flags % 2 == 1):
            joined = point == 0x200D
        else:
            clusters += 1
            joined = False
        flags = flags + 1 if regional else 0
    return clusters


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def xrpc_error(status: int, error: str, message: str,
               headers: dict[str, str] | None = None) -> Response:
    return json_response({"error": error, "message": message}, status, headers)


class BlueskySandbox(ProviderApp):
    """Sessions and posts of Bluesky accounts on one PDS."""

    name = "bluesky"
    access_ttl = 7200.0  # seconds; lower it (or call expire_sessions) to test refresh

    def reset(self) -> None:
        with self.lock:
            self.records: list[dict[str, Any]] = []
            self._tokens: dict[str, dict[str, Any]] = {}

    def routes(self):
        return [
            (XRPC + "com.atproto.server.createSession", ["POST"], self.create_session),
            (XRPC + "com.atproto.server.refreshSession", ["POST"], self.refresh_session),
            (XRPC + "com.atproto.repo.createRecord", ["POST"], self.create_record),
        ]

    def expire_sessions(self) -> None:
        """Make every access token expired, as if hours had passed."""
        with self.lock:
            for token in self._tokens.values():
                if token["scope"] == "com.atproto.access":
                    token["exp"] = 0

    def error(self, request: RecordedRequest, status: int, retry_after: float | None) -> Response:
        if status == 429:
            reset = int(time.time() + (retry_after or DEFAULT_RETRY_AFTER) + 0.999)
            return xrpc_error(429, "RateLimitExceeded", "Rate Limit Exceeded", {
                "ratelimit-limit": "3000", "ratelimit-remaining": "0",
                "ratelimit-reset": str(reset), "ratelimit-policy": "3000;w=300",
            })
        name = "InternalServerError" if status == 500 else "UpstreamFailure"
        return xrpc_error(status, name, phrase(status))

    def not_found(self, request: RecordedRequest) -> Response:
        return xrpc_error(501, "MethodNotImplemented", "Method Not Implemented")

    # -- sessions ---------------------------------------------------------------------

    def _issue(self, did: str, handle: str) -> dict[str, Any]:
        now = int(time.time())
        session = {"did": did, "handle": handle}
        for kind, scope, ttl in (("accessJwt", "com.atproto.access", self.access_ttl),
                                 ("refreshJwt", "com.atproto.refresh", 90 * 86400)):
            claims = {"scope": scope, "sub": did, "iat": now, "exp": int(now + ttl)}
            token = ".".join([_b64({"typ": "at+jwt", "alg": "ES256K"}), _b64(claims),
                              secrets.token_urlsafe(32)])
            self._tokens[token] = {**claims, "handle": handle}
            session[kind] = token
        return session

    async def create_session(self, request: RecordedRequest) -> Response:
        body = request.json if isinstance(request.json, dict) else {}
        for field in ("identifier", "password"):
            if not body.get(field):
                return xrpc_error(400, "InvalidRequest", f'Input must have the property "{field}"')
        identifier = str(body["identifier"]).lstrip("@")
        is_handle = "." in identifier and "@" not in identifier
        handle = identifier if is_handle else "sandbox.bsky.social"
        digest = hashlib.sha256(identifier.encode()).digest()
        did = "did:plc:" + "".join(BASE32[b % 32] for b in digest[:24])
        with self.lock:
            session = self._issue(did, handle)
        return json_response({**session, "email": f"{handle}@example.com", "active": True})

    def _session(self, request: RecordedRequest, scope: str) -> dict[str, Any] | Response:
        token = bearer(request)
        if token is None:
            return xrpc_error(401, "AuthMissing", "Authentication Required")
        with self.lock:
            claims = self._tokens.get(token)
        if claims is None:
            return xrpc_error(400, "InvalidToken", "Token could not be verified")
        if claims["scope"] != scope:
            return xrpc_error(400, "InvalidToken", "Bad token scope")
        if claims["exp"] <= time.time():
            return xrpc_error(400, "ExpiredToken", "Token has expired")
        return claims

    async def refresh_session(self, request: RecordedRequest) -> Response:
        claims = self._session(request, "com.atproto.refresh")
        if isinstance(claims, Response):
            return claims
        with self.lock:
            self._tokens.pop(bearer(request), None)  # refresh tokens are single-use
            session = self._issue(claims["sub"], claims["handle"])
        return json_response({**session, "active": True})

    # -- records ----------------------------------------------------------------------

    async def create_record(self, request: RecordedRequest) -> Response:
        claims = self._session(request, "com.atproto.access")
        if isinstance(claims, Response):
            return claims
        body = request.json if isinstance(request.json, dict) else {}
        for field in ("repo", "collection", "record"):
            if field not in body:
                return xrpc_error(400, "InvalidRequest", f'Input must have the property "{field}"')
        if body["repo"] not in (claims["sub"], claims["handle"]):
            return xrpc_error(400, "InvalidRequest", "Input/repo must be the authenticated repo")
        if problem := self._check_post(body["collection"], body["record"]):
            return problem
        rkey = self._tid()
        uri = f"at://{claims['sub']}/{body['collection']}/{rkey}"
        cid = "bafyrei" + "".join(secrets.choice(BASE32) for _ in range(52))
        with self.lock:
            self.records.append({"uri": uri, "cid": cid, "repo": claims["sub"],
                                 "collection": body["collection"], "record": body["record"]})
        return json_response({
            "uri": uri, "cid": cid, "validationStatus": "valid",
            "commit": {"cid": "bafyrei" + "".join(secrets.choice(BASE32) for _ in range(52)),
                       "rev": self._tid()},
        })

    def _check_post(self, collection: str, record: Any) -> Response | None:
        if collection != "app.bsky.feed.post":
            return None

        def invalid(message: str) -> Response:
            return xrpc_error(400, "InvalidRequest", f"Invalid {collection} record: {message}")

        if not isinstance(record, dict) or "createdAt" not in record:
            return invalid('Record must have the property "createdAt"')
        text = record.get("text")
        if not isinstance(text, str):
            return invalid('Record must have the property "text"')
        if len(text.encode()) > MAX_BYTES:
            return invalid(f"Record/text must not be longer than {MAX_BYTES} characters")
        if grapheme_count(text) > MAX_GRAPHEMES:
            return invalid(f"Record/text must not be longer than {MAX_GRAPHEMES} graphemes")
        return None

    @staticmethod
    def _tid() -> str:
        # Microseconds since the epoch, then a clock id, in sortable base32: 13 characters.
        value = (int(time.time() * 1_000_000) << 10) | secrets.randbelow(1024)
        return "".join(TID_ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(13)))
