"""Public posts to X through API v2 `POST /2/tweets`, signed with OAuth 1.0a user context."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Iterable
from typing import Any, ClassVar, Literal
from urllib.parse import quote, urlsplit, urlunsplit

from channels.base import Capabilities, ChannelConfig, Delivery, Message
from channels.graphemes import count_graphemes
from channels.transport import HttpChannel, check_length, join_url, json_body
from orchestrator.errors import PermanentDeliveryError
from orchestrator.lazy import httpx
from orchestrator.models import Secret

DEFAULT_BASE_URL = "https://api.x.com"
MAX_WEIGHT = 280
# twitter-text v3: code points in these ranges weigh 1, everything else (CJK, emoji) 2,
# and every URL weighs 23 whatever its length.
_LIGHT = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))
_URL = re.compile(r"https?://\S+")
_URL_WEIGHT = 23


class XConfig(ChannelConfig):
    kind: Literal["x"]
    consumer_key: Secret
    consumer_secret: Secret
    access_token: Secret
    access_token_secret: Secret
    depends_on: list[str] = ["x"]


def weighted_length(text: str) -> int:
    """A tweet's length as X counts it (an emoji sequence is one cluster weighing 2)."""
    weight = _URL_WEIGHT * len(_URL.findall(text))
    for cluster in _clusters(_URL.sub("", text)):
        point = ord(cluster[0])
        weight += 1 if any(lo <= point <= hi for lo, hi in _LIGHT) else 2
    return weight


def _clusters(text: str) -> list[str]:
    """Split into grapheme clusters by growing each while the count stays the same."""
    clusters: list[str] = []
    for ch in text:
        if clusters and count_graphemes(clusters[-1] + ch) == 1:
            clusters[-1] += ch
        else:
            clusters.append(ch)
    return clusters


def _enc(value: str) -> str:
    """RFC 5849 section 3.6 percent-encoding: everything but unreserved characters."""
    return quote(value, safe="-._~")


def _base_uri(url: str) -> str:
    """RFC 5849 section 3.4.1.2: lower-case scheme and host, default port dropped, no query."""
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    default = {"http": 80, "https": 443}.get(scheme)
    netloc = host if parts.port in (None, default) else f"{host}:{parts.port}"
    return urlunsplit((scheme, netloc, parts.path or "/", "", ""))


def oauth1_signature(method: str, url: str, params: Iterable[tuple[str, str]],
                     consumer_secret: str, token_secret: str) -> str:
    """The HMAC-SHA1 signature of a request (RFC 5849 section 3.4)."""
    pairs = sorted((_enc(k), _enc(v)) for k, v in params)
    normalized = "&".join(f"{k}={v}" for k, v in pairs)
    base = "&".join((method.upper(), _enc(_base_uri(url)), _enc(normalized)))
    key = f"{_enc(consumer_secret)}&{_enc(token_secret)}"
    digest = hmac.new(key.encode(), base.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def oauth1_header(method: str, url: str, *, consumer_key: str, consumer_secret: str,
                  token: str, token_secret: str, nonce: str, timestamp: int,
                  extra_params: Iterable[tuple[str, str]] = ()) -> str:
    """The `Authorization: OAuth ...` value; `extra_params` are form-body parameters, if any.

    Query parameters are taken from `url`. A JSON body is not signed (X's v2 API and
    RFC 5849 sign only form-encoded bodies).
    """
    oauth = {
        "oauth_consumer_key": consumer_key,
        "oauth_nonce": nonce,
        "oauth_signature_method": "HMAC-SHA1",
        "oauth_timestamp": str(timestamp),
        "oauth_token": token,
        "oauth_version": "1.0",
    }
    query = httpx.URL(url).params.multi_items()
    signed = [*oauth.items(), *query, *extra_params]
    oauth["oauth_signature"] = oauth1_signature(method, url, signed, consumer_secret,
                                                token_secret)
    return "OAuth " + ", ".join(f'{_enc(k)}="{_enc(v)}"' for k, v in sorted(oauth.items()))


def build_payload(config: XConfig, message: Message) -> dict[str, Any]:
    """The JSON body of `POST /2/tweets`."""
    check_length(message.body, MAX_WEIGHT, "x", "weighted characters",
                 weighted_length(message.body))
    payload: dict[str, Any] = {"text": message.body}
    if message.reply_to:
        payload["reply"] = {"in_reply_to_tweet_id": message.reply_to}
    return payload


def build_request(config: XConfig, message: Message, *, nonce: str | None = None,
                  timestamp: int | None = None) -> httpx.Request:
    """The signed tweet request; nonce and timestamp are fresh unless given (for tests)."""
    url = join_url(config.base_url or DEFAULT_BASE_URL, "/2/tweets")
    authorization = oauth1_header(
        "POST", url,
        consumer_key=config.consumer_key.get_secret_value(),
        consumer_secret=config.consumer_secret.get_secret_value(),
        token=config.access_token.get_secret_value(),
        token_secret=config.access_token_secret.get_secret_value(),
        nonce=nonce or secrets.token_hex(16),
        timestamp=int(time.time()) if timestamp is None else timestamp)
    return httpx.Request("POST", url, json=build_payload(config, message),
                         headers={"Authorization": authorization})


class XChannel(HttpChannel):
    name: ClassVar[str] = "x"
    provider: ClassVar[str] = "x"
    capabilities: ClassVar[Capabilities] = Capabilities(
        broadcast=True, max_length=280, threading=True, default_rate=0.5)
    Config: ClassVar[type[ChannelConfig]] = XConfig
    config: XConfig

    async def send(self, message: Message) -> Delivery:
        response = await self.request(build_request(self.config, message))
        data = (json_body(response) or {}).get("data") or {}
        if "id" not in data:
            raise PermanentDeliveryError("x answered without a tweet id",
                                         status=response.status_code, body=response.text)
        return Delivery(provider_id=str(data["id"]))
