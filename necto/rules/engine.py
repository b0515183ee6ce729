"""Compiled rules and the order they apply in.

Enabled rules are sorted by `priority` ascending, ties by creation. For a request, every
matching `modify-request`, `modify-response`, `delay`, `throttle` and `map-remote` rule applies
in that order; the first matching terminal rule (`mock`, `map-local`, `block`, or a
`replay-from` that finds a recorded answer or answers its misses with 404) answers and ends the
evaluation. Rules are indexed by the host they can match, so a request only meets the rules
that could apply to its host (or, for rules without a host, to its first path segment): 100
rules for other hosts or paths cost a few dictionary lookups.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from necto.match import CompiledMatch, MatchIndex, Request, compile_match, host_could_match
from necto.rules.edits import Edits, compile_edits, header_strings
from necto.rules.model import TERMINAL, Rule
from necto.rules.recorded import Recording

BLOCK_STATUS = 403
BLOCK_BODY = "Blocked by Necto"
# Actions that can take a request away from its origin: their hosts must not be dialled early.
REDIRECTING = ("mock", "map-local", "block", "map-remote", "replay-from")


@dataclass(slots=True)
class CompiledRule:
    rule: Rule
    index: int  # position in evaluation order
    match: CompiledMatch
    config: dict[str, Any]  # the stored config with documented defaults filled in
    edits: Edits | None = None  # modify-request / modify-response
    recording: Recording | None = None  # replay-from, attached by the RuleBook

    @property
    def action(self) -> str:
        return self.rule.action

    @property
    def terminal(self) -> bool:
        return self.rule.action in TERMINAL

    def mark(self) -> dict[str, str]:
        """How an entry names the rules that touched it."""
        return {"id": self.rule.id, "name": self.rule.name, "action": self.rule.action}

    def delay_ms(self, rng: random.Random) -> float:
        """A delay rule's wait: delay +/- a uniform share of the variance, never < 0."""
        base = float(self.config["delay"])
        var = float(self.config.get("variance") or 0)
        return max(0.0, base + rng.uniform(-var, var)) if var else base


DEFAULTS: dict[str, dict[str, Any]] = {
    "mock": {"status": 200, "headers": {}, "body": "", "delay": 0, "bodyEncoding": "text"},
    "map-local": {"preserveHost": False},
    "map-remote": {"preservePath": True, "preserveQuery": True},
    "delay": {"variance": 0},
    "throttle": {"latency": 0},
    "block": {"status": BLOCK_STATUS, "body": BLOCK_BODY},
    "replay-from": {"matchBy": "url", "onMiss": "passthrough", "replayTiming": False},
}


def compile_rule(rule: Rule, index: int) -> CompiledRule:
    """A stored (already validated) rule, ready for requests."""
    config = {**DEFAULTS.get(rule.action, {}), **{k: v for k, v in (rule.config or {}).items() if v is not None}}
    cr = CompiledRule(rule, index, compile_match(rule.match), config)
    if rule.action in ("modify-request", "modify-response"):
        cr.edits = compile_edits(config)
    if rule.action == "mock":
        config["headerList"] = [(k, v) for k, val in (config.get("headers") or {}).items() for v in header_strings(val)]
    return cr


class RuleSet:
    """The enabled rules of one moment, indexed by host."""

    def __init__(self, rules: Iterable[CompiledRule] = ()) -> None:
        self.rules = sorted(rules, key=lambda r: r.index)
        self.index = MatchIndex(self.rules)
        self.redirecting = [r for r in self.rules if r.action in REDIRECTING]

    def __bool__(self) -> bool:
        return bool(self.rules)

    def candidates(self, host: str, segment: str | None = None) -> list[CompiledRule]:
        """The rules that could match a request to `host` whose path starts with `segment`
        (None: any path), in evaluation order."""
        return self.index.candidates(host, segment)

    def matching(self, req: Request) -> list[CompiledRule]:
        """Matching rules in order, up to and including the first `mock`/`map-local`/`block`
        (a `replay-from` may still miss, so evaluation can go on past it)."""
        out = []
        for r in self.index.matching(req):
            out.append(r)
            if r.terminal:
                break
        return out

    def may_redirect(self, host: str) -> bool:
        """Could a rule answer or re-route requests to `host`? (Then the proxy must not
        connect to it before seeing the request: it may be down or not exist.)"""
        for r in self.redirecting:
            if not host_could_match(r.match, host):
                continue
            if r.recording is not None and host.lower() not in r.recording.hosts and r.config.get("onMiss") != "404":
                continue
            return True
        return False
