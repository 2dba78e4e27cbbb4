"""Local stand-ins for every provider on one 127.0.0.1 server, a path prefix per provider.

    with Sandbox() as sandbox:
        client = twilio.rest.Client("AC" + "0" * 32, "token")
        client.api.base_url = sandbox.base_url("twilio")
        sendgrid_client = SendGridAPIClient("SG.key", host=sandbox.base_url("sendgrid"))
        sandbox.script.fail("twilio", 429, times=2)
        sandbox.requests("twilio", path_contains="Messages.json")

One server with prefixes works for both SDKs: twilio joins `api.base_url` with its paths
(and with the relative `next_page_uri`s the sandbox returns), and sendgrid appends
`/v3/...` to `host`.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from orchestrator.sandbox.bluesky import BlueskySandbox
from orchestrator.sandbox.chat import DiscordSandbox, SlackSandbox, TeamsSandbox, TelegramSandbox
from orchestrator.sandbox.core import Harness, Outcome, RecordedRequest, Recorder, Script
from orchestrator.sandbox.facebook import FacebookSandbox
from orchestrator.sandbox.linkedin import LinkedInSandbox
from orchestrator.sandbox.mastodon import MastodonSandbox
from orchestrator.sandbox.provider import ProviderApp
from orchestrator.sandbox.sendgrid import SendGridSandbox
from orchestrator.sandbox.server import SandboxServer
from orchestrator.sandbox.statuspage import StatusPage, StatuspageSandbox
from orchestrator.sandbox.twilio import TwilioSandbox
from orchestrator.sandbox.webhook import WebhookSandbox
from orchestrator.sandbox.x import XSandbox

PROVIDERS: dict[str, type[ProviderApp]] = {
    cls.name: cls for cls in (
        TwilioSandbox, SendGridSandbox, MastodonSandbox, BlueskySandbox, XSandbox,
        LinkedInSandbox, FacebookSandbox, SlackSandbox, DiscordSandbox, TeamsSandbox,
        TelegramSandbox, WebhookSandbox, StatuspageSandbox,
    )
}

# How a client uses each base URL, for `orchestrator sandbox` and the index page.
USAGE = {
    "twilio": "twilio: client.api.base_url = URL",
    "sendgrid": "SendGridAPIClient(api_key, host=URL)",
    "mastodon": "instance URL; POST /api/v1/statuses",
    "bluesky": "PDS URL; /xrpc/com.atproto.server.createSession, .repo.createRecord",
    "x": "API base; POST /2/tweets with OAuth 1.0a",
    "linkedin": "API base; POST /rest/posts",
    "facebook": "Graph base; POST /v21.0/{page}/feed and Instagram /v21.0/{user}/media",
    "slack": "webhooks at URL/services/T000/B000/XXXX",
    "discord": "webhooks at URL/api/webhooks/{id}/{token}?wait=true",
    "teams": "webhooks at URL/webhookb2/...",
    "telegram": "Bot API base; POST /bot{token}/sendMessage",
    "webhook": "any URL/...; records body and headers",
    "statuspage": "pages at URL/{page}/api/v2/summary.json",
}


class Sandbox:
    """Every provider sandbox on one server, sharing one recorder and one failure script."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.harness = Harness()
        h = self.harness
        self.twilio = TwilioSandbox(h)
        self.sendgrid = SendGridSandbox(h)
        self.mastodon = MastodonSandbox(h)
        self.bluesky = BlueskySandbox(h)
        self.x = XSandbox(h)
        self.linkedin = LinkedInSandbox(h)
        self.facebook = FacebookSandbox(h)
        self.slack = SlackSandbox(h)
        self.discord = DiscordSandbox(h)
        self.teams = TeamsSandbox(h)
        self.telegram = TelegramSandbox(h)
        self.webhook = WebhookSandbox(h)
        self.statuspage = StatuspageSandbox(h)
        self.providers: dict[str, ProviderApp] = {
            p.name: p for p in vars(self).values() if isinstance(p, ProviderApp)
        }
        routes = [Route("/", self._index)]
        routes += [Mount(f"/{name}", app=provider.app) for name, provider in self.providers.items()]
        self.app = Starlette(routes=routes)
        self.server = SandboxServer(self.app, host=host, port=port,
                                    closing=self.harness.closing)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def script(self) -> Script:
        return self.harness.script

    @property
    def recorder(self) -> Recorder:
        return self.harness.recorder

    def base_url(self, provider: str) -> str:
        """The URL a client uses as the provider's API root (no trailing slash)."""
        if provider not in self.providers:
            raise KeyError(f"unknown provider {provider!r}; known: {', '.join(self.providers)}")
        return f"{self.url}/{provider}"

    def statuspage_url(self, page: str) -> str:
        """A status page's root: monitors fetch {this}/api/v2/summary.json."""
        self.statuspage.page(page)  # fail early on a typo
        return f"{self.base_url('statuspage')}/{page}"

    def requests(self, provider: str | None = None, path_contains: str | None = None,
                 method: str | None = None) -> list[RecordedRequest]:
        return self.recorder.requests(provider, path_contains, method)

    def reset(self) -> None:
        """Forget recorded requests, scripted outcomes and every provider's state."""
        self.recorder.clear()
        self.script.clear()
        for provider in self.providers.values():
            provider.reset()

    async def _index(self, request: Request) -> JSONResponse:
        return JSONResponse({"providers": {n: self.base_url(n) for n in self.providers},
                             "usage": USAGE})

    def start(self) -> Sandbox:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> Sandbox:
        await self.server.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.server.__aexit__(*exc)


__all__ = [
    "PROVIDERS", "Harness", "Outcome", "RecordedRequest", "Recorder", "Sandbox",
    "SandboxServer", "Script", "StatusPage", "ProviderApp",
]
