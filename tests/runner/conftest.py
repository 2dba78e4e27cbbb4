"""Runner tests: a config whose channels point at one base URL, shipped playbooks, a clock."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from orchestrator.clock import FakeClock
from orchestrator.loader import load_config_file, load_playbook
from tests.dbfixtures import db_url, engine, postgres_url_factory  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = ROOT / "playbooks"
T0 = datetime(2026, 11, 22, 13, 0, tzinfo=UTC)

ENV = {
    "TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "twilio-token",
    "SENDGRID_API_KEY": "SG.sandbox-key", "FACEBOOK_PAGE_TOKEN": "fb-token",
    "INSTAGRAM_TOKEN": "ig-token", "X_CONSUMER_KEY": "ck", "X_CONSUMER_SECRET": "cs",
    "X_ACCESS_TOKEN": "at", "X_ACCESS_TOKEN_SECRET": "ats", "LINKEDIN_TOKEN": "li-token",
    "MASTODON_TOKEN": "masto-token", "HOOK_SECRET": "hook-secret",
}

# Instagram publishing goes through Facebook's Graph API, so that channel depends on both.
CONFIG = """\
storage: {storage}
timezone: America/New_York
http: {{public_url: https://status.example.com}}
platforms:
  facebook:  {{display_name: Facebook, family: meta}}
  instagram: {{display_name: Instagram, family: meta}}
  x:         {{display_name: X}}
  linkedin:  {{display_name: LinkedIn}}
  mastodon:  {{display_name: Mastodon}}
  twilio:    {{display_name: Twilio}}
  sendgrid:  {{display_name: SendGrid}}
channels:
  sms: {{kind: twilio, account_sid: "${{TWILIO_ACCOUNT_SID}}", auth_token: "${{TWILIO_AUTH_TOKEN}}",
        from: "+15005550006", base_url: "{base}/twilio"}}
  email: {{kind: sendgrid, api_key: "${{SENDGRID_API_KEY}}", from: status@example.com,
          base_url: "{base}/sendgrid"}}
  facebook-page: {{kind: facebook, page_id: "1234567890",
                  page_access_token: "${{FACEBOOK_PAGE_TOKEN}}",
                  base_url: "{base}/facebook"}}
  instagram: {{kind: instagram, ig_user_id: "17841400000000000",
              access_token: "${{INSTAGRAM_TOKEN}}",
              default_image_url: "https://cdn.example.com/card.png",
              base_url: "{base}/facebook", depends_on: [instagram, facebook]}}
  x: {{kind: x, consumer_key: "${{X_CONSUMER_KEY}}", consumer_secret: "${{X_CONSUMER_SECRET}}",
      access_token: "${{X_ACCESS_TOKEN}}", access_token_secret: "${{X_ACCESS_TOKEN_SECRET}}",
      base_url: "{base}/x"}}
  linkedin: {{kind: linkedin, access_token: "${{LINKEDIN_TOKEN}}",
             author: "urn:li:organization:1234567",
             base_url: "{base}/linkedin"}}
  mastodon: {{kind: mastodon, base_url: "{base}/mastodon", token: "${{MASTODON_TOKEN}}",
             depends_on: [mastodon]}}
{extra_channels}
audiences:
  customers: {{source: store}}
  vip: {{source: store}}
"""


def write_config(folder: Path, *, base: str = "http://127.0.0.1:9", storage: str | None = None,
                 extra_channels: str = "") -> Path:
    path = folder / "config.yaml"
    path.write_text(CONFIG.format(base=base, storage=storage or
                                  f"sqlite:///{folder / 'unused.db'}",
                                  extra_channels=extra_channels))
    return path


def make_config(folder: Path, **kwargs):
    return load_config_file(write_config(folder, **kwargs), env=ENV)


def shipped(config, *names: str) -> dict:
    return {name: load_playbook(PLAYBOOKS / f"{name}.yaml", config) for name in names}


def playbook_from_text(folder: Path, config, text: str):
    path = folder / "custom.yaml"
    path.write_text(text)
    return load_playbook(path, config)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)
