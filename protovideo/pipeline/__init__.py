"""The pipeline (layer 3): one job -> one MP4 + report.

    render      render_job(job, ctx): the numbered steps
    context     JobContext: settings, cache, optimizer, progress, cancel
    optimizer   PerformanceOptimizer: step timing, memory per step, scene fan-out, report
    memory_watch, metrics   the process-wide memory watch and metric registry it writes to
"""
