"""Every registered monitor kind builds from config and follows the Monitor protocol."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from orchestrator.config import Config
from orchestrator.monitors.base import Monitor
from orchestrator.monitors.registry import monitor_classes

ROOT = Path(__file__).resolve().parents[2]


def test_every_kind_is_a_monitor_with_exportable_state():
    for kind, cls in monitor_classes().items():
        assert cls.kind == kind and cls.Config.model_fields["kind"].annotation.__args__ == (kind,)
        assert callable(cls.check) and callable(cls.state_dict) and callable(cls.load_state)


def test_the_example_config_monitors_build():
    raw = yaml.safe_load((ROOT / "config.example.yaml").read_text())
    config = Config.model_validate({"platforms": raw["platforms"], "monitors": raw["monitors"]})
    assert config.monitors
    for monitor_config in config.monitors:
        monitor = monitor_classes()[monitor_config.kind](monitor_config)
        assert isinstance(monitor, Monitor)
        json.dumps(monitor.state_dict())
