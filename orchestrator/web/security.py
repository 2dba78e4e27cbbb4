"""Request hygiene shared by the routes: bounded bodies, constant-time tokens, sessions, CSRF.

Dashboard sessions are stateless: the cookie is `issued.nonce.mac` with the mac keyed by the
ops API token, so rotating the token logs everyone out and nothing is stored server-side.
The CSRF token of a session is another mac over its nonce (the synchronizer-token pattern
without a table).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import parse_qsl

from starlette.datastructures import ImmutableMultiDict
from starlette.exceptions import HTTPException
from starlette.requests import Request

SESSION_COOKIE = "orch_session"
SESSION_MAX_AGE = 12 * 3600


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) anything over `limit` bytes without reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, "request body too large")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, "request body too large")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_form(body: bytes) -> ImmutableMultiDict:
    """An application/x-www-form-urlencoded body (no python-multipart needed for these)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPException(400, "form body is not UTF-8") from None
    return ImmutableMultiDict(parse_qsl(text, keep_blank_values=True))


def same_secret(given: str | None, expected: str | None) -> bool:
    """Constant-time equality; False when either side is missing or empty."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def bearer(request: Request) -> str | None:
    """The token of an `Authorization: Bearer ...` header, if any."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _mac(key: str, purpose: str, text: str) -> str:
    return hmac.new(key.encode("utf-8"), f"{purpose}:{text}".encode(),
                    hashlib.sha256).hexdigest()


def new_session(key: str, now: float) -> str:
    """A fresh session cookie value for someone who just proved they hold `key`."""
    issued, nonce = str(int(now)), secrets.token_urlsafe(16)
    return f"{issued}.{nonce}.{_mac(key, 'session', f'{issued}.{nonce}')}"


def session_nonce(cookie: str | None, key: str | None, now: float) -> str | None:
    """The nonce of a valid, unexpired session cookie, else None."""
    if not cookie or not key or cookie.count(".") != 2:
        return None
    issued, nonce, mac = cookie.split(".")
    if not same_secret(mac, _mac(key, "session", f"{issued}.{nonce}")):
        return None
    if not issued.isdigit() or not 0 <= now - int(issued) <= SESSION_MAX_AGE:
        return None
    return nonce


def csrf_token(key: str, nonce: str) -> str:
    """The CSRF token that forms of the session with `nonce` must carry."""
    return _mac(key, "csrf", nonce)
