"""`orchestrator sandbox`: run every provider sandbox on 127.0.0.1 until Ctrl-C."""

from __future__ import annotations

import signal
import threading

import click

from orchestrator.sandbox import USAGE, RecordedRequest, Sandbox


@click.command("sandbox")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port on 127.0.0.1 (0 picks a free one).")
@click.option("--for", "duration", type=click.FloatRange(min=0), default=None,
              metavar="SECONDS", help="Stop by itself after this many seconds.")
@click.option("-v", "--verbose", is_flag=True, help="Print each request as it arrives.")
def sandbox(port: int, duration: float | None, verbose: bool) -> None:
    """Run the local provider sandboxes on 127.0.0.1 and print each one's base URL.

    Point the real SDKs at them: twilio `client.api.base_url = <twilio URL>`,
    sendgrid `SendGridAPIClient(key, host=<sendgrid URL>)`. Runs until Ctrl-C.
    """
    box = Sandbox(port=port)
    try:
        box.start()
    except OSError as exc:
        raise click.ClickException(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from exc
    if verbose:
        box.recorder.subscribe(_print_request)
    stop = threading.Event()
    # SIGTERM stops as cleanly as Ctrl-C does (the server runs on another thread).
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        click.echo(f"Provider sandboxes on {box.url}")
        width = max(map(len, box.providers))
        for name in box.providers:
            click.echo(f"  {name:<{width}}  {box.base_url(name):<{len(box.url) + 12}}"
                       f"  {USAGE[name]}")
        pages = ", ".join(box.statuspage_url(slug) for slug in box.statuspage.pages)
        click.echo(f"  status pages: {pages}")
        click.echo("Stop with Ctrl-C." if duration is None else f"Stopping in {duration:g} s.")
        stop.wait(duration)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        box.stop()
        click.echo(f"Stopped. Requests received: {len(box.recorder)}.")


def _print_request(request: RecordedRequest) -> None:
    click.echo(f"{request.provider:>10}  {request.method:<6} {request.path}")
