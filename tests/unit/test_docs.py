"""docs/CONFIG.md is generated from the models; it must not drift from them."""

from __future__ import annotations

from pathlib import Path

from orchestrator.docgen import reference

ROOT = Path(__file__).parent.parent.parent


def test_config_reference_is_current() -> None:
    current = (ROOT / "docs" / "CONFIG.md").read_text()
    assert current == reference(), (
        "docs/CONFIG.md is stale: run `python -m orchestrator.docgen > docs/CONFIG.md`")


def test_every_channel_and_monitor_kind_is_documented() -> None:
    from channels.registry import channel_classes
    from orchestrator.monitors.registry import monitor_classes

    text = reference()
    for kind in [*channel_classes(), *monitor_classes()]:
        assert f"`kind: {kind}`" in text
