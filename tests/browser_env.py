"""Headless Chromium for the browser tests: Debian's chromium and chromium-driver with selenium.

    from browser_env import CHROMIUM, CHROMEDRIVER, require_browser
    require_browser()      # at module level: skips the module here, fails it in CI (CI=1, .ci/run)

CI installs all three (.ci/run, scripts/test.sh, requirements-dev.txt), so there a missing one is
a failure, never a skip that hides a regression.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")


def require_browser() -> None:
    missing = [what for what, ok in (
        ("chromium and chromium-driver (apt-get install chromium chromium-driver)",
         Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
        ("selenium (requirements-dev.txt)", importlib.util.find_spec("selenium") is not None)) if not ok]
    if not missing:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{'; '.join(missing)} not installed; .ci/run must install it", pytrace=False)
    pytest.skip(f"no {'; '.join(missing)}", allow_module_level=True)
