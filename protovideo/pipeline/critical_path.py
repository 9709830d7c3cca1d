"""The critical path of a render: the chain of steps the job's end waited for.

    path = critical_path(intervals, total)   # intervals: every timed step of one job

Every step the PerformanceOptimizer times is an interval (step, scene, start, end), in seconds
from the job's start. The steps do not say what they waited for, so the chain is read off the
times: it starts at the step that ended last, and each link before it is the step that ended
last at or before that link started (the latest thing it could have been waiting for: the
narration that gave a scene its length, the piece a feeding slot waited for, the pieces and
soundtrack the join waited for). A step still running when the link started (a longer step
around it, or one beside it) is never taken. Time that no link covers, before the first, between
two links (a thread hand-off, a wait for a free encoder slot, work no step times) and after the
last (the report written), is `between_steps`; `in_steps + between_steps == total`, the job's
wall time.

What it is not: a proof of dependency. Two steps that end within `TOLERANCE_S` of each other are
told apart by the later end; a step that started after an unrelated one ended is linked to it.
It shows the serial chain of a render as its times give it, so a 16-core box is not needed to
see that, for example, a scene's pieces waited for its narration.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Iterable

TOLERANCE_S = 0.0005   # clock noise between one step's end and the next one's start


@dataclass(frozen=True)
class Interval:
    step: str
    scene: int | None
    start: float   # seconds from the job's start
    end: float

    def as_dict(self) -> dict:
        return {"step": self.step, "scene": self.scene, "start": round(self.start, 4),
                "end": round(self.end, 4)}


def chain(intervals: Iterable[Interval]) -> list[Interval]:
    """The chain of intervals the last one to end waited for, earliest first."""
    ordered = sorted(intervals, key=lambda i: (i.end, i.end - i.start))
    if not ordered:
        return []
    ends = [i.end for i in ordered]
    position = len(ordered) - 1
    links = [ordered[position]]
    while True:
        current = ordered[position]
        # the latest end at or before this one's start, among intervals sorted before it
        before = min(bisect.bisect_right(ends, current.start + TOLERANCE_S), position)
        if before == 0:
            break
        position = before - 1
        links.append(ordered[position])
    links.reverse()
    return links


def critical_path(intervals: Iterable[Interval], total: float) -> dict:
    """The report's `critical_path`: its steps (earliest first, seconds from the job's start),
    the seconds spent in them and between them, and the job's wall time they add up to."""
    links = chain(intervals)
    in_steps = sum(i.end - i.start for i in links)
    total = max(float(total), links[-1].end if links else 0.0)
    return {"total": round(total, 4), "in_steps": round(in_steps, 4),
            "between_steps": round(max(0.0, total - in_steps), 4),
            "steps": [i.as_dict() for i in links]}
