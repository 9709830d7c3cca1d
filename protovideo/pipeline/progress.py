"""One job's progress as the user sees it: the step named, percent done and seconds left, from the
work left (protovideo.pipeline.workplan), corrected by the pace seen so far in this job.

    tracker = ProgressTracker(publish)            # publish(done, total, what, percent=, eta_s=, step=)
    tracker.start(WorkPlan(job), Pace.learnt(report_dir))
    with tracker.working("narration:0"): ...       # a unit of work runs
    tracker.frames("body:1")                       # one more frame of a piece went to its encoder
    tracker.settle("body:1")                       # after the cache's get_or_create: a unit that never
                                                   # began came from the cache and costs nothing
    tracker.record()                               # the figures the report keeps (Pace learns from them)
    tracker.finish()                               # 100 %, "done"

The ETA is the work left times the pace: seconds of this machine per reference second of work. The
pace starts at what earlier jobs' reports measured (Pace) and, as the job's own work is done, moves
to the wall seconds this job took for the work it finished (a blend, weighted by the work behind
each: PRIOR_WEIGHT_S of reference work weigh as much as the prior). The steps share the cores
(narration, pictures, the encoders and the soundtrack run side by side), so the work left is summed:
the pace seen says how much of it the machine does at once. But work that ran beside other work
makes that pace quicker than one lane goes by itself (the scene bodies at the end of a job, one
encoder after another; the soundtrack after the narration): so the ETA is at least each lane's work
left at the lane's own rate, plus the join, QC and publishing after it. A lane's own rate: for the
pieces, seconds per reference second while no other lane ran (their frames tell it as they go);
for the others, the seconds the lane was busy per reference second it did. Both are learnt from
earlier reports and from this job, blended alike. Work left: the units not begun, the frames a
piece has not yet had encoded, and for a running unit that tells no frames (a narration, the join,
QC) its expected time less the time it has run: a unit running past that is given a tenth of its
time again, never zero.

Percent is time done over time done plus time left (so the bar and the ETA tell one story); it never
goes back and stays under 100 until the job has finished. `done`/`total` are that percent in
thousandths of the job, so any view that shows done/total, percent or the bar shows the same.
"""
from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterator

from protovideo.pipeline.pace import Pace
from protovideo.pipeline.workplan import LANES, PIECES, WorkPlan

TOTAL = 1000                 # done/total: thousandths of the job
PUBLISH_EVERY_S = 0.5        # at most this often, unless the step changes
TICK_S = 1.0                 # and at least this often while the job runs
LAST_PERCENT = 99.5          # the most before the job has ended
PRIOR_WEIGHT_S = 3.0         # reference seconds of finished work that weigh as much as the learnt pace
STEPS = ("narration", "pictures", "scenes", "transitions", "soundtrack", "join", "qc", "publish", "done")
AFTER = ("join", "qc", "publish")   # the lanes that follow all the others


def _blend(prior: float, seen: float | None, work: float) -> float:
    """`prior` and `seen` weighted by PRIOR_WEIGHT_S and the reference seconds of work behind `seen`."""
    if seen is None or work <= 0:
        return prior
    return (PRIOR_WEIGHT_S * prior + work * seen) / (PRIOR_WEIGHT_S + work)


@dataclass(frozen=True)
class Snapshot:
    done: int
    total: int
    what: str
    percent: float
    eta_s: float | None
    step: str


class _Lane:
    """Busy seconds and finished work of one lane (for the report and for its running units)."""

    def __init__(self) -> None:
        self.running = 0
        self.busy = 0.0                       # seconds with at least one unit running, closed spans
        self.since: float | None = None       # start of the open span
        self.credited = 0.0                   # reference seconds of work done
        self.credited_at = float("-inf")      # when the last came
        self.busy_at_credit = 0.0             # busy seconds then
        self.solo_busy = 0.0                  # seconds it ran with no other lane running
        self.solo_credited = 0.0              # work it did then
        self.solo_busy_at_credit = 0.0

    def own(self, pieces: bool) -> tuple[float, float]:
        """(seconds, reference seconds) of its own rate: alone for pieces, busy for the others."""
        return (self.solo_busy_at_credit, self.solo_credited) if pieces else (self.busy_at_credit, self.credited)

    def busy_now(self, now: float) -> float:
        return self.busy + (now - self.since if self.since is not None else 0.0)


class ProgressTracker:
    def __init__(self, publish: Callable[..., None] | None = None, clock: Callable[[], float] = time.monotonic,
                 tick_s: float | None = TICK_S):
        self.publish = publish
        self.clock = clock
        self.tick_s = tick_s
        self.plan: WorkPlan | None = None
        self.pace = Pace()
        self._lock = threading.Lock()
        self._state: dict[str, str] = {}     # key -> pending | running | done | cached
        self._began: dict[str, float] = {}
        self._fed: dict[str, int] = {}       # frames fed, per piece
        self._lanes = {lane: _Lane() for lane in LANES}
        self._start = 0.0
        self._credited = 0.0                 # reference seconds of work done, all lanes
        self._credited_at = 0.0              # seconds into the job when the last came
        self._marked = 0.0                   # when the lanes running last changed (solo time)
        self._percent = 0.0
        self._step, self._what = "narration", ""
        self._published_at = float("-inf")
        self._last: Snapshot | None = None
        self._seq = self._sent = 0           # snapshots made, and the newest told
        self._send_lock = threading.Lock()
        self._ended = threading.Event()
        self._ticker: threading.Thread | None = None

    # -- the job -------------------------------------------------------------------
    def start(self, plan: WorkPlan, pace: Pace | None = None) -> None:
        with self._lock:
            self.plan, self.pace = plan, pace or Pace()
            self._state = {key: "pending" for key in plan.units}
            self._start = self._marked = self.clock()
            self._what = self._label()[1]
        self._publish(force=True)
        if self.tick_s and self.publish is not None:
            self._ticker = threading.Thread(target=self._tick, name="progress", daemon=True)
            self._ticker.start()

    def _tick(self) -> None:
        while not self._ended.wait(self.tick_s):
            self._publish()

    def stop(self) -> None:
        self._ended.set()
        if self._ticker is not None and self._ticker is not threading.current_thread():
            self._ticker.join(timeout=5)

    def finish(self) -> None:
        """The job has ended: 100 %, "done"."""
        self._ended.set()
        with self._lock:
            self._percent, self._step, self._what = 100.0, "done", "done"
            self._last = Snapshot(TOTAL, TOTAL, "done", 100.0, 0.0, "done")
            self._seq += 1
            seq = self._seq
        self._send(self._last, seq)
        self.stop()

    def record(self) -> dict:
        """What the report keeps: the wall seconds and the reference seconds of the work done (Pace
        learns from them), each lane's busy seconds and work, the units found in the cache."""
        with self._lock:
            now = self.clock()
            lanes = {}
            for name, lane in self._lanes.items():
                if lane.credited > 0:
                    own_s, own_reference = lane.own(name in PIECES)
                    lanes[name] = {"busy_s": round(lane.busy_now(now), 3), "reference_s": round(lane.credited, 3),
                                   "own_s": round(own_s, 3), "own_reference_s": round(own_reference, 3)}
            return {"wall_s": round(now - self._start, 3), "reference_s": round(self._credited, 3),
                    "planned_s": round(self.plan.total(), 3) if self.plan else None,
                    "cached_units": sum(1 for s in self._state.values() if s == "cached"), "lanes": lanes}

    # -- events ---------------------------------------------------------------------
    @contextlib.contextmanager
    def working(self, key: str) -> Iterator[None]:
        self.begin(key)
        try:
            yield
        finally:
            self.end(key)

    def begin(self, key: str) -> None:
        with self._lock:
            unit = self._unit(key)
            if unit is None or self._state.get(key) != "pending":
                return
            now = self.clock()
            self._mark(now)
            self._state[key], self._began[key] = "running", now
            lane = self._lanes[unit.lane]
            if lane.running == 0:
                lane.since = now
            lane.running += 1
        self._publish()

    def frames(self, key: str, count: int = 1) -> None:
        """`count` more frames of piece `key` went to its encoder."""
        with self._lock:
            unit = self._unit(key)
            if unit is None or self._state.get(key) != "running" or not unit.frames:
                return
            before = self._made(key, unit)
            self._fed[key] = self._fed.get(key, 0) + count
            self._credit(unit.lane, unit.cost * (self._made(key, unit) - before))
            due = self.clock() - self._published_at >= PUBLISH_EVERY_S
        if due:
            self._publish()

    def end(self, key: str) -> None:
        with self._lock:
            unit = self._unit(key)
            if unit is None or self._state.get(key) != "running":
                return
            now = self.clock()
            self._credit(unit.lane, unit.cost * (1.0 - self._made(key, unit)))   # while it still runs
            lane = self._lanes[unit.lane]
            lane.running -= 1
            if lane.running == 0 and lane.since is not None:
                lane.busy += now - lane.since
                lane.since = None
            self._state[key] = "done"
        self._publish()

    def settle(self, key: str) -> None:
        """After the cache answered for `key`: a unit that never began was found there (cached)."""
        with self._lock:
            if self._state.get(key) == "pending":
                self._state[key] = "cached"
        self._publish()

    def scene_length(self, index: int, frames: int) -> None:
        """Scene `index` is `frames` long: its pieces are costed again."""
        with self._lock:
            if self.plan is None:
                return
            for key in self.plan.scene_length(index, frames):
                self._state.setdefault(key, "pending")

    # -- reading ----------------------------------------------------------------------
    def _unit(self, key: str):
        return self.plan.units.get(key) if self.plan is not None else None

    def _made(self, key: str, unit) -> float:
        """The share of a running piece made: its frames fed, less those its encoder still holds."""
        if not unit.frames:
            return 0.0
        fed = min(self._fed.get(key, 0), unit.frames)
        return max(0, fed - unit.lag) / unit.frames

    def _mark(self, now: float) -> None:
        """Time since the last change goes to the lane that ran alone through it, if one did."""
        running = [lane for lane in self._lanes.values() if lane.running]
        if len(running) == 1:
            running[0].solo_busy += now - self._marked
        self._marked = now

    def _credit(self, lane_name: str, cost: float) -> None:
        now = self.clock()
        self._mark(now)
        lane = self._lanes[lane_name]
        lane.credited += cost
        lane.credited_at, lane.busy_at_credit = now, lane.busy_now(now)
        self._credited += cost
        self._credited_at = now - self._start
        if lane.running and all(other is lane or not other.running for other in self._lanes.values()):
            lane.solo_credited += cost
            lane.solo_busy_at_credit = lane.solo_busy

    def seconds_per_reference(self) -> float:
        """This job's pace so far, blended with the learnt one by the work behind each."""
        seen = self._credited_at / self._credited if self._credited > 0 else None
        return _blend(self.pace.seconds_per_reference, seen, self._credited)

    def own_rate(self, lane_name: str) -> float | None:
        """The lane's own seconds per reference second (None: neither seen enough nor learnt)."""
        seconds, work = self._lanes[lane_name].own(lane_name in PIECES)
        seen = seconds / work if work > 0 else None
        prior = self.pace.own.get(lane_name)
        if prior is None:
            return seen if work >= PRIOR_WEIGHT_S else None
        return _blend(prior, seen, work)

    def eta(self) -> float:
        """Seconds left: the work left at the pace seen."""
        with self._lock:
            return self._eta(self.clock())

    def _eta(self, now: float) -> float:
        if self.plan is None:
            return 0.0
        pace = self.seconds_per_reference()
        tail = self._left(now, pace, AFTER)
        eta = self._left(now, pace, LANES)
        own = {lane: self.own_rate(lane) for lane in LANES if lane not in AFTER}
        alone = {lane: self._left(now, rate, (lane,)) for lane, rate in own.items() if rate is not None}
        for lane, left in alone.items():
            before = alone.get("narration", 0.0) if lane == "soundtrack" else 0.0   # it follows the narration
            eta = max(eta, before + left + tail)
        return eta

    def _left(self, now: float, rate: float, lanes) -> float:
        """Seconds of the work left in `lanes` at `rate` seconds per reference second."""
        left = 0.0
        running: dict[str, tuple[float, float]] = {}   # lane -> (expected seconds, since)
        for key, unit in self.plan.units.items():
            if unit.lane not in lanes:
                continue
            state = self._state.get(key, "pending")
            if state == "pending":
                left += unit.cost * rate
            elif state == "running" and unit.frames:
                left += unit.cost * rate * (1.0 - self._made(key, unit))
            elif state == "running":   # units of one lane run one after another since its last work
                expected, since = running.get(unit.lane, (0.0, self._began[key]))
                running[unit.lane] = (expected + unit.cost * rate, min(since, self._began[key]))
        for lane, (expected, since) in running.items():
            ran = now - max(since, self._lanes[lane].credited_at)
            left += max(expected - ran, 0.1 * max(expected, ran))   # overdue: never zero
        return left

    def _label(self) -> tuple[str, str]:
        plan, state = self.plan, self._state
        n = plan.scenes
        ended = ("done", "cached")

        def count(prefix: str, *states: str) -> int:
            return sum(1 for k, s in state.items() if k.startswith(prefix) and s in states)

        if state.get("publish") != "pending":
            return "publish", "publish"
        if state.get("qc", "pending") != "pending":
            return "qc", "QC"
        if state.get("join") != "pending":
            return "join", "join"
        pieces = [k for k, u in plan.units.items() if u.lane in PIECES]
        if pieces and all(state.get(k) in ended for k in pieces):
            return "soundtrack", "soundtrack"
        bodies = count("body:", *ended)
        if bodies or count("body:", "running"):
            if bodies >= sum(1 for k in pieces if k.startswith("body:")):
                return "transitions", "transitions"
            return "scenes", f"scene {min(n, bodies + 1)} of {n}"
        narrated = count("narration:", *ended)
        if narrated < n:
            return "narration", f"narration {narrated + 1} of {n}"
        pictures = count("picture:", *ended)
        if pictures < n:
            return "pictures", f"pictures {pictures + 1} of {n}"
        return "scenes", f"scene 1 of {n}"

    def snapshot(self) -> Snapshot:
        with self._lock:
            return self._snapshot()

    def _snapshot(self) -> Snapshot:
        if self._step == "done" or self.plan is None:
            return self._last or Snapshot(0, TOTAL, self._what, 0.0, None, self._step)
        now = self.clock()
        eta = self._eta(now)
        step, what = self._label()
        if STEPS.index(step) >= STEPS.index(self._step):   # steps only go forward
            self._step, self._what = step, what
        elapsed = max(0.0, now - self._start)
        percent = 100.0 * elapsed / (elapsed + eta) if elapsed + eta > 0 else 0.0
        self._percent = min(LAST_PERCENT, max(self._percent, percent))
        done = int(self._percent * TOTAL / 100)
        # while work is left the ETA is never shown as 0 (at least 0.1 s)
        return Snapshot(done, TOTAL, self._what, done * 100.0 / TOTAL, max(0.1, round(eta, 1)), self._step)

    # -- telling ----------------------------------------------------------------------
    def _publish(self, force: bool = False) -> None:
        if self.publish is None or self.plan is None:
            return
        with self._lock:
            if self._step == "done":
                return
            before = self._what
            now = self.clock()
            snap = self._snapshot()
            if not force and snap.what == before and now - self._published_at < PUBLISH_EVERY_S:
                return
            self._published_at, self._last = now, snap
            self._seq += 1
            seq = self._seq
        self._send(snap, seq)

    def _send(self, snap: Snapshot, seq: int) -> None:
        """Tell `publish`, one at a time and never an older snapshot after a newer one (threads race)."""
        with self._send_lock:
            if self.publish is None or seq <= self._sent:
                return
            self._sent = seq
            self.publish(snap.done, snap.total, snap.what, percent=snap.percent, eta_s=snap.eta_s, step=snap.step)


def predicted_seconds(plan: WorkPlan, pace: Pace | None = None) -> float:
    """The job's whole wall time before it starts (a queued job's ETA), at the learnt pace."""
    return plan.total() * (pace or Pace()).seconds_per_reference
