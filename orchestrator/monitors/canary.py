"""Canaries: hosts that should always answer; when all fail, the problem is our own network."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, model_validator

from orchestrator.durations import Duration
from orchestrator.models import HttpUrl, StrictModel, check_url


class CanaryConfig(StrictModel):
    url: HttpUrl
    name: str | None = None
    timeout: Duration = timedelta(seconds=5)
    expect_status: list[int] = Field(default=[200, 204, 301, 302])
    allow_private: bool = False

    @model_validator(mode="after")
    def _recheck_private(self):
        check_url(self.url, allow_private=self.allow_private)
        return self
