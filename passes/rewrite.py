"""Declarative rewrite rules (in the spirit of MLIR's DRR and tinygrad's PatternMatcher).

A rule is a source pattern plus a builder:

    Rule("conv-relu",
         P(g.ReluOp, [P(g.ConvOp, name="conv", one_use=True, where=no_act)]),
         lambda m, b: b.insert(with_act(m.conv, "relu")))

`P` matches a value: its defining op class, operand sub-patterns, a capture name (the
op when `op` is given, otherwise the value), a single-use constraint and a predicate.
The builder gets the captures (`m.conv`) and a `RuleBuilder` that inserts new ops before
the root; it returns the root's replacement value(s), or None to decline. `RuleSet` is
the one generic RewritePattern that applies a list of rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from xdsl.dialects.builtin import UNKNOWN_LOC, ModuleOp
from xdsl.ir import Operation, SSAValue
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
)
from xdsl.traits import is_side_effect_free


@dataclass(frozen=True)
class P:
    """A pattern on one SSA value."""

    op: type[Operation] | tuple[type[Operation], ...] | None = None
    """Class(es) the defining op must have; None matches any value (a block argument too)."""
    operands: Sequence[P | None] | Mapping[str, P | None] | None = None
    """Operand patterns, by position or by operand field name; None entries match anything."""
    name: str | None = None
    """Capture name: binds the matched op (when `op` is set) or the value."""
    one_use: bool = False
    """The value must have exactly one use (so the producer can be absorbed)."""
    where: Callable[[Operation | SSAValue], bool] | None = None
    """Extra predicate on the matched op (or the value when `op` is None)."""
    commute: bool = False
    """Also try the two operands in swapped order (commutative binary ops)."""


class Match(dict[str, Operation | SSAValue]):
    """Captures of a successful match, readable as attributes (`m.conv`)."""

    def __getattr__(self, name: str) -> Operation | SSAValue:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def match(pattern: P, value: SSAValue) -> Match | None:
    """The captures if `value` matches `pattern`, else None."""
    for m in _match(pattern, value, Match()):
        return m
    return None


def _match(pattern: P, value: SSAValue, captures: Match) -> Iterator[Match]:
    if pattern.one_use and not value.has_one_use():
        return
    item = value if pattern.op is None else value.owner
    if pattern.op is not None and not isinstance(item, pattern.op):
        return
    if pattern.where is not None and not pattern.where(item):
        return
    bound = _bind(captures, pattern.name, item)
    if bound is None:
        return
    if pattern.op is None:
        yield bound
    else:
        yield from _match_op(pattern, item, bound)


def _match_op(pattern: P, op: Operation, captures: Match) -> Iterator[Match]:
    if pattern.op is not None and not isinstance(op, pattern.op):
        return
    if pattern.operands is None:
        yield captures
        return
    if isinstance(pattern.operands, Mapping):
        pairs = [(p, getattr(op, name)) for name, p in pattern.operands.items()]
        if any(v is None and p is not None for p, v in pairs):
            return  # an absent optional operand cannot match a pattern
        yield from _match_all(pairs, captures)
        return
    subs = list(pattern.operands)
    operands = list(op.operands)
    if len(subs) > len(operands):
        return
    orders = [operands]
    if pattern.commute and len(operands) == 2:
        orders.append(operands[::-1])
    for order in orders:
        yield from _match_all(list(zip(subs, order, strict=False)), captures)


def _match_all(pairs: list[tuple[P | None, SSAValue | None]],
               captures: Match) -> Iterator[Match]:
    if not pairs:
        yield captures
        return
    (sub, value), rest = pairs[0], pairs[1:]
    if sub is None or value is None:
        yield from _match_all(rest, captures)
        return
    for m in _match(sub, value, captures):
        yield from _match_all(rest, m)


def _bind(captures: Match, name: str | None, item: Operation | SSAValue) -> Match | None:
    """Captures plus `name` -> `item`; None when `name` is already bound to another item."""
    if name is None:
        return captures
    if name in captures:
        return captures if captures[name] is item else None
    extended = Match(captures)
    extended[name] = item
    return extended


@dataclass
class RuleBuilder:
    """What a rule's builder uses to create its replacement: inserts before the root."""

    rewriter: PatternRewriter
    root: Operation

    def insert(self, op: Operation) -> SSAValue:
        """Insert `op` before the root and return its (first) result."""
        self.rewriter.insert(op)
        if op.location == UNKNOWN_LOC:
            op.location = self.root.location
        return op.results[0]


Builder = Callable[[Match, RuleBuilder], SSAValue | Sequence[SSAValue] | None]


@dataclass(frozen=True)
class Rule:
    """A named source pattern and the builder of its replacement."""

    name: str
    pattern: P
    build: Builder


@dataclass
class RuleSet(RewritePattern):
    """Applies the first rule whose pattern matches the op, then erases what went dead."""

    rules: Sequence[Rule]
    fired: dict[str, int] = field(default_factory=dict)

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        for rule in self.rules:
            if rule.pattern.op is not None and not isinstance(op, rule.pattern.op):
                continue
            if rule.pattern.where is not None and not rule.pattern.where(op):
                continue
            captures = Match({rule.pattern.name: op} if rule.pattern.name else {})
            for m in _match_op(rule.pattern, op, captures):
                if self._apply(rule, m, op, rewriter):
                    return

    def _apply(self, rule: Rule, m: Match, root: Operation, rewriter: PatternRewriter) -> bool:
        result = rule.build(m, RuleBuilder(rewriter, root))
        if result is None:
            return False
        new = [result] if isinstance(result, SSAValue) else list(result)
        absorbed = [v for v in m.values() if isinstance(v, Operation) and v is not root]
        rewriter.replace(root, [], new)
        for op in absorbed:
            if op.parent is not None and all(not r.uses for r in op.results) \
                    and is_side_effect_free(op):
                rewriter.erase(op)
        self.fired[rule.name] = self.fired.get(rule.name, 0) + 1
        return True


def apply_rules(module: ModuleOp, rules: Sequence[Rule]) -> dict[str, int]:
    """Rewrite `module` with `rules` to a fixpoint; returns how often each rule fired."""
    rule_set = RuleSet(rules)
    PatternRewriteWalker(GreedyRewritePatternApplier([rule_set]),
                         apply_recursively=True).rewrite_module(module)
    return rule_set.fired
