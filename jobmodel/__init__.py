"""The job model (layer 1, a leaf): what a job is and what can be wrong with it.

    spec      parse_job(data) -> Job (scenes, voice, image, video, subtitles, overlays)
    schema    the job format's one typed schema (pydantic models): fields, names, defaults; JSON Schema
    schema_core  the machinery under it: fields read by readers, every problem with its path
    validate  validate_job / check_job: every problem at once
    catalogue the plug-ins' names and the fields they read, declared by the renderer's registries
    plugin_fields  plug-in names ("did you mean"), params, overlay items
    fields    typed field readers that name the JSON path of a bad value and declare their JSON Schema
    refs      asset references (URL or path inside the job folder / ASSET_ROOT)
    limits    sizes and counts a job may not exceed
    errors    JobInvalid, JobFailed, TransientError, ... and their records
    states    JobState (queued, started, finished, failed, cancelled) and Outcome (metrics)
    backoff   Backoff: the one retry delay rule (doubling, capped, jittered, Retry-After)
    jobfile   reading a job file or raw bytes
    title     job_title(data): the short title lists show
    prepare   the raw JSON before it is read: templates filled, stock defaults given out (parse_job runs it)
    templates {{name}} placeholders filled from `variables`, never evaluated
    stock     a scene's `stock` search and the job's stock defaults (the search itself: generators/stock)
    batch_rows  a batch's rows: CSV with a header, or a JSON list of objects

Everything may import it; it imports nothing of the project.
"""
