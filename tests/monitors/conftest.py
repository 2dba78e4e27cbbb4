"""Monitor tests share real local servers and clients (defined in webfixtures.py)."""

from tests.monitors.webfixtures import any_client, client, serve  # noqa: F401
