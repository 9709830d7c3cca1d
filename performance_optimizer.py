"""PerformanceOptimizer, where SPEC and the original worker put it: a facade.

The implementation is protovideo/pipeline/optimizer.py (layer 3, the pipeline):
step timing, memory per step, scene fan-out and the per-job report.

    opt = PerformanceOptimizer(cache_dir, max_workers, memory_watch=runtime.memory)
    opt.start_performance_monitoring(job.id)
    with opt.monitor_performance("tts", scene=i): ...
    results = opt.parallel_process_scenes(render_scene, scenes)
    opt.optimize_memory()
    report, path = opt.finish_job(report_dir)
"""
from jobmodel.errors import SceneError
from protovideo.pipeline.optimizer import PerformanceOptimizer, normalize_cache_stats

__all__ = ["PerformanceOptimizer", "SceneError", "normalize_cache_stats"]
