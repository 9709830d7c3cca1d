"""The systemd units in deploy/: hardened, verified, Type=notify with a watchdog the worker feeds."""
from __future__ import annotations

import os
import shlex
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


# Folder and file settings a unit's process writes (LOG_FILE: its folder, for the rotated files)
WRITTEN = ("OUTPUT_DIR", "REPORT_DIR", "SPOOL_DIR", "CACHE_DIR", "WORK_DIR", "ASSET_ROOT", "LOG_FILE",
           "PIPER_VOICES_DIR", "WEBHOOK_DIR")
ALL_UNITS = UNITS + [ROOT / "deploy" / "protovideo-api.service"]


def unit_environment(d: dict[str, list[str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in d.get("Environment", []):
        for item in shlex.split(line):
            key, _, value = item.partition("=")
            env[key] = value
    return env


def written_paths(d: dict[str, list[str]]) -> dict[str, str]:
    """Every path the unit's process writes by default: the settings' defaults as the unit's
    Environment= lines change them, resolved against its WorkingDirectory, plus the caches
    the unit points into var/ (HF_HOME, XDG_CACHE_HOME)."""
    from protovideo.runtime.settings import SPECS, load_settings
    cwd = Path(d["WorkingDirectory"][0])
    env = unit_environment(d)
    settings = load_settings({k: v for k, v in env.items() if k in SPECS}, cwd=cwd, read_files=False)
    found = {}
    for name in WRITTEN:
        value = str(getattr(settings, name, "") or "")
        if not value:
            continue   # LOG_FILE= : the journal; WEBHOOK_DIR= : SPOOL_DIR/webhooks
        path = Path(os.path.normpath(cwd / value))
        found[name] = str(path.parent if name == "LOG_FILE" else path)
    # any other setting whose default is a relative path is a folder the worker may write too
    for name, (_, default, _) in SPECS.items():
        if default.startswith("./") and name not in found and getattr(settings, name, ""):
            found[name] = os.path.normpath(cwd / str(getattr(settings, name)))
    for name in ("HF_HOME", "XDG_CACHE_HOME"):
        if name in env:
            found[name] = env[name]
    return found


@pytest.mark.parametrize("unit", ALL_UNITS, ids=lambda p: p.name)
def test_every_folder_the_unit_writes_is_in_read_write_paths(unit):
    d = directives(unit)
    writable = [Path(p.lstrip("-")) for line in d["ReadWritePaths"] for p in line.split()]
    paths = written_paths(d)
    assert {"OUTPUT_DIR", "REPORT_DIR", "SPOOL_DIR", "CACHE_DIR", "WORK_DIR", "ASSET_ROOT",
            "PIPER_VOICES_DIR"} <= set(paths)
    outside = {name: path for name, path in paths.items()
               if not any(Path(path) == w or w in Path(path).parents for w in writable)}
    assert not outside, f"{unit.name}: written outside ReadWritePaths={writable}: {outside}"


def test_the_units_agree_on_the_asset_root():
    """Uploads the API stores are the assets the workers resolve: one folder for all units."""
    roots = {unit.name: written_paths(directives(unit))["ASSET_ROOT"] for unit in ALL_UNITS}
    assert len(set(roots.values())) == 1, roots
    assert next(iter(roots.values())) == "/opt/protovideo/var/assets"
