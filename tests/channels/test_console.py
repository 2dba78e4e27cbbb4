"""Console channel: one readable line per message on the configured stream."""

from __future__ import annotations

from channels.base import Message
from channels.console import ConsoleChannel, ConsoleConfig, build_payload, synthetic_id


def channel(stream: str = "stdout") -> ConsoleChannel:
    return ConsoleChannel("dry-run", ConsoleConfig(kind="console", stream=stream))


def test_line_text():
    message = Message(idempotency_key="k", body="Facebook is  down.\nMore soon [x].",
                      recipient="+15551230001", subject="Update")
    assert build_payload("sms", message).plain == (
        "[sms] → +15551230001 · Update: Facebook is down. More soon [x].")
    assert build_payload("x", Message(idempotency_key="k", body="hi")).plain == (
        "[x] → public: hi")


async def test_prints_to_stdout_with_a_stable_id(capsys):
    message = Message(idempotency_key="run:1:console", body="We are back [bold]now[/bold]")
    delivery = await channel().send(message)
    out = capsys.readouterr()
    assert out.out == "[dry-run] → public: We are back [bold]now[/bold]\n"
    assert out.err == ""
    assert delivery.provider_id == synthetic_id(message)
    assert delivery.provider_id == (await channel().send(message)).provider_id


async def test_stderr_and_batch(capsys):
    messages = [Message(idempotency_key=f"k{i}", body=f"m{i}") for i in range(3)]
    deliveries = await channel("stderr").send_batch(messages)
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err.splitlines() == [f"[dry-run] → public: m{i}" for i in range(3)]
    assert len({d.provider_id for d in deliveries}) == 3
