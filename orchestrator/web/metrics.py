"""Prometheus metrics: counters the daemon feeds (polls, sends, webhooks) and store gauges.

Each app has its own CollectorRegistry (no process-global state, so tests and several apps
in one process stay apart). Gauges that describe the store are read at scrape time by a
custom collector, so they are right on every replica without any bookkeeping.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from orchestrator.clock import Clock
from orchestrator.models import PLATFORM_STATES
from orchestrator.web import queries

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SEND_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    """The live counters; the daemon calls `observe_poll` and `observe_send`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.polls = Counter("orchestrator_monitor_polls", "Monitor polls by outcome.",
                             ["monitor", "platform", "outcome"], registry=self.registry)
        self.poll_latency = Histogram("orchestrator_monitor_poll_latency_seconds",
                                      "Monitor poll latency.", ["monitor"],
                                      registry=self.registry)
        self.sends = Counter("orchestrator_sends", "Send attempts by channel and outcome.",
                             ["channel", "outcome"], registry=self.registry)
        self.send_latency = Histogram("orchestrator_send_latency_seconds",
                                      "Time a provider took to accept a send.", ["channel"],
                                      buckets=SEND_BUCKETS, registry=self.registry)
        self.webhooks = Counter("orchestrator_webhooks", "Inbound webhook requests.",
                                ["route", "outcome"], registry=self.registry)

    def observe_poll(self, observation: Any) -> None:
        """Count one Observation (ok or failed) and its latency."""
        outcome = "ok" if observation.ok else "failed"
        self.polls.labels(observation.monitor, observation.platform, outcome).inc()
        if observation.latency_ms is not None:
            self.poll_latency.labels(observation.monitor).observe(observation.latency_ms / 1000)

    def observe_send(self, channel: str, outcome: str, seconds: float | None = None) -> None:
        self.sends.labels(channel, outcome).inc()
        if seconds is not None:
            self.send_latency.labels(channel).observe(seconds)

    def webhook(self, route: str, outcome: str) -> None:
        self.webhooks.labels(route, outcome).inc()

    def attach_store(self, engine: Engine, clock: Clock) -> None:
        """Read the store gauges from `engine` (replacing any store attached before)."""
        previous = getattr(self, "_store", None)
        if previous is not None:
            self.registry.unregister(previous)
        self._store = StoreCollector(engine, clock)
        self.registry.register(self._store)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class StoreCollector(Collector):
    """Platform states, incidents, messages by channel and state, and queue depth."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine, self.clock = engine, clock

    def describe(self) -> list[Any]:
        return []  # no scrape at registration time: the store may not be migrated yet

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self.engine.connect() as conn:
            platforms = queries.platforms(conn)
            incidents = queries.incident_counts(conn)
            messages = queries.outbox_counts(conn)
            depth = queries.queue_depth(conn, self.clock.now())
        state = GaugeMetricFamily("orchestrator_platform_state",
                                  "1 for each platform's current state.",
                                  labels=["platform", "state"])
        for row in platforms:
            for name in PLATFORM_STATES:
                state.add_metric([row["platform"], name], 1.0 if row["state"] == name else 0.0)
        yield state
        open_ = GaugeMetricFamily("orchestrator_incidents", "Incidents by state.",
                                  labels=["state"])
        for name in ("open", "resolved"):
            open_.add_metric([name], incidents.get(name, 0))
        yield open_
        outbox = GaugeMetricFamily("orchestrator_outbox_messages",
                                   "Outbox rows by channel and state.",
                                   labels=["channel", "state"])
        for row in messages:
            outbox.add_metric([row["channel"], row["state"]], row["count"])
        yield outbox
        yield GaugeMetricFamily("orchestrator_outbox_queue_depth",
                                "Outbox rows due now or in flight.", value=depth)
