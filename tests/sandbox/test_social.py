"""Mastodon, Bluesky, X, LinkedIn and Facebook sandboxes over plain httpx."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from datetime import datetime
from urllib.parse import quote

import httpx
import pytest

from orchestrator.sandbox.bluesky import grapheme_count
from orchestrator.sandbox.x import weighted_length


@pytest.fixture
def http(sandbox):
    with httpx.Client(base_url=sandbox.url, timeout=5) as client:
        yield client


# -- Mastodon ---------------------------------------------------------------------------

TOKEN = {"Authorization": "Bearer app-token"}


def toot(http, text, key=None, **extra):
    headers = {**TOKEN, **({"Idempotency-Key": key} if key else {})}
    return http.post("/mastodon/api/v1/statuses", json={"status": text, **extra},
                     headers=headers)


def test_mastodon_idempotency_key_dedupes(http, sandbox):
    first = toot(http, "We are aware Facebook is down.", key="incident-7-update-1")
    again = toot(http, "We are aware Facebook is down.", key="incident-7-update-1")
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert len(sandbox.mastodon.statuses) == 1
    assert len(sandbox.requests("mastodon", path_contains="statuses")) == 2
    other = toot(http, "Second update", key="incident-7-update-2")
    assert other.json()["id"] != first.json()["id"]
    assert [s["content"] for s in sandbox.mastodon.statuses] == [
        "<p>We are aware Facebook is down.</p>", "<p>Second update</p>"]


def test_mastodon_takes_forms_and_checks_length(http, sandbox):
    form = http.post("/mastodon/api/v1/statuses", data={"status": "form post",
                                                         "visibility": "unlisted"}, headers=TOKEN)
    assert form.json()["visibility"] == "unlisted"
    url = "https://status.example.com/" + "x" * 200
    assert toot(http, "a" * 476 + " " + url).status_code == 200  # a URL counts as 23
    too_long = toot(http, "a" * 501)
    assert too_long.status_code == 422
    assert too_long.json() == {"error": "Validation failed: Text character limit of 500 exceeded"}
    assert http.post("/mastodon/api/v1/statuses", json={"status": "x"}).status_code == 401


def test_mastodon_429_reset_is_an_iso_time(http, sandbox):
    sandbox.script.rate_limit("mastodon", retry_after=60)
    response = toot(http, "hello")
    assert response.status_code == 429
    assert response.headers["X-RateLimit-Remaining"] == "0"
    reset = datetime.fromisoformat(response.headers["X-RateLimit-Reset"])
    assert 58 <= reset.timestamp() - time.time() <= 61
    assert sandbox.mastodon.statuses == []


# -- Bluesky ----------------------------------------------------------------------------

XRPC = "/bluesky/xrpc/"


def session(http, identifier="brand.bsky.social"):
    response = http.post(XRPC + "com.atproto.server.createSession",
                         json={"identifier": identifier, "password": "app-password"})
    assert response.status_code == 200
    return response.json()


def post(http, access, text, repo=None, did=None):
    record = {"$type": "app.bsky.feed.post", "text": text,
              "createdAt": "2026-01-01T00:00:00.000Z"}
    headers = {"Authorization": f"Bearer {access}"} if access else {}
    return http.post(XRPC + "com.atproto.repo.createRecord", headers=headers, json={
        "repo": repo or did, "collection": "app.bsky.feed.post", "record": record})


def test_bluesky_session_is_required(http, sandbox):
    anonymous = post(http, None, "hi", repo="did:plc:x")
    assert (anonymous.status_code, anonymous.json()["error"]) == (401, "AuthMissing")
    forged = post(http, "not-a-token", "hi", repo="did:plc:x")
    assert (forged.status_code, forged.json()["error"]) == (400, "InvalidToken")
    tokens = session(http)
    assert {"accessJwt", "refreshJwt", "did", "handle"} <= set(tokens)
    assert tokens["did"].startswith("did:plc:") and tokens["handle"] == "brand.bsky.social"
    created = post(http, tokens["accessJwt"], "We are back!", did=tokens["did"])
    assert created.status_code == 200
    assert created.json()["uri"].startswith(f"at://{tokens['did']}/app.bsky.feed.post/")
    assert sandbox.bluesky.records[0]["record"]["text"] == "We are back!"
    assert post(http, tokens["refreshJwt"], "x", did=tokens["did"]).json()["error"] == (
        "InvalidToken")


def test_bluesky_300_graphemes(http, sandbox):
    tokens = session(http)
    family = "\U0001F468\u200D\U0001F469\u200D\U0001F467"  # one grapheme, five code points
    # 300 graphemes in 700 code points (and 2,000 of the 3,000 bytes allowed).
    text = family * 100 + "a" * 200
    assert post(http, tokens["accessJwt"], text, did=tokens["did"]).status_code == 200
    too_long = post(http, tokens["accessJwt"], "a" * 301, did=tokens["did"])
    assert too_long.status_code == 400
    assert too_long.json() == {
        "error": "InvalidRequest",
        "message": "Invalid app.bsky.feed.post record: Record/text must not be longer than "
                   "300 graphemes"}


@pytest.mark.parametrize(("text", "count"), [
    pytest.param("hello", 5, id="ascii"),
    pytest.param("e\u0301", 1, id="combining-accent"),
    pytest.param("\U0001F1EB\U0001F1F7\U0001F1E9\U0001F1EA", 2, id="two-flags"),
    pytest.param("\U0001F44D\U0001F3FD", 1, id="skin-tone"),
    pytest.param("\u2764\uFE0F", 1, id="variation-selector"),
])
def test_grapheme_count(text, count):
    assert grapheme_count(text) == count


def test_bluesky_expired_session_then_refresh(http, sandbox):
    tokens = session(http)
    sandbox.bluesky.expire_sessions()
    expired = post(http, tokens["accessJwt"], "hi", did=tokens["did"])
    assert (expired.status_code, expired.json()["error"]) == (400, "ExpiredToken")
    refreshed = http.post(XRPC + "com.atproto.server.refreshSession",
                          headers={"Authorization": f"Bearer {tokens['refreshJwt']}"})
    assert refreshed.status_code == 200
    assert post(http, refreshed.json()["accessJwt"], "hi", did=tokens["did"]).status_code == 200
    reused = http.post(XRPC + "com.atproto.server.refreshSession",
                       headers={"Authorization": f"Bearer {tokens['refreshJwt']}"})
    assert reused.status_code == 400  # refresh tokens are single-use


def test_bluesky_429_headers(http, sandbox):
    tokens = session(http)
    sandbox.script.rate_limit("bluesky", retry_after=20, path_contains="createRecord")
    limited = post(http, tokens["accessJwt"], "hi", did=tokens["did"])
    assert limited.status_code == 429 and limited.json()["error"] == "RateLimitExceeded"
    assert 19 <= int(limited.headers["ratelimit-reset"]) - time.time() <= 21
    assert limited.headers["ratelimit-remaining"] == "0"


# -- X ----------------------------------------------------------------------------------


def enc(value: str) -> str:
    """RFC 5849 percent-encoding."""
    return quote(value, safe="~")


def oauth1(method: str, url: str, **override: str) -> str:
    """A real HMAC-SHA1 OAuth 1.0a header (the sandbox checks form, not signature)."""
    params = {
        "oauth_consumer_key": "consumer", "oauth_nonce": secrets.token_hex(16),
        "oauth_signature_method": "HMAC-SHA1", "oauth_timestamp": str(int(time.time())),
        "oauth_token": "user-token", "oauth_version": "1.0",
    }
    normalized = "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(params.items()))
    base = "&".join([method, enc(url), enc(normalized)])
    digest = hmac.new(b"consumer-secret&token-secret", base.encode(), hashlib.sha1).digest()
    params["oauth_signature"] = base64.b64encode(digest).decode()
    params.update(override)
    return "OAuth " + ", ".join(f'{k}="{enc(v)}"' for k, v in params.items() if v)


def tweet(http, sandbox, text, **override):
    url = sandbox.base_url("x") + "/2/tweets"
    return http.post("/x/2/tweets", json={"text": text},
                     headers={"Authorization": oauth1("POST", url, **override)})


def test_x_needs_a_well_formed_oauth1_header(http, sandbox):
    assert http.post("/x/2/tweets", json={"text": "hi"}).status_code == 401
    bearer = http.post("/x/2/tweets", json={"text": "hi"},
                       headers={"Authorization": "Bearer app-only"})
    assert bearer.status_code == 401
    assert tweet(http, sandbox, "hi", oauth_signature="").status_code == 401
    assert tweet(http, sandbox, "hi", oauth_timestamp="yesterday").status_code == 401
    garbled = http.post("/x/2/tweets", json={"text": "hi"},
                        headers={"Authorization": 'OAuth oauth_consumer_key="a" junk'})
    assert garbled.status_code == 401
    created = tweet(http, sandbox, "Facebook is down; updates here.")
    assert created.status_code == 201
    data = created.json()["data"]
    assert data["text"] == "Facebook is down; updates here."
    assert data["edit_history_tweet_ids"] == [data["id"]]
    assert sandbox.x.tweets == [data]


def test_x_length_and_duplicates_are_403(http, sandbox):
    assert tweet(http, sandbox, "a" * 280).status_code == 201
    too_long = tweet(http, sandbox, "b" * 281)
    assert too_long.status_code == 403
    assert "too long" in too_long.json()["detail"]
    assert tweet(http, sandbox, "中" * 141).status_code == 403  # CJK weighs two
    again = tweet(http, sandbox, "a" * 280)
    assert again.status_code == 403 and "duplicate content" in again.json()["detail"]
    assert len(sandbox.x.tweets) == 1


def test_x_weighted_length():
    assert weighted_length("hi https://example.com/" + "x" * 100) == 3 + 23
    assert weighted_length("\U0001F600") == 2


def test_x_429_reset_is_epoch_seconds(http, sandbox):
    sandbox.script.rate_limit("x", retry_after=900)
    limited = tweet(http, sandbox, "hi")
    assert limited.status_code == 429
    assert 899 <= int(limited.headers["x-rate-limit-reset"]) - time.time() <= 901
    assert limited.headers["x-rate-limit-remaining"] == "0"


# -- LinkedIn and Facebook ---------------------------------------------------------------

LINKEDIN_HEADERS = {"Authorization": "Bearer li-token", "LinkedIn-Version": "202405",
                    "X-Restli-Protocol-Version": "2.0.0"}
LINKEDIN_POST = {"author": "urn:li:organization:5515715", "commentary": "We are back.",
                 "visibility": "PUBLIC", "distribution": {"feedDistribution": "MAIN_FEED"},
                 "lifecycleState": "PUBLISHED"}


@pytest.mark.parametrize(("drop", "status", "code"), [
    pytest.param("LinkedIn-Version", 400, "VERSION_MISSING", id="no-version"),
    pytest.param("X-Restli-Protocol-Version", 400, "ILLEGAL_ARGUMENT", id="no-restli"),
    pytest.param("Authorization", 401, "INVALID_ACCESS_TOKEN", id="no-token"),
])
def test_linkedin_requires_its_headers(http, drop, status, code):
    headers = {k: v for k, v in LINKEDIN_HEADERS.items() if k != drop}
    response = http.post("/linkedin/rest/posts", json=LINKEDIN_POST, headers=headers)
    assert (response.status_code, response.json()["code"]) == (status, code)


def test_linkedin_creates_a_post(http, sandbox):
    response = http.post("/linkedin/rest/posts", json=LINKEDIN_POST, headers=LINKEDIN_HEADERS)
    assert response.status_code == 201 and response.content == b""
    assert response.headers["x-restli-id"].startswith("urn:li:share:")
    assert sandbox.linkedin.posts[0]["commentary"] == "We are back."
    missing = http.post("/linkedin/rest/posts", headers=LINKEDIN_HEADERS,
                        json={k: v for k, v in LINKEDIN_POST.items() if k != "author"})
    assert missing.status_code == 422 and "/author" in missing.json()["message"]


def test_facebook_page_feed(http, sandbox):
    created = http.post("/facebook/v21.0/1234567890/feed",
                        data={"message": "Posting is paused.", "access_token": "page-token"})
    assert created.status_code == 200
    page_id, _, post_id = created.json()["id"].partition("_")
    assert page_id == "1234567890" and post_id.isdigit()
    anonymous = http.post("/facebook/v21.0/1234567890/feed", data={"message": "x"})
    assert anonymous.status_code == 400 and anonymous.json()["error"]["code"] == 2500
    assert http.post("/facebook/latest/1/feed", data={"message": "x"}).status_code == 400
    sandbox.script.rate_limit("facebook", retry_after=300)
    limited = http.post("/facebook/v21.0/1234567890/feed",
                        data={"message": "x"}, headers={"Authorization": "Bearer page-token"})
    assert limited.json()["error"]["code"] == 32
    assert '"estimated_time_to_regain_access": 5' in limited.headers["x-business-use-case-usage"]
    assert len(sandbox.facebook.posts) == 1
