"""Fixtures for the daemon tests: one provider sandbox per module, configs in tmp paths."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.sandbox import Sandbox
from tests.service.daemon import Daemon

SECRETS = {"SVC_TWILIO_SID": "AC" + "0" * 32, "SVC_TWILIO_TOKEN": "test-token"}


@pytest.fixture(scope="module")
def running_sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(running_sandbox: Sandbox) -> Iterator[Sandbox]:
    running_sandbox.reset()
    yield running_sandbox
    running_sandbox.reset()


def write_config(folder: Path, sandbox: Sandbox, *, rate: str = "50/s",
                 extra: str = "") -> Path:
    """A config with one SMS channel at the sandbox and a Meta status monitor."""
    (folder / "playbooks").mkdir(exist_ok=True)
    path = folder / "config.yaml"
    path.write_text(f"""\
storage: sqlite:///{folder}/orchestrator.db
http: {{listen: "127.0.0.1:0"}}
platforms:
  facebook: {{display_name: Facebook}}
  twilio: {{display_name: Twilio}}
monitors:
  - {{name: facebook-status, platform: facebook, kind: statuspage, interval: 1s, timeout: 1s,
     url: "{sandbox.statuspage_url('meta')}/api/v2/summary.json", components: [Facebook Pages]}}
channels:
  sms:
    kind: twilio
    account_sid: ${{SVC_TWILIO_SID}}
    auth_token: ${{SVC_TWILIO_TOKEN}}
    from: "+15005550006"
    base_url: "{sandbox.base_url('twilio')}"
    rate: {rate}
{extra}""")
    return path


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    """Daemons started by a test; any still running at the end are killed."""
    started: list[Daemon] = []
    yield started
    for daemon in started:
        daemon.kill()
