"""Shared pydantic building blocks for config and playbooks: strict models, secrets, URLs, rates."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, SecretStr

PlatformState = Literal[
    "operational", "degraded", "partial_outage", "major_outage", "maintenance", "unknown"
]
PLATFORM_STATES: tuple[str, ...] = PlatformState.__args__  # type: ignore[attr-defined]


class StrictModel(BaseModel):
    """Every config and playbook model: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True,
                              defer_build=True)


class EnvStr(str):
    """A string that came from `${ENV_VAR}` interpolation (the only legal source of a secret)."""


def _require_env(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value
    if isinstance(value, str) and not isinstance(value, EnvStr):
        raise ValueError("secrets must come from the environment, not the file: "
                         "write it as ${SOME_ENV_VAR}")
    return value


Secret = Annotated[SecretStr, BeforeValidator(_require_env)]
"""A secret field: given only as `${ENV_VAR}`, stored as SecretStr, never printed."""

_METADATA_HOSTS = {"metadata.google.internal", "metadata", "instance-data"}


def check_url(url: str, *, allow_private: bool = False) -> str:
    """Refuse non-http(s) URLs, and link-local/cloud-metadata hosts unless explicitly allowed."""
    match = re.fullmatch(r"(?i)(https?)://(\[[^\]]+\]|[^/:?#\s]+)(:\d+)?([/?#]\S*)?", url)
    if not match:
        scheme = url.split(":", 1)[0] if ":" in url else ""
        if scheme and scheme.lower() not in ("http", "https"):
            raise ValueError(f"URL scheme {scheme!r} is not allowed: use http:// or https://")
        raise ValueError(f"not a valid http(s) URL: {url!r}")
    host = match.group(2).strip("[]").lower()
    if allow_private:
        return url
    if host in _METADATA_HOSTS:
        raise ValueError(f"{host} is a cloud metadata address; set allow_private: true to use it")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return url
    if ip.is_link_local or ip.is_unspecified or ip.is_multicast:
        raise ValueError(f"{host} is a link-local, multicast or unspecified address "
                         "(cloud metadata lives there); set allow_private: true to use it")
    return url


HttpUrl = Annotated[str, AfterValidator(check_url)]
"""An http(s) URL as a plain string (so base URLs keep their exact spelling)."""

_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|sec|second|m|min|minute|h|hour)\s*$")
_PER = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}


def parse_rate(value: Any) -> float:
    """`10/s`, `600/m` or a number (per second) → messages per second."""
    if isinstance(value, bool):
        raise ValueError("expected a rate such as 10/s or 600/m")
    if isinstance(value, int | float):
        if value <= 0:
            raise ValueError("a rate must be positive")
        return float(value)
    match = _RATE.match(str(value))
    if not match:
        raise ValueError(f"invalid rate {value!r}: write it as 10/s, 600/m or 3000/h")
    per_second = float(match.group(1)) / _PER[match.group(2)]
    if per_second <= 0:
        raise ValueError("a rate must be positive")
    return per_second


Rate = Annotated[float, BeforeValidator(parse_rate)]
"""Messages per second, written in YAML as `10/s` or `600/m`."""

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


def check_name(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError(f"invalid name {value!r}: use lower-case letters, digits, '-', '_' or '.' "
                         "(at most 64, starting with a letter or digit)")
    return value


Name = Annotated[str, AfterValidator(check_name)]
"""A platform, channel, audience, monitor or template name."""
