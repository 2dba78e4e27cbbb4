"""The shipped playbooks validate clean against config.example.yaml and tell the stories asked."""

from __future__ import annotations

from pathlib import Path

from orchestrator.loader import validate_all

ROOT = Path(__file__).parent.parent.parent


def _report():
    return validate_all(ROOT / "config.example.yaml", env={})


def test_all_validate_clean() -> None:
    report = _report()
    assert report.errors == []
    assert set(report.playbooks) == {"meta-outage", "x-outage", "salesforce-na14",
                                     "messaging-outage", "security-incident"}


def _actions(steps):
    return [next(k for k in ("pause_posts", "resume_posts", "notify", "post", "status_page",
                             "webhook", "wait", "approval") if getattr(s, k, None) is not None)
            for s in steps]


def test_meta_outage_pauses_meta_and_tells_everyone_elsewhere() -> None:
    pb = _report().playbooks["meta-outage"]
    assert pb.trigger.platforms == ["facebook", "instagram"]
    pause = pb.on_start[0].pause_posts
    assert pause.channels == ["facebook-page", "instagram"]
    notify_channels = {s.notify.channel for s in pb.on_start if hasattr(s, "notify")}
    assert notify_channels == {"sms", "email"}
    assert pb.on_start[3].post.to == ["x", "linkedin", "mastodon"]
    assert pb.every.interval.total_seconds() == 7200
    assert pb.on_resolve[0].resume_posts.missed == "next_slot"


def test_x_outage_never_names_x_as_a_target() -> None:
    pb = _report().playbooks["x-outage"]
    for _, steps in pb.phases():
        for step in steps:
            post = getattr(step, "post", None)
            if post is not None:
                assert post.to == "surviving"


def test_security_incident_is_manual_and_signed() -> None:
    pb = _report().playbooks["security-incident"]
    assert pb.trigger is None
    assert pb.vars["responder"] is None
    assert "{{ vars.responder }}" in pb.templates["first"]
    assert _actions(pb.on_start)[:2] == ["approval", "notify"]
    assert pb.every.interval.total_seconds() == 7200


def test_salesforce_tells_only_na14_customers() -> None:
    pb = _report().playbooks["salesforce-na14"]
    audiences = {s.notify.audience for _, steps in pb.phases() for s in steps
                 if hasattr(s, "notify")}
    assert audiences == {"na14-customers"}
