"""Any URL, judged by Gatus-style conditions and an optional map from a JSON value to a state."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, Field

from orchestrator.models import PlatformState, StrictModel
from orchestrator.monitors.base import MonitorConfig, Observation, UrlMonitorConfig
from orchestrator.monitors.conditions import (
    Facts,
    Unreadable,
    check_condition,
    check_path,
    evaluate,
    parse_condition,
)
from orchestrator.monitors.fetch import BadResponse, FetchLimits, FetchResult, decode_json, fetch
from orchestrator.monitors.jsonpath import as_text, lookup, parse_path
from orchestrator.monitors.observe import Clock, failed, observed, seconds, utcnow

log = logging.getLogger(__name__)

ConditionText = Annotated[str, AfterValidator(check_condition)]
JsonPath = Annotated[str, AfterValidator(check_path)]


class StateFrom(StrictModel):
    """Read a state from the JSON body: `path` is dotted, `map` turns its values into states."""

    path: JsonPath = Field(min_length=1)
    map: dict[str, PlatformState] = Field(min_length=1)
    default: PlatformState = "unknown"


class HttpMonitorConfig(UrlMonitorConfig, FetchLimits):
    kind: Literal["http"]
    method: Literal["GET", "HEAD", "POST"] = "GET"
    body: str | None = None
    conditions: list[ConditionText] = ["[STATUS] == 200"]
    state_from: StateFrom | None = None
    failed_state: PlatformState = "major_outage"  # state when a condition fails


def read_state(state_from: StateFrom, document: Any) -> tuple[str, str]:
    """(state, value read) for a JSON document; Unreadable when the path is absent."""
    try:
        value = lookup(document, parse_path(state_from.path))
    except LookupError:
        raise Unreadable(f"{state_from.path} is not in the response") from None
    text = as_text(value)
    if text in state_from.map:
        return state_from.map[text], text
    folded = {k.casefold(): v for k, v in state_from.map.items()}
    return folded.get(text.casefold(), state_from.default), text


def facts_of(result: FetchResult) -> Facts:
    cache: dict[str, Any] = {}

    def parsed() -> Any:
        if "json" not in cache:
            try:
                cache["json"] = decode_json(result)
            except BadResponse as exc:
                raise Unreadable(str(exc)) from None
        return cache["json"]

    return Facts(status=result.status, response_time_ms=result.latency_ms,
                 connected=result.error is None,
                 body_text=result.body.decode("utf-8", "replace"), json=parsed)


class HttpMonitor:
    """Polls one URL; 5xx and unreadable bodies are failed polls, failed conditions a state."""

    kind: ClassVar[str] = "http"
    Config: ClassVar[type[MonitorConfig]] = HttpMonitorConfig

    def __init__(self, config: HttpMonitorConfig, *, clock: Clock = utcnow):
        self.config = config
        self.clock = clock
        self.conditions = [parse_condition(text) for text in config.conditions]

    async def check(self, client: Any) -> Observation:
        at = self.clock()
        c = self.config
        result = await fetch(client, c.url, method=c.method, headers=c.headers, body=c.body,
                             timeout=seconds(c), max_bytes=c.max_bytes,
                             max_redirects=c.max_redirects, allow_private=c.allow_private)
        if result.error:
            return failed(c, at, result.error, latency_ms=result.latency_ms)
        status = result.status or 0
        # A 5xx, or any non-2xx where a state must be read from the body, means the signal
        # failed; otherwise the conditions judge the status like any other fact.
        if status >= 500 or (c.state_from is not None and not 200 <= status < 300):
            return failed(c, at, f"HTTP {status} from {c.url}",
                          latency_ms=result.latency_ms, detail={"status": status})
        try:
            return self.judge(result, at)
        except Unreadable as exc:
            return failed(c, at, str(exc), latency_ms=result.latency_ms,
                          detail={"status": result.status})
        except Exception as exc:  # noqa: BLE001 - an odd body must not stop the scheduler
            log.warning("monitor %s could not read %s", c.name, c.url, exc_info=True)
            return failed(c, at, f"unreadable response: {type(exc).__name__}: {exc}"[:200],
                          latency_ms=result.latency_ms)

    def judge(self, result: FetchResult, at: datetime) -> Observation:
        """Pure verdict on a response: conditions first, then `state_from`."""
        facts = facts_of(result)
        failures = []
        for condition in self.conditions:
            passed, shown = evaluate(condition, facts)
            if not passed:
                failures.append(shown)
        detail: dict[str, Any] = {"status": result.status,
                                  "content_type": _ctype(result.headers)}
        state, reason = "operational", ""
        if self.config.state_from is not None:
            state, value = read_state(self.config.state_from, facts.json())
            detail["value"] = value
            reason = f"{self.config.state_from.path} is {value!r}"
        if failures:
            state = self.config.failed_state
            reason = "failed: " + "; ".join(failures)
            detail["failed_conditions"] = failures
        return observed(self.config, at, state, reason=reason, latency_ms=result.latency_ms,
                        detail=detail)

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Nothing to restore: an http monitor keeps no memory between polls."""


def _ctype(headers: Mapping[str, str]) -> str:
    return headers.get("content-type", "").split(";")[0].strip()
