"""validate_job: every problem of a job at once, each naming its JSON path."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from jobmodel.catalogue import CatalogueNotLoaded
from jobmodel.errors import JobInvalid
from jobmodel.problems import collecting, problem, unique
from jobmodel.spec import Job, parse_job


def check_job(data: Any, base_dir: Path | str = ".", asset_root: Path | str | None = None, *,
              default_image_provider: str, default_voice_provider: str) -> tuple[list[dict], Job | None]:
    """(every problem, the job as read with defaults in place of refused values, or None when it
    could not be read at all). The job checker (protovideo.pipeline.jobcheck) checks it further."""
    job = None
    with collecting() as found:
        try:
            job = parse_job(data, base_dir=base_dir, asset_root=asset_root,
                            default_image_provider=default_image_provider,
                            default_voice_provider=default_voice_provider)
        except JobInvalid as exc:   # a check that cannot go on
            found.append(exc)
        except CatalogueNotLoaded:  # the program's mistake, not the job's: never a "problem"
            raise
        except Exception as exc:    # noqa: BLE001 - a reader tripped over a value a problem left
            if not found:
                problem(JobInvalid("$", f"cannot be checked: {type(exc).__name__}: {exc}"))
    return [{"field": exc.field or "$", "message": exc.message} for exc in unique(found)], job


def validate_job(data: Any, base_dir: Path | str = ".", asset_root: Path | str | None = None, *,
                 default_image_provider: str, default_voice_provider: str) -> list[dict]:
    """[] for a valid job, else [{"field": JSON path, "message": ...}, ...] for every problem,
    in the order they appear. Same checks as parse_job (which stops at the first)."""
    return check_job(data, base_dir, asset_root, default_image_provider=default_image_provider,
                     default_voice_provider=default_voice_provider)[0]
