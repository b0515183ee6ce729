"""The path tree of one host and the templating decisions over it.

Entries are filed under their literal segments as they arrive (a typed segment, like an integer
or a UUID, goes straight to the node's parameter child). `decide` then settles, position by
position, which literal siblings are values of a parameter. It decides bottom-up: before it
compares siblings it merges them tentatively and decides everything below the merged node
first, so `/repos/torvalds/linux/pulls/1` and `/repos/facebook/react/pulls/7` are compared as
`{}/pulls/{}` under both owners, not as `linux/...` against `react/...`. The siblings then vote
with the shape of their 2xx responses at each (sub-path, method) they share; errors carry no
shape. Every literal and every parameter keeps the rule that settled it and its evidence, for
the inventory's `templating` explanation.

Decisions never copy endpoint statistics: a `Decision` lists the tree nodes it stands for, and
the builder merges their statistics once, for the endpoints that come out.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import unquote

from necto.inventory.templating import KIND_REASONS, VERSION_RE, SiblingRule, never_templated

MAX_EXAMPLES = 3
MAX_VALUES = 16  # distinct values remembered per parameter node (evidence counts stop there)
MAX_VIA = 8  # distinct values of the previous segment remembered per node
MAX_DEPTH = 64  # deeper segments are kept as one literal tail
MAX_SHARED = 3  # shared (method, sub-path) pairs quoted in an explanation
TYPED = "\x00typed"  # the member of a vote that stands for the typed values at a position
WORK_PER_NODE = 6  # tentative merges may visit each tree node this many times on average
WORK_MIN = 100_000  # (or this many visits in all); real traffic needs about 3 per node


# ---------------------------------------------------------------- response shapes
@dataclass(frozen=True, slots=True)
class Shape:
    """What the 2xx responses of one method at one path look like.

    `paths` are JSON field paths (`$.id`, `$[*].login`); `tokens` the kinds of body seen
    (`json:array`, `json:object`, ..., a non-JSON media type, `empty`). A JSON body without
    fields (`[]`, `{}`, a scalar) matches JSON of its type but proves nothing: the shape is not
    `informative`.
    """

    paths: frozenset[str]
    tokens: frozenset[str]

    @property
    def informative(self) -> bool:
        return bool(self.paths) or any(not t.startswith("json:") for t in self.tokens)

    def union(self, other: Shape) -> Shape:
        return Shape(self.paths | other.paths, self.tokens | other.tokens)


def shapes_match(a: Shape, b: Shape) -> bool:
    """Same kind of body and, for JSON objects, at least SHAPE_OVERLAP of the fields in common."""
    if a.paths and b.paths:
        common = len(a.paths & b.paths)
        return common >= SiblingRule.SHAPE_OVERLAP * min(len(a.paths), len(b.paths))
    return bool(a.tokens & b.tokens)


class HasShape(Protocol):
    """What the tree needs of an endpoint's counters (`model.EndpointStats`)."""

    def shape(self) -> Shape | None: ...


# ---------------------------------------------------------------- the tree
class Node:
    """One path position: literal children by raw segment, at most one typed parameter child."""

    __slots__ = ("literal", "param", "kinds", "examples", "values", "via", "endpoints")

    def __init__(self, value: str | None = None) -> None:
        self.literal: dict[str, Node] = {}
        self.param: Node | None = None
        self.kinds: dict[str, int] = {}  # parameter node: value types seen
        self.examples: list[str] = []
        self.values: set[str] = {value} if value is not None else set()
        self.via: set[str] = set()  # distinct values of the segment before this one
        self.endpoints: dict[str, Any] = {}  # method -> counters with a shape() (HasShape)

    def file(self, segments: list[str], kind_of: Any) -> Node:
        """The node for a path, created on the way; typed segments go to the parameter child."""
        if len(segments) > MAX_DEPTH:
            segments = [*segments[: MAX_DEPTH - 1], "/".join(segments[MAX_DEPTH - 1 :])]
        node, prev = self, ""
        for i, seg in enumerate(segments):
            kind = kind_of(seg) if i > 0 else None
            if kind is None:
                child = node.literal.get(seg)
                if child is None:
                    child = node.literal[seg] = Node(seg)
            else:
                if node.param is None:
                    node.param = Node()
                child = node.param
                value = unquote(seg)
                child.kinds[kind] = child.kinds.get(kind, 0) + 1
                if len(child.examples) < MAX_EXAMPLES and value not in child.examples:
                    child.examples.append(value)
                if len(child.values) < MAX_VALUES:
                    child.values.add(value)
            if len(child.via) < MAX_VIA:
                child.via.add(prev)
            node, prev = child, seg
        return node


def tree_size(root: Node) -> int:
    size, stack = 0, [root]
    while stack:
        node = stack.pop()
        size += 1
        stack.extend(node.literal.values())
        if node.param is not None:
            stack.append(node.param)
    return size


# ---------------------------------------------------------------- decisions
class Budget:
    """Node visits left for tentative merges. Each rejected merge decides the subtrees below it
    twice (merged, then one by one), so a deep tree of unlike siblings would cost 2^depth; once
    the budget is spent, further sibling groups are left literal instead of compared."""

    __slots__ = ("left",)

    def __init__(self, visits: int) -> None:
        self.left = visits

    @classmethod
    def for_tree(cls, root: Node) -> Budget:
        return cls(max(WORK_MIN, WORK_PER_NODE * tree_size(root)))


@dataclass(slots=True)
class Note:
    """Why a segment is a literal or a parameter: the rule that fired and its evidence."""

    rule: str
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)


class Decision:
    """The settled templating of one position: literal children, the parameter child, and why."""

    __slots__ = ("sources", "lit", "lit_notes", "param", "param_note", "kinds", "examples")

    def __init__(self, sources: list[Node]) -> None:
        self.sources = sources
        self.lit: dict[str, Decision] = {}
        self.lit_notes: dict[str, Note] = {}
        self.param: Decision | None = None
        self.param_note: Note | None = None
        self.kinds: dict[str, int] = {}  # as a parameter: value types (folded names count as string)
        self.examples: list[str] = []


Key = tuple[str, str]  # (sub-path below the value, method)
Signature = dict[Key, "Shape | None"]


def decide(sources: list[Node], depth: int, parent: str | None, parent_is_param: bool, budget: Budget) -> Decision:
    """Settle the children of the position held by `sources` (segment index `depth` below).

    `parent` is this position's literal segment (None for a parameter or the root).
    """
    budget.left -= len(sources)
    d = Decision(sources)
    by_name: dict[str, list[Node]] = {}
    typed: list[Node] = []
    for s in sources:
        for name, child in s.literal.items():
            by_name.setdefault(name, []).append(child)
        if s.param is not None:
            typed.append(s.param)
    vote: Vote | None = None
    if depth >= 1 and by_name:
        candidates: list[str] = []
        parent_values = _union_size((s.values for s in sources), MAX_VALUES) if parent_is_param else 0
        for name in sorted(by_name):
            note = _fixed_literal(name, by_name[name], parent_is_param, parent_values)
            if note is None:
                candidates.append(name)
            else:
                d.lit_notes[name] = note
        if candidates and not typed and len(candidates) < SiblingRule.VALUE_MIN:
            note = _few_note(len(candidates))  # the common case in deep trees: no vote to hold
            for name in candidates:
                d.lit_notes[name] = note
        elif candidates:
            vote = Vote(candidates, typed, by_name, depth, parent, parent_is_param, parent_values, budget)
            vote.run()
            d.lit_notes.update(vote.notes)
    folded = set(vote.folded) if vote else set()
    for name, children in by_name.items():
        if name in folded:
            continue
        d.lit[name] = decide(children, depth + 1, name, False, budget)
        if depth >= 1 and name not in d.lit_notes:
            d.lit_notes[name] = Note("not-enough-evidence", "no sibling values to compare it with")
    if typed or folded:
        names = vote.folded if vote else []
        param_sources = typed + [c for n in names for c in by_name[n]]
        sub = vote.reusable(names) if vote else None
        if sub is None:
            sub = decide(param_sources, depth + 1, None, True, budget)
        _describe_values(sub, typed, names)
        d.param = sub
        d.param_note = vote.note if vote and vote.note else _typed_note(sub)
    return d


def _union_size(sets: Any, cap: int) -> int:
    seen: set[str] = set()
    for s in sets:
        seen |= s
        if len(seen) >= cap:
            return cap
    return len(seen)


@functools.lru_cache(maxsize=16)
def _few_note(n: int) -> Note:
    """Too few siblings to vote (the Note is shared: read-only)."""
    need = SiblingRule.VALUE_MIN
    return Note(
        "not-enough-evidence",
        f"{n} sibling value{'s' if n != 1 else ''} to compare; {need} needed",
        {"siblings": n, "needed": need},
    )


@functools.lru_cache(maxsize=4096)
def _word_note(name: str) -> Note | None:
    """Version segments and common words (the Note is shared: read-only)."""
    seg = unquote(name)
    if VERSION_RE.match(seg):
        return Note("version", "version segments are never parameters")
    if never_templated(seg):
        return Note("common-word", f"'{seg}' is a common word (like me, search, login): never a parameter")
    return None


def _fixed_literal(name: str, children: list[Node], parent_is_param: bool, parent_values: int) -> Note | None:
    """Literals no vote can turn into values."""
    note = _word_note(name)
    if note is not None:
        return note
    if parent_is_param and parent_values >= 2:
        seen_under = _union_size((c.via for c in children), MAX_VIA)
        if seen_under >= 2:
            count = f"{seen_under} or more" if seen_under >= MAX_VIA else str(seen_under)
            return Note(
                "recurring-name",
                f"seen under {count} values of the parameter before it: a sub-resource, not a value",
                {"parentValues": seen_under},
            )
    return None


def _describe_values(sub: Decision, typed: list[Node], names: list[str]) -> None:
    for t in typed:
        for k, n in t.kinds.items():
            sub.kinds[k] = sub.kinds.get(k, 0) + n
        for ex in t.examples:
            if len(sub.examples) < MAX_EXAMPLES and ex not in sub.examples:
                sub.examples.append(ex)
    if names:
        sub.kinds["string"] = sub.kinds.get("string", 0) + len(names)
        for name in names:
            if len(sub.examples) >= MAX_EXAMPLES:
                break
            value = unquote(name)
            if value not in sub.examples:
                sub.examples.append(value)


def _typed_note(sub: Decision) -> Note:
    kinds = " or ".join(KIND_REASONS.get(k, k) for k in sub.kinds) or "typed"
    examples = ", ".join(sub.examples)
    values = _union_size((s.values for s in sub.sources), MAX_VALUES)
    return Note("typed", f"{kinds} values" + (f" (e.g. {examples})" if examples else ""), {"values": values})


def signature(nodes: list[Node], dec: Decision, budget: Budget) -> Signature:
    """Every (sub-path, method) below `nodes` as `dec` templates it, with its 2xx shape."""
    sig: Signature = {}
    stack: list[tuple[Node, Decision, str]] = [(n, dec, "") for n in nodes]
    while stack:
        node, d, rel = stack.pop()
        budget.left -= 1
        for method, stats in node.endpoints.items():
            key = (rel, method)
            shape = stats.shape()
            if key not in sig:
                sig[key] = shape
            elif shape is not None:
                old = sig[key]
                sig[key] = shape if old is None else old.union(shape)
        for name, child in node.literal.items():
            sub = d.lit.get(name)
            if sub is not None:
                stack.append((child, sub, f"{rel}/{name}"))
            elif d.param is not None:
                stack.append((child, d.param, rel + "/{}"))
        if node.param is not None and d.param is not None:
            stack.append((node.param, d.param, rel + "/{}"))
    return sig


# ---------------------------------------------------------------- the vote
@dataclass(slots=True)
class Fit:
    """How a signature fits a cluster: keys shared, keys where both sides answered 2xx alike,
    and the subset where both shapes are informative."""

    shares: bool
    matched: list[Key]
    strong: list[Key]


class Cluster:
    """Siblings whose signatures do not contradict each other, and which of them agree."""

    __slots__ = ("members", "keys", "known", "first", "anchor", "matched", "strong", "deep", "shared")

    def __init__(self) -> None:
        self.members: list[str] = []
        self.keys: set[Key] = set()
        self.known: dict[Key, Shape] = {}  # union of the 2xx shapes seen at each key
        self.first: dict[Key, str] = {}  # the first member with a 2xx shape there
        self.anchor: dict[Key, str] = {}  # the first member with an informative shape there
        self.matched: set[str] = set()  # members with a 2xx shape like another member's
        self.strong: set[str] = set()  # ... an informative one
        self.deep: set[str] = set()  # ... at a sub-path below the value
        self.shared: dict[Key, None] = {}  # keys where informative shapes matched (for the reason)

    def fits(self, sig: Signature) -> Fit | None:
        """None when the signature contradicts the cluster at some key."""
        fit = Fit(False, [], [])
        for key, shape in sig.items():
            if key not in self.keys:
                continue
            fit.shares = True
            mine = self.known.get(key)
            if shape is None or mine is None:
                continue
            if not shapes_match(shape, mine):
                return None
            fit.matched.append(key)
            if shape.informative and mine.informative:
                fit.strong.append(key)
        return fit

    def add(self, name: str, sig: Signature, fit: Fit | None = None) -> None:
        self.members.append(name)
        if fit is not None:
            for key in fit.matched:
                self.matched.update((name, self.first[key]))
            for key in fit.strong:
                for who in (name, self.anchor[key]):
                    self.strong.add(who)
                    if key[0]:
                        self.deep.add(who)
                self.shared.setdefault(key, None)
        for key, shape in sig.items():
            self.keys.add(key)
            if shape is None:
                continue
            mine = self.known.get(key)
            self.known[key] = shape if mine is None else mine.union(shape)
            self.first.setdefault(key, name)
            if shape.informative:
                self.anchor.setdefault(key, name)

    def contradicts(self, other: Cluster) -> bool:
        return any(
            key in other.known and not shapes_match(shape, other.known[key]) for key, shape in self.known.items()
        )

    def absorb(self, other: Cluster) -> None:
        """Take in an accepted cluster (for conflict checks against everything accepted)."""
        for key, shape in other.known.items():
            mine = self.known.get(key)
            self.known[key] = shape if mine is None else mine.union(shape)


def cluster(sigs: dict[str, Signature], order: list[str]) -> list[Cluster]:
    """Greedy: each member joins the first cluster it shares a key with and does not contradict."""
    clusters: list[Cluster] = []
    for name in order:
        sig = sigs[name]
        for c in clusters:
            fit = c.fits(sig)
            if fit is not None and fit.shares:
                c.add(name, sig, fit)
                break
        else:
            c = Cluster()
            c.add(name, sig)
            clusters.append(c)
    # A member that started a cluster of its own gets a second chance against the grown ones.
    for c in [c for c in clusters if len(c.members) == 1 and c.members[0] != TYPED]:
        name = c.members[0]
        for other in sorted(clusters, key=lambda o: -len(o.members)):
            if other is c or len(other.members) < 2:
                continue
            fit = other.fits(sigs[name])
            if fit is not None and fit.matched:
                other.add(name, sigs[name], fit)
                clusters.remove(c)
                break
    return clusters


def _key_text(key: Key) -> str:
    rel, method = key
    return f"{method} {{value}}{rel}"


@dataclass(slots=True)
class Verdict:
    """One cluster judged on its own: the members it would fold, and what is missing."""

    folded: list[str]  # literal members only
    typed: bool  # the typed values are in it
    values: int
    matching: int
    need: int
    shared: list[str]
    problems: list[str]


class Vote:
    """Which literal siblings at one position are values, by the shape of their responses."""

    def __init__(
        self,
        candidates: list[str],
        typed: list[Node],
        by_name: dict[str, list[Node]],
        depth: int,
        parent: str | None,
        parent_is_param: bool,
        parent_values: int,
        budget: Budget,
    ) -> None:
        self.budget = budget
        self.candidates = candidates
        self.typed = typed
        self.by_name = by_name
        self.depth = depth
        self.parent = parent
        self.parent_is_param = parent_is_param
        self.parent_values = parent_values
        self.folded: list[str] = []
        self.notes: dict[str, Note] = {}
        self.note: Note | None = None
        self.merged: Decision | None = None  # the tentative decision below all candidates

    def reusable(self, names: list[str]) -> Decision | None:
        """The tentative decision, when it was made over exactly the sources the parameter got."""
        return self.merged if self.merged is not None and len(names) == len(self.candidates) else None

    def _all(self, rule: str, reason: str, evidence: dict[str, Any] | None = None) -> None:
        note = Note(rule, reason, evidence or {})  # one read-only note for all of them
        for name in self.candidates:
            self.notes[name] = note

    def run(self) -> None:
        rule = SiblingRule
        n = len(self.candidates)
        if self.typed and n < rule.TYPED_PEERS_MIN:
            self._all(
                "literal-beats-template",
                "a single literal beside parameter values stays literal",
                {"siblings": n, "needed": rule.TYPED_PEERS_MIN},
            )
            return
        words = rule.words_needed(None if self.parent_is_param else self.parent)
        if not self.typed and n < words and all(rule.word_like(m) for m in self.candidates):
            self._all(
                "not-enough-evidence",
                f"{n} plain-word siblings; {words} needed here (words are often resources)",
                {"siblings": n, "needed": words},
            )
            return
        if self.parent_is_param and self.parent_values < 2:
            self._all(
                "not-enough-evidence",
                "under a parameter seen with one value, names cannot be told from sub-resources",
                {"parentValues": self.parent_values},
            )
            return
        if self.budget.left <= 0:
            self._all("not-enough-evidence", "not compared: too many paths below to compare every group of siblings")
            return
        sources = self.typed + [c for name in self.candidates for c in self.by_name[name]]
        self.merged = decide(sources, self.depth + 1, None, True, self.budget)
        sigs = {name: signature(self.by_name[name], self.merged, self.budget) for name in self.candidates}
        order = sorted(
            self.candidates,
            key=lambda m: (-sum(1 for s in sigs[m].values() if s is not None and s.informative), -len(sigs[m]), m),
        )
        if self.typed:
            sigs[TYPED] = signature(self.typed, self.merged, self.budget)
            order.insert(0, TYPED)
        clusters = sorted(cluster(sigs, order), key=lambda c: (TYPED not in c.members, -len(c.members), -len(c.strong)))
        self._decide(clusters, sigs)

    def _decide(self, clusters: list[Cluster], sigs: dict[str, Signature]) -> None:
        """Accept each cluster that makes a parameter on its own and contradicts none accepted
        before it (a position has one parameter: values answering different methods still are
        values of it); the typed values' cluster goes first."""
        accepted: list[Verdict] = []
        seen = Cluster()
        first: Verdict | None = None
        beside_typed: list[str] = []  # siblings answering like the typed values, too few alone
        for c in clusters:
            v = self._judge(c, sigs)
            first = first or v
            if v.typed:  # whatever its siblings do, the others must agree with the typed values
                seen.absorb(c)
                if v.folded and not v.problems:
                    accepted.append(v)
                else:
                    beside_typed = v.folded
                continue
            if v.problems or ((accepted or self.typed) and seen.contradicts(c)):
                continue
            accepted.append(v)
            seen.absorb(c)
        if accepted and beside_typed:  # another group made the parameter: they belong to it
            accepted.append(Verdict(beside_typed, False, len(beside_typed), 0, 0, [], []))
        folded = [m for v in accepted for m in v.folded]
        assert first is not None
        if not self.typed and accepted and len(folded) < math.ceil(len(self.candidates) * SiblingRule.MATCH_SHARE):
            first.problems.append(f"{len(folded)} of {len(self.candidates)} siblings share one shape")
            accepted, folded = [], []
        if not accepted:
            v = first
            self._all(
                "not-enough-evidence", "; ".join(v.problems) or "no group of siblings shares a shape", _evidence(v)
            )
            return
        self.folded = folded
        total = Verdict(
            folded,
            any(v.typed for v in accepted) or bool(self.typed),
            sum(v.values for v in accepted) + (0 if any(v.typed for v in accepted) else self._typed_values()),
            sum(v.matching for v in accepted),
            accepted[0].need,
            [k for v in accepted for k in v.shared][:MAX_SHARED],
            [],
        )
        evidence = _evidence(total)
        if len(accepted) > 1:
            evidence["groups"] = len(accepted)
        names = ", ".join(unquote(m) for m in folded[:MAX_EXAMPLES])
        if self.typed:
            kinds = " or ".join(dict.fromkeys(KIND_REASONS.get(k, k) for t in self.typed for k in t.kinds))
            text = f"{kinds} values; {len(folded)} sibling values share one shape with them (e.g. {names})"
            self.note = Note("siblings-beside-typed", text, evidence)
        else:
            text = f"{total.values} sibling values share one shape (e.g. {names})"
            self.note = Note("siblings", text, evidence)
        if total.shared:
            self.note.reason += f"; matching 2xx responses at {', '.join(total.shared)}"
        chosen = set(folded)
        for m in self.candidates:
            if m not in chosen:
                self.notes[m] = Note(
                    "literal-beats-template",
                    "its 2xx responses differ from those of the parameter values beside it, or it shares no path with them",
                )

    def _typed_values(self) -> int:
        return _union_size((t.values for t in self.typed), MAX_VALUES)

    def _judge(self, c: Cluster, sigs: dict[str, Signature]) -> Verdict:
        rule = SiblingRule
        # Silent siblings (errors only, or empty 2xx JSON) join when they share a path; siblings
        # with 2xx responses must answer like another sibling: a literal among values is still a
        # literal.
        silent = {m for m in c.members if not any(s is not None and s.informative for s in sigs[m].values())}
        folded = [m for m in c.members if m in c.matched or m in silent]
        literals = [m for m in folded if m != TYPED]
        has_typed = TYPED in c.members
        typed_values = self._typed_values() if has_typed else 0
        values = len(literals) + typed_values
        matching = len(c.deep if self.parent_is_param else c.strong)
        if has_typed or self.typed:
            need = rule.VALUE_MIN
        elif literals and all(rule.word_like(m) for m in literals):
            need = rule.words_needed(None if self.parent_is_param else self.parent)
        else:
            need = rule.VALUE_MIN
        shared = [_key_text(k) for k in c.shared if not self.parent_is_param or k[0]][:MAX_SHARED]
        problems = []
        if has_typed and len(literals) < rule.TYPED_PEERS_MIN:
            problems.append(f"{len(literals)} sibling(s) answer like the typed values; {rule.TYPED_PEERS_MIN} needed")
        if values < need:
            problems.append(f"{values} sibling values share one shape; {need} needed")
        if matching < max(2, math.ceil(len(folded) * rule.MATCH_SHARE)):
            where = "sub-paths" if self.parent_is_param else "responses"
            problems.append(f"only {matching} of {len(folded)} siblings have matching 2xx {where}")
        return Verdict(literals, has_typed, values, matching, need, shared, problems)


def _evidence(v: Verdict) -> dict[str, Any]:
    out: dict[str, Any] = {"values": v.values, "siblings": len(v.folded), "matching": v.matching, "needed": v.need}
    if v.shared:
        out["sharedResponses"] = v.shared
    return out
