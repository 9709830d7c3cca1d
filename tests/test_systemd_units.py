"""The systemd units in deploy/: hardened, verified, Type=notify with a watchdog the worker feeds."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UNITS = [ROOT / "deploy" / "protovideo-worker.service", ROOT / "deploy" / "protovideo-worker@.service"]


def directives(unit: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in unit.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_unit_is_notify_with_watchdog_and_hardened(unit):
    d = directives(unit)
    assert d["Type"] == ["notify"] and d["NotifyAccess"] == ["main"] and d["WatchdogSec"]
    assert d["ProtectSystem"] == ["strict"] and d["ReadWritePaths"] and d["ProtectHome"] == ["yes"]
    assert d["PrivateDevices"] == ["yes"] and "char-nvidia-frontend rw" in d["DeviceAllow"]
    assert any("/dev/nvidiactl" in v for v in d["BindPaths"])      # the GPU stays reachable
    assert d["CapabilityBoundingSet"] == [""] and d["NoNewPrivileges"] == ["yes"]
    assert "@system-service" in d["SystemCallFilter"] and d["UMask"]
    assert d["RestrictAddressFamilies"]
    # the journal or a file per instance: the template's instances never share one log file
    assert d["Environment"][0].startswith("LOG_FILE=")
    if "@" in unit.name:
        assert "%i" in d["Environment"][0]


def test_api_unit_serves_the_api_hardened_without_devices():
    d = directives(ROOT / "deploy" / "protovideo-api.service")
    assert d["ExecStart"][0].endswith("main_worker.py serve")
    assert d["ProtectSystem"] == ["strict"] and d["PrivateDevices"] == ["yes"] and "DeviceAllow" not in d
    assert d["CapabilityBoundingSet"] == [""] and d["NoNewPrivileges"] == ["yes"]
    assert "@system-service" in d["SystemCallFilter"] and d["Environment"][0].startswith("LOG_FILE=")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed "
                    "(.ci/run installs it and runs scripts/check_systemd_units.sh itself)")
def test_units_verify_and_score_at_most_2_5():
    result = subprocess.run(["bash", str(ROOT / "scripts" / "check_systemd_units.sh")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("ok   security") == 3   # the two worker units and the API unit
