"""Slack, Discord, Teams, Telegram and the generic webhook receiver, over plain httpx."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import httpx
import pytest


@pytest.fixture
def http(sandbox):
    with httpx.Client(base_url=sandbox.url, timeout=5) as client:
        yield client


SLACK = "/slack/services/T000/B000/XXXX"
DISCORD = "/discord/api/webhooks/123456/secret-token"
BOT = "/telegram/bot123456:ABCdefGhIJKlmnOPQrstUVwxyz012345678/"


def test_slack_webhook(http, sandbox):
    ok = http.post(SLACK, json={"text": "Facebook is down"})
    assert (ok.status_code, ok.text) == (200, "ok")
    assert sandbox.slack.messages == [{"hook": "T000/B000/XXXX", "text": "Facebook is down"}]
    assert http.post(SLACK, json={"username": "x"}).text == "no_text"
    assert http.post(SLACK, content=b"{not json").text == "invalid_payload"


def test_slack_429_has_retry_after(http, sandbox):
    sandbox.script.rate_limit("slack", retry_after=30)
    limited = http.post(SLACK, json={"text": "hi"})
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "30")
    assert limited.text == "rate_limited"
    assert sandbox.slack.messages == []


def test_discord_wait_returns_the_message(http, sandbox):
    created = http.post(DISCORD, params={"wait": "true"}, json={"content": "We are back"})
    assert created.status_code == 200
    message = created.json()
    assert message["content"] == "We are back" and message["webhook_id"] == "123456"
    assert http.post(DISCORD, json={"content": "no wait"}).status_code == 204
    empty = http.post(DISCORD, json={"content": ""})
    assert (empty.status_code, empty.json()["code"]) == (400, 50006)
    assert http.post(DISCORD, json={"content": "x" * 2001}).json()["code"] == 50035
    assert [m["content"] for m in sandbox.discord.messages] == ["We are back", "no wait"]


def test_discord_429_has_json_retry_after(http, sandbox):
    sandbox.script.rate_limit("discord", retry_after=1.5)
    limited = http.post(DISCORD, json={"content": "hi"})
    assert limited.status_code == 429
    assert limited.json() == {"message": "You are being rate limited.", "retry_after": 1.5,
                              "global": False}
    assert limited.headers["x-ratelimit-reset-after"] == "1.500"
    assert limited.headers["retry-after"] == "2"


def test_teams_webhook(http, sandbox):
    card = {"@type": "MessageCard", "text": "Facebook is down"}
    ok = http.post("/teams/webhookb2/abc@def/IncomingWebhook/123/456", json=card)
    assert (ok.status_code, ok.text) == (200, "1")
    assert http.post("/teams/workflows/789/triggers/manual/paths/invoke",
                     json={"type": "message"}).status_code == 202
    assert http.post("/teams/webhookb2/x", content=b"nope").status_code == 400
    sandbox.script.rate_limit("teams", retry_after=4)
    limited = http.post("/teams/webhookb2/x", json=card)
    assert limited.status_code == 429 and limited.headers["retry-after"] == "4"
    assert len(sandbox.teams.messages) == 2


def test_telegram_send_message(http, sandbox):
    sent = http.post(BOT + "sendMessage", json={"chat_id": "@brandstatus", "text": "Down"})
    assert sent.status_code == 200
    body = sent.json()
    assert body["ok"] is True and body["result"]["text"] == "Down"
    assert body["result"]["chat"]["type"] == "channel"
    form = http.post(BOT + "sendMessage", data={"chat_id": "42", "text": "form"})
    assert form.json()["result"]["chat"] == {"id": 42, "first_name": "Sandbox", "type": "private"}
    assert http.get(BOT + "getMe").json()["result"]["is_bot"] is True
    assert http.post("/telegram/botnope/sendMessage",
                     json={"chat_id": 1, "text": "x"}).status_code == 401
    too_long = http.post(BOT + "sendMessage", json={"chat_id": 1, "text": "x" * 4097})
    assert too_long.json()["description"] == "Bad Request: message is too long"


def test_telegram_429_and_blocked_chat(http, sandbox):
    sandbox.script.rate_limit("telegram", retry_after=7)
    limited = http.post(BOT + "sendMessage", json={"chat_id": 1, "text": "x"})
    assert limited.status_code == 429
    assert limited.json() == {"ok": False, "error_code": 429,
                              "description": "Too Many Requests: retry after 7",
                              "parameters": {"retry_after": 7}}
    sandbox.script.reject("telegram", "99", 403)
    blocked = http.post(BOT + "sendMessage", json={"chat_id": 99, "text": "x"})
    assert blocked.json()["description"] == "Forbidden: bot was blocked by the user"
    assert sandbox.telegram.messages == []


def test_webhook_records_body_and_headers_for_signature_checks(http, sandbox):
    secret = b"shared-secret"
    payload = json.dumps({"event": "incident.opened", "platform": "facebook"}).encode()
    stamp = str(int(time.time()))
    signature = hmac.new(secret, stamp.encode() + b"." + payload, hashlib.sha256).hexdigest()
    response = http.post("/webhook/hooks/ops", content=payload, headers={
        "Content-Type": "application/json", "X-Signature": f"t={stamp},v1={signature}"})
    assert response.status_code == 200
    [received] = sandbox.webhook.received("/hooks/ops")
    assert received.body == payload and received.json["platform"] == "facebook"
    stamp, _, sent = received.headers["x-signature"].partition(",v1=")
    expected = hmac.new(secret, stamp.removeprefix("t=").encode() + b"." + received.body,
                        hashlib.sha256).hexdigest()
    assert hmac.compare_digest(sent, expected)


def test_webhook_failures_are_scripted(http, sandbox):
    sandbox.script.fail("webhook", 503, retry_after=12)
    failed = http.post("/webhook/anything", json={})
    assert (failed.status_code, failed.headers["retry-after"]) == (503, "12")
    assert http.put("/webhook/anything", json={}).status_code == 200
    assert [r.method for r in sandbox.webhook.received()] == ["POST", "PUT"]
