"""What runs on a job's JSON before it is parsed: its template filled in, its stock defaults given out.

    data, problems, go_on = prepare_job(data)        # problems: JobInvalid, each naming its field
    data, problems, go_on = prepare_job(data, row)   # a batch row's values as variables too

Templates (jobmodel/templates.py) come first, so a placeholder may stand in a stock query;
the job's `stock` defaults then go to each stock scene (jobmodel/stock.py). parse_job (and so
validate_job and the job checker) runs it first; the job model is then read from a job with
neither `variables` nor a job-level `stock` (the schema declares both, for the JSON Schema).
"""
from __future__ import annotations

from typing import Any

from jobmodel.errors import JobInvalid
from jobmodel.stock import apply_stock_defaults
from jobmodel.templates import expand_job


def prepare_job(data: Any, row: dict[str, Any] | None = None) -> tuple[Any, list[JobInvalid], bool]:
    """(the job JSON, its problems, whether parsing it is worth it): a template with
    placeholders left unfilled is not (it would only give knock-on errors)."""
    expanded, problems = expand_job(data, row)
    if problems:
        return expanded, problems, False
    out, problems = apply_stock_defaults(expanded)
    return out, problems, True

