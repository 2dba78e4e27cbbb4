"""LinkedIn channel: exact Posts body and version headers, little-text escaping, errors."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from channels.base import Message
from channels.linkedin import (
    LinkedinChannel,
    LinkedinConfig,
    build_payload,
    build_request,
    escape_little_text,
)
from orchestrator.errors import PermanentDeliveryError, TransientDeliveryError
from orchestrator.sandbox.linkedin import LinkedInSandbox
from tests.channels.providers import serve


def config(base_url: str | None = None, **overrides) -> LinkedinConfig:
    return LinkedinConfig.model_validate({
        "kind": "linkedin", "access_token": SecretStr("li-token"),
        "author": "urn:li:organization:5515715", "base_url": base_url, **overrides})


MESSAGE = Message(idempotency_key="k", body="Facebook is down (since 14:02) #outage")


def test_payload():
    assert build_payload(config(), MESSAGE) == {
        "author": "urn:li:organization:5515715",
        "commentary": "Facebook is down \\(since 14:02\\) \\#outage",
        "visibility": "PUBLIC",
        "distribution": {"feedDistribution": "MAIN_FEED", "targetEntities": [],
                         "thirdPartyDistributionChannels": []},
        "lifecycleState": "PUBLISHED",
        "isReshareDisabledByAuthor": False,
    }


def test_escape_every_reserved_character():
    assert escape_little_text(r"a|b{c}d@e[f]g(h)i<j>k#l\m*n_o~p") == (
        r"a\|b\{c\}d\@e\[f\]g\(h\)i\<j\>k\#l\\m\*n\_o\~p")


def test_request_headers():
    request = build_request(config(version="202501"), MESSAGE)
    assert str(request.url) == "https://api.linkedin.com/rest/posts"
    assert request.headers["Authorization"] == "Bearer li-token"
    assert request.headers["LinkedIn-Version"] == "202501"
    assert request.headers["X-Restli-Protocol-Version"] == "2.0.0"


def test_config_refuses_a_bad_author():
    with pytest.raises(ValidationError, match="author"):
        config(author="5515715")


def test_length_counts_the_escapes():
    build_payload(config(), Message(idempotency_key="k", body="x" * 2999 + "#"[:0]))
    with pytest.raises(PermanentDeliveryError, match="3001 characters"):
        build_payload(config(), Message(idempotency_key="k", body="x" * 2999 + "#"))


@pytest.fixture
def sandbox():
    with serve(LinkedInSandbox) as served:
        yield served


async def test_post_recorded_and_id_from_header(sandbox):
    async with LinkedinChannel("li", config(sandbox.url)) as channel:
        delivery = await channel.send(MESSAGE)
    [recorded] = sandbox.requests()
    assert (recorded.method, recorded.path) == ("POST", "/rest/posts")
    assert recorded.json == build_payload(config(), MESSAGE)
    assert recorded.headers["linkedin-version"] == "202411"
    assert recorded.headers["x-restli-protocol-version"] == "2.0.0"
    assert delivery.provider_id == sandbox.app.posts[0]["id"]
    assert delivery.provider_id.startswith("urn:li:share:")


@pytest.mark.parametrize("status, error", [
    pytest.param(429, TransientDeliveryError, id="429"),
    pytest.param(500, TransientDeliveryError, id="500"),
    pytest.param(401, PermanentDeliveryError, id="401"),
    pytest.param(403, PermanentDeliveryError, id="403"),
])
async def test_errors(sandbox, status, error):
    sandbox.script.fail("linkedin", status)
    async with LinkedinChannel("li", config(sandbox.url)) as channel:
        with pytest.raises(error):
            await channel.send(MESSAGE)
    assert sandbox.app.posts == []
