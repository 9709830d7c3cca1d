"""A batch's rows: a CSV file with a header, or a JSON list of objects, as one dict per row.

    rows = read_rows_file(path)     # ROWS.csv or ROWS.json
    rows = check_rows(value)        # a decoded JSON list (the API's "rows")

Each row's values fill the template's placeholders (jobmodel/templates.py); a row's `id`
names its job. Rows are counted from 1 (after a CSV header). A refusal is a JobInvalid
naming `rows[n]` (or the file's line), never a partial list.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from jobmodel.errors import JobInvalid
from jobmodel.fields import type_name
from jobmodel.limits import LIMITS
from jobmodel.templates import NAME, as_text

MAX_BATCH_ROWS = 500
ROW_ID = "id"


def row_field(n: int) -> str:
    return f"rows[{n}]"


def check_rows(value: Any, field: str = "rows") -> list[dict[str, str]]:
    """A JSON list of row objects, each value text, a number or true/false."""
    if not isinstance(value, list):
        raise JobInvalid(field, f"must be a list of objects (one per job), got {type_name(value)}")
    if not value:
        raise JobInvalid(field, "a batch needs at least one row")
    if len(value) > MAX_BATCH_ROWS:
        raise JobInvalid(field, f"holds {len(value)} rows; the limit is {MAX_BATCH_ROWS}")
    rows = []
    for n, row in enumerate(value, start=1):
        where = row_field(n)
        if not isinstance(row, dict):
            raise JobInvalid(where, f"must be an object of name: value, got {type_name(row)}")
        out = {}
        for name, item in row.items():
            if not NAME.fullmatch(str(name)):
                raise JobInvalid(f"{where}.{name}", "is not a variable name: 1-64 letters, digits, '_', "
                                                    "'-' or '.', starting with a letter or '_'")
            text = as_text(item)
            if text is None:
                raise JobInvalid(f"{where}.{name}", f"must be text, a number or true/false, got {type_name(item)}")
            out[str(name)] = text
        rows.append(out)
    return rows


def rows_from_csv(text: str, field: str = "rows") -> list[dict[str, str]]:
    """CSV with a header line naming the variables; empty lines are skipped."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise JobInvalid(field, "the CSV file is empty; it needs a header line naming the variables") from None
    except csv.Error as exc:
        raise JobInvalid(field, f"line 1 is not CSV: {exc}") from None
    header = [h.strip() for h in header]
    for column, name in enumerate(header, start=1):
        if not NAME.fullmatch(name):
            raise JobInvalid(field, f"header column {column} ({name!r:.40}) is not a variable name")
    if len(set(header)) != len(header):
        raise JobInvalid(field, "the header names a column twice")
    rows: list[dict[str, Any]] = []
    try:
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            n = len(rows) + 1
            if len(cells) != len(header):
                raise JobInvalid(row_field(n), f"has {len(cells)} cells; the header has {len(header)} "
                                               f"(line {reader.line_num})")
            rows.append(dict(zip(header, cells)))
    except csv.Error as exc:
        raise JobInvalid(field, f"line {reader.line_num} is not CSV: {exc}") from None
    return check_rows(rows, field)


def read_rows_file(path: Path | str) -> list[dict[str, str]]:
    """ROWS.csv (a header, then one line per job) or ROWS.json (a list of objects)."""
    file = Path(path)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise JobInvalid("rows", f"cannot read {file}: {exc.strerror or exc}") from None
    if len(data) > LIMITS.max_job_json_bytes:
        raise JobInvalid("rows", f"{file.name} is {len(data)} bytes; the limit is {LIMITS.max_job_json_bytes}")
    if file.suffix.lower() == ".json":
        from jobmodel.jobfile import decode_job_bytes
        try:
            value = decode_job_bytes(data)
        except JobInvalid as exc:
            raise JobInvalid("rows", f"{file.name}: {exc.message}") from None
        return check_rows(value)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise JobInvalid("rows", f"{file.name} is not UTF-8 text (byte {exc.start})") from None
    return rows_from_csv(text)
