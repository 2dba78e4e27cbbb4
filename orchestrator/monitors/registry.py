"""Maps each monitor kind (the YAML `kind:`) to its class: one line per kind."""

from __future__ import annotations

import importlib
from functools import cache

from orchestrator.monitors.base import Monitor

BUILTIN: dict[str, str] = {
    "statuspage": "orchestrator.monitors.statuspage:StatuspageMonitor",
    "http": "orchestrator.monitors.http:HttpMonitor",
    "feed": "orchestrator.monitors.feed:FeedMonitor",
    "mentions": "orchestrator.monitors.mentions:MentionsMonitor",
    "push": "orchestrator.monitors.push:PushMonitor",
}


@cache
def monitor_classes() -> dict[str, type[Monitor]]:
    classes = {}
    for kind, target in BUILTIN.items():
        module_name, _, attr = target.partition(":")
        classes[kind] = getattr(importlib.import_module(module_name), attr)
    return classes
