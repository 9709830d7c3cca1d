"""The machinery under the job schema (jobmodel/schema.py): pydantic models read by our readers.

Each field of a job model is declared once, as pydantic declares fields:

    speed: Annotated[float, Check(number(0.5, 2.0))] = Field(1.0, validation_alias=AliasChoices("speed"),
                                                             description="...")

- the name, its other spellings (`validation_alias`, the first choice is the name), the default
  and the words come from the pydantic field; the JSON Schema and the OpenAPI description are
  pydantic's own output for the models;
- the value is read by a reader of jobmodel.fields (`Check(reader)`): the same function checks
  the value (with our messages) and gives its JSON Schema (`reader.schema`);
- nothing is ever raised through pydantic: a bad value is reported (jobmodel.problems) with its
  JSON path and the field's default stands in, so one pass finds every problem and the checks
  that span fields still run. Unknown fields get "did you mean", a field given under two of its
  names is refused, and a field an unknown key was probably meant to be is remembered
  (`Part.typos`) so that its absence is not reported a second time.
"""
from __future__ import annotations

import functools
import json
import re
from contextvars import ContextVar
from itertools import combinations
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError, model_validator
from pydantic_core import core_schema

from jobmodel.errors import JobInvalid
from jobmodel.fields import did_you_mean, type_name
from jobmodel.problems import problem

Reader = Callable[[Any, str], Any]


class _Bad:
    """What a field holds while its value was refused (replaced by its default after reading)."""

    def __repr__(self) -> str:
        return "BAD"


BAD = _Bad()
_next_path: ContextVar[str] = ContextVar("job_model_path", default="")
_stack: ContextVar[tuple[tuple[str, dict[str, str], type], ...]] = ContextVar("job_model_stack", default=())


def join(path: str, key: str) -> str:
    """`path.key`, or `path["odd key"]` for keys that are not plain names."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", key):   # odd keys: quoted, never empty
        return f"{path}[{json.dumps(key[:60], ensure_ascii=True)}]"
    return f"{path}.{key}" if path else key


def schema_of(reader: Any) -> dict:
    """The JSON Schema a reader declares (`reader.schema`: a dict, or a function giving one)."""
    found = getattr(reader, "schema", None)
    if callable(found):
        found = found()
    return dict(found or {})


class Check:
    """`Annotated[T, Check(reader)]`: the field's value is `reader(value, json_path)`.

    `of`: a type whose JSON Schema the field has (a model, a list of models); else the reader's
    own `schema`, with `schema` added to either."""

    def __init__(self, reader: Reader, of: Any = None, schema: dict | None = None):
        self.reader, self.of, self.schema = reader, of, schema or {}

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> core_schema.CoreSchema:
        def read(value: Any, info: core_schema.ValidationInfo) -> Any:
            path = field_path(info.field_name or "")
            stack = _stack.get()
            if stack and stack[-1][2].unread(info.field_name or "", info.data):
                return value
            try:
                return self.reader(value, path)
            except JobInvalid as exc:
                problem(exc)
                return BAD
        extra = {"json_schema_input_schema": handler.generate_schema(self.of)} if self.of is not None else {}
        return core_schema.with_info_plain_validator_function(read, **extra)

    def __get_pydantic_json_schema__(self, schema: core_schema.CoreSchema, handler: Any) -> dict:
        found = handler(schema) if self.of is not None else schema_of(self.reader)
        return {**found, **self.schema}


def field_path(name: str) -> str:
    """The JSON path of field `name` of the object being read, under the key it was written as."""
    stack = _stack.get()
    path, given, _model = stack[-1] if stack else ("", {}, None)
    return join(path, given.get(name, name))


@functools.lru_cache(maxsize=256)
def spellings(model: type[BaseModel]) -> dict[str, str]:
    """Every key a job may write for the model's fields -> the field's name."""
    found = {}
    for name, info in model.model_fields.items():
        choices = getattr(info.validation_alias, "choices", None) or [name]
        for key in choices:
            found[str(key)] = name
    return found


class Part(BaseModel):
    """A JSON object of a job. Read it with `read_model(Model)(value, path)`."""
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True,
                              json_schema_extra=lambda schema, model: add_spellings(schema, model))
    _path: str = PrivateAttr(default="")
    _given: dict = PrivateAttr(default_factory=dict)    # field name -> the key as written
    _typos: frozenset = PrivateAttr(default=frozenset())
    _refused: frozenset = PrivateAttr(default=frozenset())   # fields given with a value refused

    @model_validator(mode="wrap")
    @classmethod
    def _read(cls, data: Any, handler: Callable[[Any], Any]) -> Any:
        if isinstance(data, cls):
            return data
        path = _next_path.get()
        values, given, typos = _keys(cls, data, path)
        token = _stack.set((*_stack.get(), (path, given, cls)))
        try:
            model = handler(values)
        finally:
            _stack.reset(token)
        refused = set()
        for name, info in cls.model_fields.items():
            if getattr(model, name) is BAD:
                refused.add(name)
                setattr(model, name, info.get_default(call_default_factory=True))
        model._path, model._given, model._typos = path, given, frozenset(typos)
        model._refused = frozenset(refused)
        model.finish()
        return model

    @classmethod
    def unread(cls, name: str, before: dict) -> bool:
        """Leave field `name` as written (another check refuses it); `before`: the fields read so far."""
        return False

    def finish(self) -> None:
        """Checks across this object's fields, reported with problem(); run once it is read."""

    # -- what was written
    @property
    def path(self) -> str:
        return self._path

    def has(self, name: str) -> bool:
        return name in self._given

    def at(self, name: str) -> str:
        """The JSON path of a field, as written (its name when it was not given)."""
        return join(self._path, self._given.get(name, name))

    def refused(self, name: str) -> bool:
        """The field was given and its value refused (reported; its default stands in)."""
        return name in self._refused

    def typo_for(self, name: str) -> bool:
        """An unknown key of this object was probably meant to be `name` (no second problem)."""
        return name in self._typos


def _keys(model: type[Part], data: dict, path: str) -> tuple[dict, dict[str, str], set[str]]:
    """The values by field name (null: not given); unknown keys and names given twice reported."""
    names = spellings(model)   # cached: never changed by the caller
    values: dict[str, Any] = {}
    given: dict[str, str] = {}
    typos: set[str] = set()
    for key, value in data.items():
        if not isinstance(key, str) or key not in names:
            hint = did_you_mean(str(key), list(names))
            if hint:
                typos.add(names[hint.split("'")[1]])
            problem(JobInvalid(join(path, str(key)), f"unknown field{hint}"))
            continue
        name = names[key]
        if name in given:
            problem(JobInvalid(join(path, key), f"given twice (also as '{given[name]}')"))
            continue
        if value is None:
            continue
        given[name] = key
        values[name] = value
    return values, given, typos


def read_model(model: type[Part]) -> Reader:
    """A reader of one JSON object as `model` (every problem inside reported, defaults in place)."""
    def read(value: Any, path: str) -> Part:
        if not isinstance(value, dict):
            raise JobInvalid(path or "$", f"must be an object, got {type_name(value)}")
        token = _next_path.set(path)
        try:
            return model.model_validate(value)
        except ValidationError as exc:   # not expected: every field reads through Check
            err = exc.errors()[0]
            loc = path
            for part in err.get("loc", ()):
                loc = f"{loc}[{part}]" if isinstance(part, int) else join(loc, str(part))
            raise JobInvalid(loc or "$", err.get("msg", "is invalid")) from None
        finally:
            _next_path.reset(token)
    read.schema = lambda: model.model_json_schema()
    return read


def add_spellings(schema: dict, model: type[BaseModel]) -> None:
    """The JSON Schema of a model accepts each field's other names too, never two of them at once."""
    props = schema.get("properties", {})
    exclusive = []
    for name, info in model.model_fields.items():
        choices = [str(c) for c in (getattr(info.validation_alias, "choices", None) or [name])]
        if name in props:
            props[name].pop("title", None)
        for alias in choices[1:]:
            if name in props:
                props[alias] = {**props[name], "description": f"the same as '{name}'"}
        exclusive += [{"required": list(pair)} for pair in combinations(choices, 2)]
    if exclusive:
        schema["not"] = {"anyOf": exclusive}
