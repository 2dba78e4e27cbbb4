"""X (Twitter) API v2 tweet creation as a local sandbox, behind an OAuth 1.0a header check."""

from __future__ import annotations

import re
import time
from itertools import count
from typing import Any

from starlette.responses import Response

from orchestrator.sandbox.core import RecordedRequest
from orchestrator.sandbox.provider import DEFAULT_RETRY_AFTER, ProviderApp, json_response, phrase

OAUTH_PARAM = re.compile(r'\s*([A-Za-z_]+)="([^"]*)"\s*(?:,|$)')
OAUTH_REQUIRED = ("oauth_consumer_key", "oauth_nonce", "oauth_signature",
                  "oauth_signature_method", "oauth_timestamp", "oauth_token")
# A signed request older (or newer) than this is refused, as X does.
CLOCK_SKEW = 900
URL = re.compile(r"https?://\S+")
MAX_WEIGHT = 280
# twitter-text v3: these code point ranges weigh 1, everything else (CJK, emoji) 2;
# every URL weighs 23 whatever its length.
LIGHT_RANGES = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))
URL_WEIGHT = 23


def weighted_length(text: str) -> int:
    weight = URL_WEIGHT * len(URL.findall(text))
    for ch in URL.sub("", text):
        point = ord(ch)
        if 0xFE00 <= point <= 0xFE0F or point == 0x200D:
            continue  # variation selectors and joiners ride on the emoji before them
        weight += 1 if any(lo <= point <= hi for lo, hi in LIGHT_RANGES) else 2
    return weight


def oauth_params(header: str) -> dict[str, str] | None:
    """The parameters of an `OAuth k="v", ...` header, or None when it is malformed."""
    scheme, _, rest = header.partition(" ")
    if scheme != "OAuth" or not rest.strip():
        return None
    params, position = {}, 0
    for match in OAUTH_PARAM.finditer(rest):
        if match.start() != position:
            return None
        params[match.group(1)] = match.group(2)
        position = match.end()
    return params if position == len(rest) else None


def problem(status: int, title: str, detail: str, kind: str = "about:blank",
            headers: dict[str, str] | None = None) -> Response:
    return json_response({"title": title, "detail": detail, "type": kind, "status": status},
                         status, headers)


class XSandbox(ProviderApp):
    """Tweets as one X user posts them."""

    name = "x"

    def reset(self) -> None:
        with self.lock:
            self.tweets: list[dict[str, Any]] = []
            self._ids = count(1)

    def routes(self):
        return [
            ("/2/tweets", ["POST"], self.create),
            ("/2/tweets/{id}", ["DELETE"], self.delete),
        ]

    def error(self, request: RecordedRequest, status: int, retry_after: float | None) -> Response:
        if status != 429:
            return problem(status, phrase(status), phrase(status))
        reset = str(int(time.time() + (retry_after or DEFAULT_RETRY_AFTER) + 0.999))
        return problem(429, "Too Many Requests", "Too Many Requests", headers={
            "x-rate-limit-limit": "200", "x-rate-limit-remaining": "0",
            "x-rate-limit-reset": reset,
        })

    def not_found(self, request: RecordedRequest) -> Response:
        return problem(404, "Not Found Error", "Sorry, that page does not exist.",
                       "https://api.twitter.com/2/problems/resource-not-found")

    def _denied(self, request: RecordedRequest) -> Response | None:
        params = oauth_params(request.headers.get("authorization", ""))
        unauthorized = problem(401, "Unauthorized", "Unauthorized")
        if params is None or any(not params.get(key) for key in OAUTH_REQUIRED):
            return unauthorized
        if params["oauth_signature_method"] not in ("HMAC-SHA1", "HMAC-SHA256", "PLAINTEXT"):
            return unauthorized
        if params.get("oauth_version", "1.0") != "1.0":
            return unauthorized
        stamp = params["oauth_timestamp"]
        if not stamp.isdigit() or abs(int(stamp) - time.time()) > CLOCK_SKEW:
            return unauthorized
        return None

    async def create(self, request: RecordedRequest) -> Response:
        if denied := self._denied(request):
            return denied
        body = request.json
        if not isinstance(body, dict) or not (body.get("text") or body.get("media")):
            return json_response({
                "errors": [{"message": "$.text: is missing but it is required"}],
                "title": "Invalid Request",
                "detail": "One or more parameters to your request was invalid.",
                "type": "https://api.twitter.com/2/problems/invalid-request",
            }, 400)
        text = str(body.get("text", ""))
        forbidden = None
        if weighted_length(text) > MAX_WEIGHT:
            forbidden = ("Your Tweet text is too long. For more information on how Twitter "
                         "determines text length, see https://github.com/twitter/twitter-text.")
        with self.lock:
            if text and any(t["text"] == text for t in self.tweets):
                # X refuses a repeat of a recent tweet: what a blind retry of a post that
                # timed out after X accepted it runs into.
                forbidden = "You are not allowed to create a Tweet with duplicate content."
            if forbidden:
                return problem(403, "Forbidden", forbidden)
            tweet_id = str(1_800_000_000_000_000_000 + int(time.time() * 1000) * 1000
                           + next(self._ids) % 1000)
            tweet = {"id": tweet_id, "text": text, "edit_history_tweet_ids": [tweet_id]}
            self.tweets.append(tweet)
        return json_response({"data": tweet}, 201)

    async def delete(self, request: RecordedRequest) -> Response:
        if denied := self._denied(request):
            return denied
        with self.lock:
            before = len(self.tweets)
            self.tweets = [t for t in self.tweets if t["id"] != request.path_params["id"]]
            deleted = len(self.tweets) < before
        return json_response({"data": {"deleted": deleted}})
