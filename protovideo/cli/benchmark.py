"""`python main_worker.py --benchmark --scenes=N [--json]`: the offline render benchmark.

The benchmark lives in benchmarks/ (benchmarks/offline.py: the runs, the x264 floor, the
quality table, the straightforward moviepy render to compare with); the entry layer only
hands it the command.
"""
from __future__ import annotations


def benchmark_command(args, settings) -> int:
    from benchmarks.offline import benchmark_command as run
    return run(args, settings)
