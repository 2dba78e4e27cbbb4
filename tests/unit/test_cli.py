"""The CLI shell: exit codes, version, help for every contracted command, lazy imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator import __version__
from orchestrator.cli import COMMANDS, cli

ROOT = Path(__file__).parent.parent.parent
FIXTURES = ROOT / "tests" / "fixtures"


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_version() -> None:
    result = run("--version")
    assert result.exit_code == 0 and __version__ in result.output


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_help(name: str) -> None:
    result = run(name, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_validate_clean_exits_zero() -> None:
    result = run("validate", "-c", str(ROOT / "config.example.yaml"))
    assert result.exit_code == 0, result.output


def test_validate_problems_exit_one_and_print_locations() -> None:
    broken = FIXTURES / "broken" / "playbooks" / "unknown-channel.yaml"
    result = run("validate", "-c", str(FIXTURES / "valid" / "config.yaml"), str(broken))
    assert result.exit_code == 1
    assert f"{broken}:3:23: on_start[0].notify.channel: unknown channel 'smss'" in result.output


def test_validate_json() -> None:
    broken = FIXTURES / "broken" / "playbooks" / "unknown-audience.yaml"
    result = run("validate", "--json", "-c", str(FIXTURES / "valid" / "config.yaml"), str(broken))
    data = json.loads(result.stdout)
    assert result.exit_code == 1 and data["ok"] is False
    assert data["problems"][0]["path"] == "on_start[0].notify.audience"


def test_validate_usage_errors_exit_two(tmp_path: Path) -> None:
    assert run("validate", "-c", str(tmp_path / "missing.yaml")).exit_code == 2
    assert run("validate", str(tmp_path / "missing-playbook.yaml"),
               "-c", str(ROOT / "config.example.yaml")).exit_code == 2
    assert run("validate", "--no-such-flag").exit_code == 2


def test_help_and_validate_do_not_import_heavy_modules() -> None:
    code = ("import sys; from orchestrator.cli import main; sys.argv=['orchestrator','validate',"
            f"'-c',{str(ROOT / 'config.example.yaml')!r}]\n"
            "try:\n main()\nexcept SystemExit: pass\n"
            "heavy=[m for m in ('twilio','sendgrid','sqlalchemy','httpx','aiohttp','starlette',"
            "'apscheduler') if m in sys.modules\n"
            "       and type(sys.modules[m]).__name__ != '_LazyModule']\nprint('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr
