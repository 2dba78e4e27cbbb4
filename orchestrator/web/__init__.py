"""The HTTP surface: webhooks, the public status page, the ops API and dashboard, metrics."""

from orchestrator.web.app import create_app, make_server
from orchestrator.web.state import WebState

__all__ = ["create_app", "make_server", "WebState"]
