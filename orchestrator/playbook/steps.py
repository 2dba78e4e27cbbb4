"""One function per step kind: each turns a step and its context into an Effect, touching nothing.

The runner applies effects (outbox rows, calendar calls, timeline entries, HTTP requests,
holds) and records the outcome; `orchestrator plan` only describes them. A step that
cannot run raises StepFailed with a reason meant for the operator.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from jinja2 import TemplateError

from channels.registry import channel_class
from orchestrator.outbox import OutboxRow, idempotency_key
from orchestrator.playbook import context as ctx
from orchestrator.playbook.templates import evaluate, render


class StepFailed(Exception):
    """A step could not run; the message is its recorded reason."""


@dataclass(frozen=True)
class Recipient:
    """One member of an audience as a channel addresses them."""

    address: str
    contact_id: int | None = None
    timezone: str | None = None


class Audiences(Protocol):
    """Who is in an audience, by address kind (phone|email), with suppressions removed."""

    def recipients(self, audience: str, address_kind: str) -> Sequence[Recipient]: ...


@dataclass(frozen=True)
class StepInput:
    """Everything a step function reads."""

    config: Any
    playbook: Any
    context: Mapping[str, Any]
    step_key: str                      # "<phase>/<iteration>/<index>" within the run
    run_id: int | None
    now: datetime
    down: Mapping[str, str]
    audiences: Audiences


# --- Effects: what a step wants done. ---

@dataclass(frozen=True)
class Skipped:
    reason: str


@dataclass(frozen=True)
class Enqueue:
    rows: tuple[OutboxRow, ...]
    channels: tuple[str, ...]                       # where the messages go
    skipped: tuple[tuple[str, str], ...] = ()       # (channel, reason)
    messages: Mapping[str, tuple[str | None, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class PausePosts:
    selector: Mapping[str, Any]
    reason: str


@dataclass(frozen=True)
class ResumePosts:
    selector: Mapping[str, Any] | None
    missed: str


@dataclass(frozen=True)
class TimelineEntry:
    message: str
    status: str


@dataclass(frozen=True)
class HttpCall:
    method: str
    url: str
    headers: Mapping[str, str]
    body: Any


@dataclass(frozen=True)
class Hold:
    kind: str                 # wait | approval
    until: datetime
    message: str = ""
    on_timeout: str = "proceed"


Effect = Skipped | Enqueue | PausePosts | ResumePosts | TimelineEntry | HttpCall | Hold


# --- Rendering helpers. ---

def render_text(inp: StepInput, source: str, what: str, channel: str | None = None) -> str:
    context = ctx.with_channel(inp.context, inp.config, channel) if channel else inp.context
    try:
        return render(source, context, inp.config.timezone)
    except TemplateError as exc:
        where = f" for channel {channel!r}" if channel else ""
        raise StepFailed(f"{what} failed to render{where}: {type(exc).__name__}: {exc}") from None
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise StepFailed(f"{what} failed to render: {type(exc).__name__}: {exc}") from None


def content_source(inp: StepInput, args: Any) -> tuple[str, str]:
    """(template source, how to name it in a failure) for a step's template/text."""
    if args.template is not None:
        return inp.playbook.templates[args.template], f"template {args.template!r}"
    return args.text, "text"


def when_holds(inp: StepInput, expression: str | None) -> bool:
    """Evaluate a step's `when:`; a broken expression is a step failure, not a skip."""
    if expression is None:
        return True
    try:
        return evaluate(expression, inp.context, inp.config.timezone)
    except (TemplateError, TypeError, ValueError, ArithmeticError) as exc:
        raise StepFailed(f"when: {expression!r} failed: {type(exc).__name__}: {exc}") from None


def _too_long(config: Any, channel: str, text: str) -> str | None:
    caps = channel_class(config.channels[channel].kind).capabilities
    if caps.max_length is not None and len(text) > caps.max_length:
        return (f"rendered text is {len(text)} {caps.length_unit}; channel {channel!r} "
                f"allows {caps.max_length}")
    return None


# --- The step kinds. ---

def notify(inp: StepInput, args: Any) -> Effect:
    """The audience's recipients over the first usable of channel + fallbacks."""
    chain = [args.channel, *args.fallback]
    reasons = {name: ctx.unusable_reason(inp.config, name, inp.down) for name in chain}
    usable = [name for name in chain if reasons[name] is None]
    skipped = tuple((n, r) for n, r in reasons.items() if r is not None)
    if not usable:
        return Skipped("; ".join(r for _, r in skipped))
    channel, fallback = usable[0], tuple(usable[1:])
    source, what = content_source(inp, args)
    body = render_text(inp, source, what, channel)
    subject = render_text(inp, args.subject, "subject", channel) if args.subject else None
    if (reason := _too_long(inp.config, channel, body)) is not None:
        raise StepFailed(reason)
    kind = channel_class(inp.config.channels[channel].kind).capabilities.address or "email"
    rows = tuple(OutboxRow(
        idempotency_key=idempotency_key(inp.run_id, inp.step_key, channel, _who(r)),
        channel=channel, body=body,
        run_id=inp.run_id, step_key=inp.step_key, recipient=r.address,
        contact_id=r.contact_id, audience=args.audience, subject=subject, urgent=args.urgent,
        fallback=fallback) for r in inp.audiences.recipients(args.audience, kind))
    return Enqueue(rows, (channel,), skipped, {channel: (subject, body)})


def _who(recipient: Recipient) -> str:
    # The contact id keeps addresses out of keys; an address stands in for CSV audiences.
    return f"c{recipient.contact_id}" if recipient.contact_id is not None else recipient.address


def post_targets(inp: StepInput, to: Any) -> tuple[list[str], list[tuple[str, str]]]:
    """(channels to post on, (channel, reason) skipped) for `surviving`, `all` or a list."""
    # `surviving` and `all` differ only in intent: a channel whose platform is down is never
    # posted to either way, and the skip is recorded so the operator sees why.
    names = list(to) if isinstance(to, list) else ctx.broadcast_channels(inp.config)
    targets, skipped = [], []
    for name in names:
        reason = ctx.unusable_reason(inp.config, name, inp.down)
        if reason is None:
            targets.append(name)
        else:
            skipped.append((name, reason))
    return targets, skipped


def post(inp: StepInput, args: Any) -> Effect:
    """One public post per target channel; never one through a channel whose platform is down."""
    targets, skipped = post_targets(inp, args.to)
    if not targets:
        return Skipped("; ".join(r for _, r in skipped) or "no channel to post on")
    source, what = content_source(inp, args)
    rows, messages, sent_to = [], {}, []
    for channel in targets:
        body = render_text(inp, source, what, channel)
        if (reason := _too_long(inp.config, channel, body)) is not None:
            skipped.append((channel, reason))
            continue
        messages[channel] = (None, body)
        sent_to.append(channel)
        # Threading is the dispatcher's: it replies to this run's earlier post on the channel.
        payload = {"metadata": {"thread": f"run:{inp.run_id}"}} if args.thread else None
        rows.append(OutboxRow(
            idempotency_key=idempotency_key(inp.run_id, inp.step_key, channel, None),
            channel=channel, recipient=None, body=body, run_id=inp.run_id,
            step_key=inp.step_key, payload=payload))
    if not rows:
        raise StepFailed("; ".join(r for _, r in skipped))
    return Enqueue(tuple(rows), tuple(sent_to), tuple(skipped), messages)


def _selector(inp: StepInput, args: Any) -> dict[str, Any]:
    return {"channels": list(args.channels), "platforms": list(args.platforms),
            "campaigns": list(args.campaigns), "tags": list(args.tags),
            "all": bool(getattr(args, "all", False))}


def pause_posts(inp: StepInput, args: Any) -> Effect:
    return PausePosts(_selector(inp, args), render_text(inp, args.reason, "reason"))


def resume_posts(inp: StepInput, args: Any) -> Effect:
    selector = _selector(inp, args)
    has_any = any(selector[k] for k in ("channels", "platforms", "campaigns", "tags"))
    return ResumePosts(selector if has_any else None, args.missed)


def status_page(inp: StepInput, args: Any) -> Effect:
    source, what = content_source(inp, args)
    return TimelineEntry(render_text(inp, source, what), args.status)


def webhook(inp: StepInput, args: Any) -> Effect:
    headers = {k: render_text(inp, v, f"header {k!r}") for k, v in args.headers.items()}
    headers.setdefault("Idempotency-Key", f"run:{inp.run_id}:{inp.step_key}")
    return HttpCall(args.method, args.url, headers, _render_json(inp, args.json_body, "json"))


def _render_json(inp: StepInput, value: Any, path: str) -> Any:
    if isinstance(value, str):
        return render_text(inp, value, path)
    if isinstance(value, Mapping):
        return {k: _render_json(inp, v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_render_json(inp, v, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


def wait(inp: StepInput, args: Any) -> Effect:
    return Hold("wait", inp.now + args.duration)


def approval(inp: StepInput, args: Any) -> Effect:
    message = render_text(inp, args.message, "approval message")
    return Hold("approval", inp.now + args.timeout, message, args.on_timeout)


STEP_FUNCTIONS: dict[str, Callable[[StepInput, Any], Effect]] = {
    "notify": notify, "post": post, "pause_posts": pause_posts, "resume_posts": resume_posts,
    "status_page": status_page, "webhook": webhook, "wait": wait, "approval": approval,
}


def plan_step(inp: StepInput, kind: str, step: Any) -> Effect:
    """The effect of one step, or Skipped when its `when:` is false; raises StepFailed."""
    if not when_holds(inp, step.when):
        return Skipped(f"when: {step.when} is false")
    return STEP_FUNCTIONS[kind](inp, getattr(step, kind))
