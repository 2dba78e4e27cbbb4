"""Fixtures for the sandbox tests: one server per module, reset before every test."""

from __future__ import annotations

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2


