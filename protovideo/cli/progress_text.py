"""A job's progress in words, for the commands: `render`'s bar and lines, `status`, the MCP server."""
from __future__ import annotations

import math


def duration_text(seconds: float | None) -> str:
    """12 s, 1 min 05 s, 1 h 02 min (rounded up: 0.3 s left is "1 s"); "" when unknown."""
    if seconds is None:
        return ""
    seconds = max(0, math.ceil(seconds - 1e-9))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def progress_text(progress: dict, eta_s: float | None = None) -> str:
    """"scene 2 of 5, 34 %, about 1 min 12 s left" from a progress object (done/total, percent, what)."""
    total = progress.get("total") or 0
    percent = progress.get("percent")
    if percent is None:
        percent = 100.0 * (progress.get("done") or 0) / total if total else 0.0
    parts = [p for p in (progress.get("what") or "", f"{percent:.0f} %") if p]
    if eta_s is not None and eta_s > 0:   # 0: it has ended
        parts.append(f"about {duration_text(eta_s)} left")
    return ", ".join(parts)
