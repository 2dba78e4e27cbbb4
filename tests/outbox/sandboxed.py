"""Real Twilio and SendGrid channels pointed at a sandbox, for the outbox tests and benches."""

from __future__ import annotations

from pydantic import SecretStr

from channels.sendgrid_email import SendgridEmailChannel, SendgridEmailConfig
from channels.twilio_sms import TwilioSmsChannel, TwilioSmsConfig

ACCOUNT_SID = "AC" + "0" * 32
SENDER = "+15005550006"


def twilio(base_url: str, name: str = "sms", **overrides) -> TwilioSmsChannel:
    data = {"kind": "twilio", "account_sid": SecretStr(ACCOUNT_SID),
            "auth_token": SecretStr("token"), "from": SENDER, "base_url": base_url}
    data.update(overrides)
    return TwilioSmsChannel(name, TwilioSmsConfig.model_validate(data))


def sendgrid(base_url: str, name: str = "email", **overrides) -> SendgridEmailChannel:
    data = {"kind": "sendgrid", "api_key": SecretStr("SG.test"), "from": "status@example.com",
            "base_url": base_url}
    data.update(overrides)
    return SendgridEmailChannel(name, SendgridEmailConfig.model_validate(data))


def phone(i: int) -> str:
    """A distinct valid-looking E.164 number per index."""
    return f"+1415{5550000 + i:07d}"
