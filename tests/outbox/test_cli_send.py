"""`orchestrator outbox send`: pending rows delivered through the configured channels, counted
at the sandbox, with the reusable progress helper driving the dispatcher."""

from __future__ import annotations

from collections import Counter

from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.outbox import Outbox, OutboxRow
from tests.outbox.sandboxed import ACCOUNT_SID, phone

CONFIG = """
storage: sqlite:///unused.db
platforms:
  twilio: {{display_name: Twilio}}
channels:
  sms:
    kind: twilio
    account_sid: ${{TEST_TWILIO_SID}}
    auth_token: ${{TEST_TWILIO_TOKEN}}
    from: "+15005550006"
    base_url: {base}
    rate: 500/s
"""


def test_outbox_send_delivers_pending_rows(tmp_path, monkeypatch, db_url, engine, sandbox):
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(base=sandbox.base_url("twilio")))
    monkeypatch.setenv("TEST_TWILIO_SID", ACCOUNT_SID)
    monkeypatch.setenv("TEST_TWILIO_TOKEN", "token")
    monkeypatch.setenv("ORCHESTRATOR_STORAGE", db_url)
    Outbox(engine).enqueue([OutboxRow("sms", phone(i), "hello", f"k{i}") for i in range(20)])
    result = CliRunner().invoke(cli, ["outbox", "send", "-c", str(config), "--horizon", "1"])
    assert result.exit_code == 0, result.output
    assert "sent: 20" in result.output
    assert Counter(m["to"] for m in sandbox.twilio.messages()) == {phone(i): 1 for i in range(20)}
    assert Outbox(engine).counts() == {"sent": 20}
