"""Configuration: the example validates, secrets stay secret, interpolation follows its rules."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from orchestrator.config import Config, load_config
from orchestrator.durations import format_duration, parse_duration
from orchestrator.errors import ConfigError
from orchestrator.loader import read_config
from orchestrator.models import check_url, parse_rate
from orchestrator.yamlsource import parse_yaml

ROOT = Path(__file__).parent.parent.parent
SECRET = "s3cr3t-value-that-must-never-print"


def _env() -> dict[str, str]:
    names = ["ORCH_API_TOKEN", "TWILIO_AUTH_TOKEN", "SENDGRID_API_KEY", "FACEBOOK_PAGE_TOKEN",
             "INSTAGRAM_TOKEN", "X_CONSUMER_KEY", "X_CONSUMER_SECRET", "X_ACCESS_TOKEN",
             "X_ACCESS_TOKEN_SECRET", "LINKEDIN_TOKEN", "MASTODON_TOKEN", "SLACK_WEBHOOK_URL"]
    env = {name: SECRET for name in names}
    env["TWILIO_ACCOUNT_SID"] = "AC" + "0" * 32
    return env


def test_example_config_loads_with_its_environment() -> None:
    config = load_config(ROOT / "config.example.yaml", env=_env())
    assert config.channels["sms"].auth_token.get_secret_value() == SECRET
    assert config.platforms["facebook"].family == "meta"
    assert {m.kind for m in config.monitors} == {"statuspage", "http", "mentions"}


def test_secrets_never_print() -> None:
    config = load_config(ROOT / "config.example.yaml", env=_env())
    for text in (str(config), repr(config), config.model_dump_json()):
        assert SECRET not in text


def test_unset_secret_is_an_error_for_commands_that_need_it() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(ROOT / "config.example.yaml", env={})
    assert "environment variable TWILIO_AUTH_TOKEN is not set" in str(caught.value)


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param("x: ${A}", "one", id="plain"),
    pytest.param("x: ${MISSING:-fallback}", "fallback", id="default"),
    pytest.param("x: $${A}", "${A}", id="escaped"),
    pytest.param("x: cost $$5 ${A}", "cost $5 one", id="mixed"),
    pytest.param("x: $A", "$A", id="bare-dollar-untouched"),
])
def test_interpolation(text: str, expected: str) -> None:
    source = parse_yaml(text, "c.yaml", env={"A": "one"})
    assert source.problems == []
    assert source.data["x"] == expected


def test_defaults() -> None:
    config = Config()
    assert config.storage == "sqlite:///./orchestrator.db"
    assert config.http.listen == "127.0.0.1:8080"


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("3m", 180), ("2h", 7200),
                                               ("1h30m", 5400), ("500ms", 0.5), (45, 45)])
def test_durations(text, seconds) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


def test_duration_round_trip() -> None:
    assert format_duration(parse_duration("1h30m")) == "1h30m"
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration("3 minutes")


@pytest.mark.parametrize(("text", "per_second"), [("10/s", 10), ("600/m", 10), ("3600/h", 1)])
def test_rates(text, per_second) -> None:
    assert parse_rate(text) == per_second


@pytest.mark.parametrize("url", ["http://169.254.169.254/", "http://[fe80::1]/x",
                                 "http://metadata.google.internal/", "ftp://example.com/",
                                 "http://0.0.0.0/"])
def test_dangerous_urls_are_refused(url) -> None:
    with pytest.raises(ValueError):
        check_url(url)


def test_private_urls_allowed_when_asked() -> None:
    assert check_url("http://169.254.169.254/", allow_private=True)
    assert check_url("http://127.0.0.1:8080/status.json")  # loopback is how tests reach servers


def test_config_problem_locates_nested_channel_key(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("channels:\n  mastodon:\n    kind: mastodon\n    base_url: https://m.example\n"
                    "    token: ${T:-x}\n    visibilty: public\n")
    config, source = read_config(path, env={})
    assert config is None
    assert [str(p) for p in source.problems] == [
        f"{path}:6:5: channels.mastodon.visibilty: unknown key 'visibilty'. "
        "Did you mean 'visibility'?"]
