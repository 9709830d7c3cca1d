"""Benchmarks: speed, memory and quality measured as ratios in one run (results: RESULTS.md).

`python main_worker.py --benchmark` runs offline.py (with benchmark_support, benchmark_quality,
benchmark_moviepy and benchmark_chart); the other modules here are scripts of their own.
"""
