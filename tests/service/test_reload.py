"""SIGHUP to `orchestrator run`: a broken config is refused with every problem located and the
running one stays; a good config is applied."""

from __future__ import annotations

import signal

import httpx
import pytest

from tests.service.conftest import SECRETS, write_config
from tests.service.daemon import Daemon

BROKEN = """\
chanels: {}
audiences:
  customers: {source: csv}
"""

INSTAGRAM_MONITOR = """\
  - {name: instagram-status, platform: instagram, kind: statuspage, interval: 1s, timeout: 1s,
     url: "URL", components: [Instagram]}
"""


@pytest.mark.slow
def test_sighup_keeps_running_on_a_broken_config_and_applies_a_good_one(tmp_path, sandbox,
                                                                         daemons):
    config = write_config(tmp_path, sandbox)
    good = config.read_text()
    daemon = Daemon(config, SECRETS)
    daemons.append(daemon)
    started = daemon.event("service.started", timeout=30)
    assert started["monitors"] == 1

    config.write_text(good + BROKEN)
    daemon.signal(signal.SIGHUP)
    rejected = daemon.event("reload.rejected")
    problems = [line["problem"] for line in daemon.events("reload.problem")]
    assert rejected["problems"] == len(problems) == 2
    assert problems[0].startswith(f"{config}:") and "chanels" in problems[0]
    assert "Did you mean 'channels'?" in problems[0]
    assert "customers" in problems[1] and "needs a path" in problems[1]
    assert httpx.get(started["http"] + "/healthz", timeout=5).text == "ok"

    url = sandbox.statuspage_url("meta") + "/api/v2/summary.json"
    with_instagram = good.replace("platforms:\n", "platforms:\n  instagram: {}\n").replace(
        "channels:\n", INSTAGRAM_MONITOR.replace("URL", url) + "channels:\n")
    config.write_text(with_instagram)
    daemon.signal(signal.SIGHUP)
    applied = daemon.event("reload.applied")
    assert applied["monitors"] == 2
    assert httpx.get(started["http"] + "/healthz", timeout=5).text == "ok"
    assert daemon.stop() == 0
    assert daemon.events("service.stopped")
