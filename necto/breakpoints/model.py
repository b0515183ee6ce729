"""The breakpoint object, its validation and its compiled form.

NectoProxy's fields: `{id, name, enabled, type: request|response|both, match, conditions:
[{field, operator, value, headerName?}], conditionLogic: and|or, createdAt}`. `match` is the
object rules use (`necto.match`, one matcher for both); conditions add tests on what a match
object cannot see (the status, a response header, a body, the duration). Necto adds three
optional fields: `timeout` (ms a hit waits before it goes on by itself; 0 = forever, null = the
global `--breakpoint-timeout`), `timeoutAction` (`continue` or `abort`, null = the global one)
and `abort` (how an abort answers: `499`, NectoProxy's answer, or `reset` to close the
connection).

`validate_breakpoint` checks a create, or an update merged over the stored breakpoint, and
returns the stored form; `BreakpointError` names the field at fault. Everything is compiled
once (`compile_breakpoint`) when the proxy loads breakpoints: a request compiles nothing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from necto.match import MAX_PATTERN, CompiledMatch, MatchError, Request, compile_match, regex_literal
from necto.vocab import is_token

BREAKPOINT_NOT_FOUND = "Breakpoint not found"
PAUSED_NOT_FOUND = "Paused request not found"

TYPES = ("request", "response", "both")
CONDITION_FIELDS = ("status", "url", "method", "header", "requestBody", "responseBody", "duration", "host")
OPERATORS = ("equals", "contains", "startsWith", "endsWith", "matches", "greaterThan", "lessThan")
LOGIC = ("and", "or")
TIMEOUT_ACTIONS = ("continue", "abort")
ABORT_MODES = ("499", "reset")
RESPONSE_ONLY_FIELDS = ("status", "responseBody")  # unknown while a request is held
BREAKPOINT_FIELDS = (
    "name",
    "enabled",
    "type",
    "match",
    "conditions",
    "conditionLogic",
    "timeout",
    "timeoutAction",
    "abort",
)
IGNORED_FIELDS = ("id", "createdAt")
MAX_NAME = 200
MAX_CONDITIONS = 50
MAX_TIMEOUT_MS = 86_400_000  # a day
MAX_CONDITION_BODY = 1 << 20  # conditions read at most the first MiB of a body


class BreakpointError(ValueError):
    """A breakpoint that cannot be saved; the message names the field."""


@dataclass(slots=True)
class Breakpoint:
    id: str
    name: str
    enabled: bool
    type: str
    match: dict[str, Any]
    conditions: list[dict[str, Any]]
    condition_logic: str
    timeout: int | None  # ms; None = the global timeout
    timeout_action: str | None  # None = the global action
    abort: str  # "499" or "reset"
    created_at: int

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, **self.fields(), "createdAt": self.created_at}

    def fields(self) -> dict[str, Any]:
        """The user-editable fields, as the API shows them."""
        return {
            "name": self.name,
            "enabled": self.enabled,
            "type": self.type,
            "match": self.match,
            "conditions": self.conditions,
            "conditionLogic": self.condition_logic,
            "timeout": self.timeout,
            "timeoutAction": self.timeout_action,
            "abort": self.abort,
        }


# ---------------------------------------------------------------------------- what conditions read
class Facts(Protocol):
    """What conditions read about an exchange; response facts are None while a request is held."""

    @property
    def status(self) -> int | None: ...

    def url(self) -> str: ...

    @property
    def method(self) -> str: ...  # upper case

    @property
    def host(self) -> str: ...  # lower case

    def header_values(self, lname: str) -> list[str]: ...  # request headers, then response headers

    def request_body(self) -> bytes | None: ...

    def response_body(self) -> bytes | None: ...

    def duration_ms(self) -> float: ...  # since the request started


def _text(body: bytes | None) -> str:
    return body[:MAX_CONDITION_BODY].decode("utf-8", "replace") if body else ""


def _number(text: str) -> float | None:
    try:
        x = float(text)
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def _operator(op: str, value: str, where: str, fold: Callable[[str], str]) -> Callable[[str], bool]:
    """A test of one string against the condition's value (`fold` normalises case)."""
    if op == "matches":
        lit = regex_literal(value)
        body, flags = lit if lit is not None else (value, "")
        bits = re.IGNORECASE if "i" in flags else 0
        bits |= re.MULTILINE if "m" in flags else 0
        bits |= re.DOTALL if "s" in flags else 0
        try:
            rx = re.compile(body, bits)
        except re.error as e:
            raise BreakpointError(f"{where}.value: invalid regular expression: {e}") from None
        return lambda s: rx.search(s) is not None
    if op in ("greaterThan", "lessThan"):
        limit = _number(value)
        if limit is None:
            raise BreakpointError(f"{where}.value must be a number for {op}")
        if op == "greaterThan":
            return lambda s: (n := _number(s)) is not None and n > limit
        return lambda s: (n := _number(s)) is not None and n < limit
    v = fold(value)
    if op == "equals":
        return lambda s: fold(s) == v
    if op == "contains":
        return lambda s: v in fold(s)
    if op == "startsWith":
        return lambda s: fold(s).startswith(v)
    return lambda s: fold(s).endswith(v)


def _same(s: str) -> str:
    return s


def compile_condition(c: Any, where: str) -> tuple[dict[str, Any], Callable[[Facts], bool]]:
    """(the stored condition, its test). A condition on a fact not known yet is false."""
    if not isinstance(c, dict):
        raise BreakpointError(f"{where} must be an object {{field, operator, value, headerName?}}")
    unknown = [k for k in c if k not in ("field", "operator", "value", "headerName")]
    if unknown:
        raise BreakpointError(f"{where}.{unknown[0]} is not a condition field (use field, operator, value, headerName)")
    fld, op, value = c.get("field"), c.get("operator"), c.get("value")
    if fld not in CONDITION_FIELDS:
        raise BreakpointError(f"{where}.field must be one of {', '.join(CONDITION_FIELDS)}")
    if op not in OPERATORS:
        raise BreakpointError(f"{where}.operator must be one of {', '.join(OPERATORS)}")
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise BreakpointError(f"{where}.value must be a string")
    value = str(value)
    if len(value) > MAX_PATTERN:
        raise BreakpointError(f"{where}.value is longer than {MAX_PATTERN} characters")
    stored: dict[str, Any] = {"field": fld, "operator": op, "value": value}
    header = c.get("headerName")
    if fld == "header":
        if not isinstance(header, str) or not is_token(header):
            raise BreakpointError(f"{where}.headerName must be a header name (it is required for field header)")
        stored["headerName"] = header
    elif header is not None:
        raise BreakpointError(f"{where}.headerName only applies to field header")
    fold = str.upper if fld == "method" else str.lower if fld == "host" else _same
    test = _operator(op, value, where, fold)

    if fld == "status":
        return stored, lambda f: f.status is not None and test(str(f.status))
    if fld == "duration":
        return stored, lambda f: test(f"{f.duration_ms():.3f}".rstrip("0").rstrip("."))
    if fld == "url":
        return stored, lambda f: test(f.url())
    if fld == "method":
        return stored, lambda f: test(f.method)
    if fld == "host":
        return stored, lambda f: test(f.host)
    if fld == "requestBody":
        return stored, lambda f: test(_text(f.request_body()))
    if fld == "responseBody":
        return stored, lambda f: (body := f.response_body()) is not None and test(_text(body))
    lname = header.lower()  # type: ignore[union-attr]
    return stored, lambda f: any(test(v) for v in f.header_values(lname))


# ---------------------------------------------------------------------------- validation
def _timeout(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BreakpointError("timeout must be a number of milliseconds (0 = wait forever) or null")
    if value < 0 or value > MAX_TIMEOUT_MS:
        raise BreakpointError(f"timeout must be between 0 and {MAX_TIMEOUT_MS} ms")
    return int(value)


def validate_breakpoint(body: dict[str, Any], current: dict[str, Any] | None = None) -> dict[str, Any]:
    """The stored fields from a create (`current` None) or a partial update merged over
    `current`. Raises BreakpointError naming the first bad field."""
    unknown = [k for k in body if k not in BREAKPOINT_FIELDS and k not in IGNORED_FIELDS]
    if unknown:
        raise BreakpointError(f"{unknown[0]} is not a breakpoint field (use {', '.join(BREAKPOINT_FIELDS)})")
    merged = {**(current or {}), **{k: v for k, v in body.items() if k in BREAKPOINT_FIELDS}}
    name = merged.get("name")
    if not isinstance(name, str) or not name.strip():
        raise BreakpointError("Breakpoint name is required")
    if len(name) > MAX_NAME:
        raise BreakpointError(f"name is longer than {MAX_NAME} characters")
    enabled = merged.get("enabled", True)
    if not isinstance(enabled, bool):
        raise BreakpointError("enabled must be true or false")
    kind = merged.get("type")
    if kind not in TYPES:
        raise BreakpointError('type must be "request", "response" or "both"')
    if merged.get("match") is None:
        raise BreakpointError("match is required")
    try:
        spec = compile_match(merged["match"]).spec
    except MatchError as e:
        raise BreakpointError(str(e)) from None
    conditions = merged.get("conditions") or []
    if not isinstance(conditions, list):
        raise BreakpointError("conditions must be a list of {field, operator, value, headerName?}")
    if len(conditions) > MAX_CONDITIONS:
        raise BreakpointError(f"conditions: at most {MAX_CONDITIONS}")
    stored_conditions = []
    for i, c in enumerate(conditions):
        stored, _ = compile_condition(c, f"conditions[{i}]")
        if kind == "request" and stored["field"] in RESPONSE_ONLY_FIELDS:
            raise BreakpointError(
                f"conditions[{i}].field: {stored['field']} is only known for response breakpoints "
                '(type "response" or "both")'
            )
        stored_conditions.append(stored)
    logic = merged.get("conditionLogic") or "and"
    if logic not in LOGIC:
        raise BreakpointError('conditionLogic must be "and" or "or"')
    action = merged.get("timeoutAction")
    if action is not None and action not in TIMEOUT_ACTIONS:
        raise BreakpointError('timeoutAction must be "continue", "abort" or null')
    abort = merged.get("abort") or "499"
    if isinstance(abort, int) and not isinstance(abort, bool):
        abort = str(abort)
    if abort not in ABORT_MODES:
        raise BreakpointError('abort must be "499" (answer 499) or "reset" (close the connection)')
    return {
        "name": name.strip(),
        "enabled": enabled,
        "type": kind,
        "match": spec,
        "conditions": stored_conditions,
        "conditionLogic": logic,
        "timeout": _timeout(merged.get("timeout")),
        "timeoutAction": action,
        "abort": abort,
    }


# ---------------------------------------------------------------------------- compiled
@dataclass(slots=True)
class CompiledBreakpoint:
    bp: Breakpoint
    match: CompiledMatch
    phases: frozenset[str]
    conditions: list[Callable[[Facts], bool]] = field(default_factory=list)
    any_of: bool = False

    def conditions_hold(self, facts: Facts) -> bool:
        if not self.conditions:
            return True
        results = (test(facts) for test in self.conditions)
        return any(results) if self.any_of else all(results)

    def applies(self, phase: str, req: Request, facts: Facts) -> bool:
        return phase in self.phases and self.match.matches(req) and self.conditions_hold(facts)


def compile_breakpoint(bp: Breakpoint) -> CompiledBreakpoint:
    phases = frozenset(("request", "response")) if bp.type == "both" else frozenset((bp.type,))
    tests = [compile_condition(c, f"conditions[{i}]")[1] for i, c in enumerate(bp.conditions)]
    return CompiledBreakpoint(bp, compile_match(bp.match), phases, tests, bp.condition_logic == "or")
