"""A generic webhook receiver that records body and headers, so tests can check signatures."""

from __future__ import annotations

from starlette.responses import Response

from orchestrator.sandbox.core import RecordedRequest
from orchestrator.sandbox.provider import ProviderApp, json_response


class WebhookSandbox(ProviderApp):
    """Accepts anything at any path; answers `status` (200 unless a test changes it)."""

    name = "webhook"
    status = 200

    def routes(self):
        return [("/{hook:path}", ["GET", "POST", "PUT", "PATCH", "DELETE"], self.receive)]

    def received(self, path_contains: str | None = None) -> list[RecordedRequest]:
        """The requests that reached this receiver (with raw `body` for HMAC checks)."""
        return self.harness.recorder.requests(self.name, path_contains=path_contains)

    async def receive(self, request: RecordedRequest) -> Response:
        if self.status == 204:
            return Response(status_code=204)
        return json_response({"received": True}, self.status)
