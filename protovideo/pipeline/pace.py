"""How fast this machine works: wall seconds per reference second of planned work, learnt from
earlier jobs' reports.

Every report (REPORT_DIR/<id>.json) keeps, under "progress", the job's wall seconds and the
reference seconds of the work it did (protovideo.pipeline.workplan; work found in the cache counts
for nothing), and each lane's own seconds and work (protovideo.pipeline.progress: the pieces' while
no other lane ran, the other lanes' while busy). The pace is the wall seconds over the reference
seconds, summed over the newest RECENT reports: big jobs weigh most, and re-rendered (cached) jobs
pull it neither to zero nor up. A lane's own rate is summed the same way: how fast it goes by itself
(the scene bodies at the end of a job, one encoder after another). Under MIN_REFERENCE_S of work
behind a figure it is not known; with no reports the pace is 1 (the cost table as it stands). The reports are read again when the folder changes (a report added), or after
REFRESH_S.
"""
from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

RECENT = 20
MIN_REFERENCE_S = 1.0
REFRESH_S = 30.0


@dataclass(frozen=True)
class Pace:
    seconds_per_reference: float = 1.0
    own: Mapping[str, float] = field(default_factory=dict)   # lane -> its own seconds per reference second
    jobs: int = 0          # reports it was learnt from

    @classmethod
    def from_reports(cls, reports: list[dict]) -> "Pace":
        wall = reference = 0.0
        own_figures: dict[str, list[float]] = {}
        jobs = 0
        for report in reports:
            progress = report.get("progress") if isinstance(report, dict) else None
            try:
                w, r = float(progress["wall_s"]), float(progress["reference_s"])
            except (KeyError, TypeError, ValueError):
                continue
            if w < 0 or r <= 0:
                continue
            wall, reference, jobs = wall + w, reference + r, jobs + 1
            for name, lane in (progress.get("lanes") or {}).items():
                try:
                    b, c = float(lane.get("own_s", 0)), float(lane.get("own_reference_s", 0))
                except (AttributeError, TypeError, ValueError):
                    continue
                if b >= 0 and c > 0:
                    figures = own_figures.setdefault(name, [0.0, 0.0])
                    figures[0], figures[1] = figures[0] + b, figures[1] + c
        own = {name: b / c for name, (b, c) in own_figures.items() if c >= MIN_REFERENCE_S}
        if reference < MIN_REFERENCE_S:
            return cls(own=own, jobs=jobs)
        return cls(wall / reference, own, jobs)

    @classmethod
    def learnt(cls, report_dir: Path | str) -> "Pace":
        """The pace of the newest reports in `report_dir` (cached until the folder changes)."""
        return _READER.pace(Path(report_dir))


class _ReportReader:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[Path, tuple[float | None, float, Pace]] = {}

    def pace(self, folder: Path) -> Pace:
        mtime = _mtime(folder)
        with self._lock:
            known = self._seen.get(folder)
            if known is not None and known[0] == mtime and time.monotonic() - known[1] < REFRESH_S:
                return known[2]
        pace = Pace.from_reports(_newest_reports(folder))
        with self._lock:
            self._seen[folder] = (mtime, time.monotonic(), pace)
        return pace


_READER = _ReportReader()


def _mtime(folder: Path) -> float | None:
    try:
        return os.stat(folder).st_mtime
    except OSError:
        return None


def _newest_reports(folder: Path) -> list[dict]:
    try:
        entries = [e for e in os.scandir(folder) if e.name.endswith(".json") and e.is_file()]
    except OSError:
        return []
    entries.sort(key=lambda e: e.stat().st_mtime, reverse=True)
    reports = []
    for entry in entries[:RECENT * 2]:      # some may be no report, or an old one without progress
        try:
            report = json.loads(Path(entry.path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(report, dict) and isinstance(report.get("progress"), dict):
            reports.append(report)
            if len(reports) == RECENT:
                break
    return reports
