"""Times `orchestrator --help` and `orchestrator validate` over 50 playbooks, against baselines.

Targets (issue 2): validate over 50 playbooks < 1 s, --help < 0.3 s, on this machine.
Baselines measured in the same run: a bare interpreter start, and one that imports pydantic.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
ORCH = [PYTHON, "-m", "orchestrator"]
RUNS = 7


def timed(cmd: list[str], cwd: Path) -> float:
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=False, timeout=60)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def make_playbooks(folder: Path, count: int = 50) -> None:
    shipped = sorted((ROOT / "playbooks").glob("*.yaml"))
    for i in range(count):
        source = shipped[i % len(shipped)]
        text = source.read_text()
        name = text.splitlines()[0].split(":", 1)[1].strip()
        (folder / f"{i:02d}-{source.name}").write_text(text.replace(f"name: {name}",
                                                                    f"name: {name}-{i}", 1))


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copy(ROOT / "config.example.yaml", work / "config.yaml")
        (work / "playbooks").mkdir()
        make_playbooks(work / "playbooks")
        check = subprocess.run(ORCH + ["validate"], cwd=work, capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        rows = [
            ("python -c pass (baseline)", timed([PYTHON, "-c", "pass"], work), None),
            ("python -c 'import pydantic' (baseline)", timed([PYTHON, "-c", "import pydantic"],
                                                              work), None),
            ("orchestrator --help", timed(ORCH + ["--help"], work), 0.3),
            ("orchestrator validate (50 playbooks)", timed(ORCH + ["validate"], work), 1.0),
        ]
    print(f"{'command':<44} {'median s':>9} {'target s':>9}  verdict")
    for name, seconds, target in rows:
        verdict = "" if target is None else ("ok" if seconds < target else "OVER TARGET")
        print(f"{name:<44} {seconds:>9.3f} {target if target else '':>9}  {verdict}")


if __name__ == "__main__":
    main()
