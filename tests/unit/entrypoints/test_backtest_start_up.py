"""`treasury backtest` prints its report without loading the charting library.

matplotlib (about half a second of start-up) is needed only to draw the charts of `--report`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[3] / "src"


def test_the_backtest_command_loads_matplotlib_only_to_draw() -> None:
    probe = (
        "import json, sys\n"
        "import entrypoints.cli.backtest\n"
        "print(json.dumps('matplotlib' in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env=dict(os.environ, PYTHONPATH=str(SRC)),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(done.stdout) is False
