"""Templates: `{{name}}` placeholders in a job's strings, filled from its `variables`.

    expanded, problems = expand_job(data)            # the job JSON with every placeholder filled
    expanded, problems = expand_job(data, {"city": "Oslo"})   # extra values (a batch row) win

Placeholders stand in any string value of the job (titles, narration, URLs, paths,
`output_filename`), never in object keys; `{{ name }}` may hold spaces around the name. A
name is 1-64 characters of letters, digits, `_`, `-` and `.`, starting with a letter or `_`.
Values are text: a number or a boolean is written as JSON writes it; there is no
expression language, nothing is evaluated, and a filled-in value is never read again for
placeholders (so a value cannot pull in another variable). A placeholder without a value,
or one that is no name (`{{ 1+1 }}`), is a JobInvalid naming the field it stands in and the
placeholder. `variables` itself leaves the job once expanded (the job format's parser does
not read it).
"""
from __future__ import annotations

import difflib
import json
import re
from typing import Any

from jobmodel.errors import JobInvalid
from jobmodel.fields import type_name

PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.S)
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,63}")
VARIABLE_KEYS = ("variables", "vars")
MAX_VARIABLES = 200
MAX_VALUE_CHARS = 10_000


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def check_variables(value: Any, path: str = "variables") -> tuple[dict[str, str], list[JobInvalid]]:
    """The variables as text, and a problem for each name or value that cannot be one."""
    if value is None:
        return {}, []
    if not isinstance(value, dict):
        return {}, [JobInvalid(path, f"must be an object of name: value, got {type_name(value)}")]
    problems: list[JobInvalid] = []
    if len(value) > MAX_VARIABLES:
        problems.append(JobInvalid(path, f"holds {len(value)} variables; the limit is {MAX_VARIABLES}"))
    out: dict[str, str] = {}
    for name, item in list(value.items())[:MAX_VARIABLES]:
        where = _join(path, str(name))
        if not NAME.fullmatch(str(name)):
            problems.append(JobInvalid(where, "is not a variable name: 1-64 letters, digits, '_', '-' "
                                              "or '.', starting with a letter or '_'"))
            continue
        text = as_text(item)
        if text is None:
            problems.append(JobInvalid(where, f"must be text, a number or true/false, got {type_name(item)}"))
        elif len(text) > MAX_VALUE_CHARS:
            problems.append(JobInvalid(where, f"is {len(text)} characters; the limit is {MAX_VALUE_CHARS}"))
        else:
            out[str(name)] = text
    return out, problems


def read_variables(value: Any, path: str) -> dict[str, str]:
    """The `variables` object as a job model field (its JSON Schema; the values are used before
    the job is read, by expand_job)."""
    values, problems = check_variables(value, path)
    if problems:
        raise problems[0]
    return values


read_variables.schema = {
    "type": "object", "maxProperties": MAX_VARIABLES, "propertyNames": {"pattern": f"^{NAME.pattern}$"},
    "additionalProperties": {"anyOf": [{"type": "string", "maxLength": MAX_VALUE_CHARS},
                                       {"type": "number"}, {"type": "boolean"}]},
    "description": "values of the {{name}} placeholders in the job's strings"}


def as_text(value: Any) -> str | None:
    """A variable's value as the text it stands for; None for what is no value (objects, lists, null)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    return None


def _fill(text: str, path: str, values: dict[str, str], problems: list[JobInvalid]) -> str:
    def one(match: re.Match) -> str:
        name = match.group(1).strip()
        if not NAME.fullmatch(name):
            problems.append(JobInvalid(path, f"{{{{{match.group(1)[:40]}}}}} is not a placeholder: "
                                             "write {{name}} (no expressions)"))
            return match.group(0)
        if name not in values:
            hint = difflib.get_close_matches(name, list(values), n=1)
            known = f"; did you mean '{hint[0]}'?" if hint else (
                f" (variables: {', '.join(sorted(values)[:10])})" if values else " (the job has no variables)")
            problems.append(JobInvalid(path, f"placeholder {{{{{name}}}}} has no value in variables{known}"))
            return match.group(0)
        return values[name]
    return PLACEHOLDER.sub(one, text)


def _walk(value: Any, path: str, values: dict[str, str], problems: list[JobInvalid]) -> Any:
    if isinstance(value, str):
        return _fill(value, path, values, problems) if "{{" in value else value
    if isinstance(value, list):
        return [_walk(v, _join(path, i), values, problems) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: _walk(v, _join(path, str(k)), values, problems) for k, v in value.items()}
    return value


def has_template(data: Any) -> bool:
    """Whether the job has variables or any placeholder (a plain job passes through untouched)."""
    if isinstance(data, dict) and any(k in data for k in VARIABLE_KEYS):
        return True
    return "{{" in json.dumps(data, ensure_ascii=False) if isinstance(data, (dict, list)) else False


def expand_job(data: Any, extra: dict[str, Any] | None = None) -> tuple[Any, list[JobInvalid]]:
    """(the job with every placeholder filled and `variables` removed, its problems). `extra`
    (a batch row's values) adds to and overrides the job's own variables; its problems are
    named `variables.<name>` too. Anything but an object comes back as it is."""
    if not isinstance(data, dict) or (extra is None and not has_template(data)):
        return data, []
    problems: list[JobInvalid] = []
    key = next((k for k in VARIABLE_KEYS if k in data), "variables")
    values, found = check_variables(data.get(key), key)
    problems += found
    if extra:
        more, found = check_variables(extra)
        values.update(more)
        problems += found
    rest = {k: v for k, v in data.items() if k not in VARIABLE_KEYS}
    return _walk(rest, "", values, problems), problems
