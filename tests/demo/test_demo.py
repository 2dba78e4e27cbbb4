"""The demo runs end to end in CI, and what it counts at the sandboxes is asserted exactly."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from orchestrator.demo.story import Demo, StageFailed, run_demo


@pytest.mark.slow
async def test_the_demo_tells_the_whole_story_and_counts_add_up():
    out = io.StringIO()
    result = await run_demo(Console(file=out, width=120, highlight=False))
    text = out.getvalue()

    assert result.audience == {"customers": 25, "vip": 5}
    counts = result.counts
    assert counts["twilio"] == 5                        # the VIPs, once each
    assert counts["sendgrid"] == 50                     # 25 customers told, then told "back"
    assert counts.requests["sendgrid"] == 2             # one API call per 1,000 recipients
    assert counts["linkedin"] == counts["mastodon"] == 3  # started, one update, back
    assert counts["x"] == 4                             # the same three, plus its calendar post
    assert result.facebook_while_down == 0
    assert counts["facebook"] == 3                      # "we're back", then 2 resumed posts
    assert result.updates == 1
    assert (result.paused, result.resumed, result.held, result.published_after) == (4, 3, 1, 2)
    assert result.incidents == {"resolved": 1}
    assert result.seconds < 60
    for stage in ("Outage detected", "Incident opened", "Posts paused", "Customers told",
                  "Update posted", "Recovery detected", "Posts resumed", "We're back",
                  "Resumed posts published"):
        assert f"✔ {stage}" in text
    assert f"Status page:    {result.status_url}" in text
    assert "Counted at the sandboxes" in text


async def test_a_late_stage_fails_the_demo_naming_the_stage(tmp_path):
    demo = Demo(tmp_path, sandbox=_NoSandbox(), narrator=_Quiet())

    async def never():
        return None

    with pytest.raises(StageFailed, match=r"^Posts paused: did not happen within 0.3 s$"):
        await demo.stage("Posts paused", never, deadline=0.3)


class _NoSandbox:
    url = "http://127.0.0.1:9"


class _Quiet:
    def done(self, *args):
        raise AssertionError("a stage that never happened was narrated as done")
