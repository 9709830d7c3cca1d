"""How long a job will take, from the reports of earlier jobs (REPORT_DIR/<id>.json).

Each report gives the wall time of a whole job (`total_time`) and its scene count;
their ratio is the seconds per scene this machine needed. The median over the most
recent reports, times the job's scene count, less the time the job has run, is its
ETA. The reports are read again when a report is added, else at most every REFRESH_S seconds.
"""
from __future__ import annotations

import json
import os
import statistics
import threading
import time
from datetime import datetime
from pathlib import Path

REFRESH_S = 30.0
RECENT = 50


class EtaModel:
    def __init__(self, report_dir: Path):
        self.report_dir = Path(report_dir)
        self._lock = threading.Lock()
        self._read_at = float("-inf")
        self._per_scene: float | None = None
        self._folder_mtime: float | None = None

    def seconds_per_scene(self) -> float | None:
        folder_mtime = _mtime(self.report_dir)   # a new report changes the folder: read again now
        with self._lock:
            if time.monotonic() - self._read_at < REFRESH_S and folder_mtime == self._folder_mtime:
                return self._per_scene
            self._read_at = time.monotonic()
            self._folder_mtime = folder_mtime
        value = _median_per_scene(self.report_dir)
        with self._lock:
            self._per_scene = value
        return value

    def estimate(self, total_scenes: int, started_at: str | None) -> float | None:
        """Seconds left for a job of `total_scenes` that started at `started_at` (ISO), or None."""
        per_scene = self.seconds_per_scene()
        if per_scene is None or not total_scenes:
            return None
        expected = per_scene * total_scenes
        elapsed = _seconds_since(started_at) if started_at else 0.0
        return round(max(0.0, expected - elapsed), 1)

    def expected_total(self, total_scenes: int) -> float | None:
        per_scene = self.seconds_per_scene()
        return None if per_scene is None or not total_scenes else per_scene * total_scenes


def _mtime(folder: Path) -> float | None:
    try:
        return os.stat(folder).st_mtime
    except OSError:
        return None


def _median_per_scene(folder: Path) -> float | None:
    try:
        entries = [e for e in os.scandir(folder) if e.name.endswith(".json") and e.is_file()]
    except FileNotFoundError:
        return None
    entries.sort(key=lambda e: e.stat().st_mtime, reverse=True)
    ratios = []
    for entry in entries[:RECENT]:
        try:
            report = json.loads(Path(entry.path).read_text(encoding="utf-8"))
            total = float(report["total_time"])
            scenes = len(report.get("scenes") or report.get("timeline") or [])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if scenes > 0 and total > 0:
            ratios.append(total / scenes)
    return statistics.median(ratios) if ratios else None


def _seconds_since(iso: str) -> float:
    try:
        then = datetime.fromisoformat(iso)
    except ValueError:
        return 0.0
    return max(0.0, time.time() - then.timestamp())
