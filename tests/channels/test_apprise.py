"""Apprise channel: a clear error without the package, and real sends to the local receiver."""

from __future__ import annotations

import sys

import pytest
from pydantic import SecretStr, ValidationError

from channels.apprise import (
    INSTALL_HINT,
    AppriseChannel,
    AppriseConfig,
    build_notification,
    load_apprise,
)
from channels.base import Message
from orchestrator.errors import PermanentDeliveryError, TransientDeliveryError
from orchestrator.sandbox.webhook import WebhookSandbox
from tests.channels.providers import serve

MESSAGE = Message(idempotency_key="k1", body="X is down", subject="Incident")


def config(*urls: str) -> AppriseConfig:
    return AppriseConfig.model_validate({"kind": "apprise", "urls": [SecretStr(u) for u in urls]})


def test_notification():
    assert build_notification(MESSAGE) == {"body": "X is down", "title": "Incident"}
    assert build_notification(Message(idempotency_key="k", body="b")) == {"body": "b",
                                                                          "title": ""}


def test_urls_must_come_from_the_environment():
    with pytest.raises(ValidationError, match="environment"):
        AppriseConfig.model_validate({"kind": "apprise", "urls": ["json://h/"]})


async def test_missing_package_is_a_clear_permanent_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "apprise", None)  # what an absent package looks like
    with pytest.raises(PermanentDeliveryError, match="pip install apprise"):
        load_apprise()
    channel = AppriseChannel("a", config("json://127.0.0.1:9/"))
    with pytest.raises(PermanentDeliveryError) as caught:
        await channel.send(MESSAGE)
    assert str(caught.value) == INSTALL_HINT


@pytest.fixture
def receiver():
    pytest.importorskip("apprise", reason="apprise is optional: pip install apprise")
    with serve(WebhookSandbox) as served:
        yield served


def json_url(receiver, path: str) -> str:
    return receiver.url.replace("http://", "json://") + path


async def test_sends_to_a_local_json_url(receiver):
    channel = AppriseChannel("a", config(json_url(receiver, "/hook")))
    delivery = await channel.send(MESSAGE)
    [recorded] = receiver.requests()
    assert (recorded.method, recorded.path) == ("POST", "/hook")
    assert recorded.json["title"] == "Incident" and recorded.json["message"] == "X is down"
    assert delivery.detail == {"urls": 1}
    await channel.aclose()


async def test_a_retry_skips_the_urls_already_done(receiver):
    receiver.script.fail("webhook", 500, path_contains="/b")
    channel = AppriseChannel("a", config(json_url(receiver, "/a"), json_url(receiver, "/b")))
    with pytest.raises(TransientDeliveryError, match=r"urls\[1\]"):
        await channel.send(MESSAGE)
    await channel.send(MESSAGE)
    assert [r.path for r in receiver.requests()] == ["/a", "/b", "/b"]


async def test_an_unknown_url_is_permanent(receiver):
    channel = AppriseChannel("a", config("nosuchscheme://x"))
    with pytest.raises(PermanentDeliveryError, match=r"urls\[0\]"):
        await channel.send(MESSAGE)
