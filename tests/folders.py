"""Where a test's worker keeps its state: every configured folder inside tmp_path."""
from __future__ import annotations

from pathlib import Path


def folder_env(tmp_path: Path) -> dict[str, str]:
    """CACHE_DIR, SPOOL_DIR, OUTPUT_DIR, REPORT_DIR, WORK_DIR, LOG_FILE and ASSET_ROOT under tmp_path."""
    var = tmp_path / "var"
    return {
        "CACHE_DIR": str(var / "cache"),
        "SPOOL_DIR": str(var / "spool"),
        "OUTPUT_DIR": str(var / "output"),
        "REPORT_DIR": str(var / "reports"),
        "WORK_DIR": str(var / "work"),
        "LOG_FILE": str(tmp_path / "worker.log"),
        "ASSET_ROOT": str(tmp_path / "assets"),
    }
