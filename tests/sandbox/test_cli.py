"""`orchestrator sandbox`: prints every base URL, serves them, stops on --for or Ctrl-C."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time

import httpx
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.sandbox import PROVIDERS


def test_prints_every_base_url_and_stops_by_itself():
    result = CliRunner().invoke(cli, ["sandbox", "--for", "0.2"])
    assert result.exit_code == 0, result.output
    url = re.search(r"Provider sandboxes on (http://127\.0\.0\.1:\d+)", result.output).group(1)
    for name in PROVIDERS:
        assert f"{url}/{name} " in result.output
    assert f"{url}/statuspage/meta" in result.output
    assert "Stopped. Requests received: 0." in result.output


def test_a_taken_port_is_a_clear_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["sandbox", "--port", str(port), "--for", "0"])
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.output


def test_serves_until_ctrl_c():
    process = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "sandbox", "--verbose"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = process.stdout.readline()
        url = re.search(r"(http://127\.0\.0\.1:\d+)", first).group(1)
        deadline = time.monotonic() + 10
        while "/statuspage" not in process.stdout.readline() and time.monotonic() < deadline:
            pass
        status = httpx.get(url + "/statuspage/meta/api/v2/status.json", timeout=5)
        assert status.json()["status"]["indicator"] == "none"
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "GET    /meta/api/v2/status.json" in out
    assert "Stopped. Requests received: 1." in out
