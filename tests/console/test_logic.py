"""The console's page logic (functions/console/static/logic.js), unit-tested with Node's own
test runner: no browser, no dependency."""

from __future__ import annotations

import shutil
import subprocess

from support import ROOT


def test_the_page_logic() -> None:
    node = shutil.which("node")
    assert node is not None, "Node.js runs the console's unit tests"
    done = subprocess.run(
        [node, "--test", str(ROOT / "tests" / "console" / "logic.test.mjs")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "# fail 0" in done.stdout
