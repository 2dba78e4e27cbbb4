"""The pure pieces of the daemon: log formats, strict config loading, channel selection."""

from __future__ import annotations

import io
import json
import logging

import pytest

from orchestrator.errors import ConfigError
from orchestrator.logs import ConsoleFormatter, JsonFormatter, configure, event
from orchestrator.wiring import bind, load_setup, restart_only_changes, sending_channels

from .conftest import SECRETS


def _record(**fields) -> logging.LogRecord:
    record = logging.LogRecord("orchestrator.service", logging.INFO, __file__, 1,
                               "service.stopped", (), None)
    record.created = 1_790_000_000.25
    record.fields = fields
    return record


def test_json_lines_carry_the_event_and_its_fields():
    line = JsonFormatter().format(_record(sent=12, left_pending=3, why="a b"))
    assert json.loads(line) == {
        "ts": "2026-09-21T14:13:20.250+00:00", "level": "info",
        "logger": "orchestrator.service", "msg": "service.stopped",
        "sent": 12, "left_pending": 3, "why": "a b"}


def test_console_lines_read_as_key_value_pairs():
    line = ConsoleFormatter().format(_record(sent=12, why="two words", channels=["sms"]))
    assert line == ('14:13:20.250 info    service.stopped  sent=12 why="two words" '
                    'channels=["sms"]')


def test_configure_replaces_its_own_handler_and_event_logs_fields():
    root = logging.getLogger()
    level = root.level
    first, stream = configure("json", stream=io.StringIO()), io.StringIO()
    second = configure("json", stream=stream)
    try:
        assert first not in root.handlers and second in root.handlers
        event(logging.getLogger("t"), "reload.applied", monitors=2)
        assert json.loads(stream.getvalue())["monitors"] == 2
        with pytest.raises(ValueError, match="unknown log format 'xml'"):
            configure("xml")
    finally:
        root.removeHandler(second)
        root.setLevel(level)


CONFIG = """\
storage: sqlite:///{folder}/o.db
channels:
  sms: {{kind: twilio, account_sid: "${{SVC_TWILIO_SID}}", auth_token: "${{SVC_TWILIO_TOKEN}}",
        from: "+15005550006"}}
  card: {{kind: instagram, ig_user_id: "1", access_token: "${{SVC_TWILIO_TOKEN}}",
         default_image_url: "https://example.com/card.png", enabled: false}}
"""


def test_a_daemon_needs_its_secrets_where_validate_only_warns(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG.format(folder=tmp_path))
    with pytest.raises(ConfigError) as info:
        load_setup(path, env={"SVC_TWILIO_TOKEN": "t"})
    assert len(info.value.problems) == 1
    assert "SVC_TWILIO_SID" in str(info.value.problems[0])
    setup = load_setup(path, env=SECRETS)
    assert set(setup.config.channels) == {"sms", "card"}
    assert list(sending_channels(setup.config)) == ["sms"]   # disabled channels never send


def test_storage_and_listen_changes_wait_for_a_restart(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG.format(folder=tmp_path))
    old = load_setup(path, env=SECRETS).config
    new = old.model_copy(update={"storage": "sqlite:///elsewhere.db",
                                 "http": old.http.model_copy(update={"listen": "0.0.0.0:9"})})
    assert restart_only_changes(old, old) == []
    assert restart_only_changes(old, new) == ["storage", "http.listen"]


def test_bind_gives_an_ephemeral_port_on_loopback():
    with bind("127.0.0.1:0") as sock:
        host, port = sock.getsockname()
    assert host == "127.0.0.1" and port > 0
