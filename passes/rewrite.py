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

from xdsl.context import Context
from xdsl.dialects.builtin import UNKNOWN_LOC, ModuleOp
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.passes import ModulePass
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

    op: OpSpec | None = None
    """Op class(es) the defining op must be an instance of (a table-driven kind is
    `P(g.ElementwiseOp, attrs={"kind": ...})`); None matches any value (a block argument
    too). Never an op name: a misspelt class fails at import, a misspelt name never would."""
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
    attrs: Mapping[str, object] | None = None
    """Property/attribute constraints: name -> required value (an Attribute, a Python value
    compared with the attribute's data, None for "absent") or a predicate on the attribute."""
    type: Attribute | Callable[[Attribute], bool] | None = None
    """Constraint on the matched value's type: the type itself or a predicate."""


    def __post_init__(self) -> None:
        specs = self.op if isinstance(self.op, tuple) else (self.op,)
        if self.op is not None and not all(
                isinstance(s, type) and issubclass(s, Operation) for s in specs):
            raise TypeError(f"P(op=...) takes op classes, not {self.op!r}")


OpSpec = type[Operation] | tuple[type[Operation], ...]


def is_op(op: Operation, spec: OpSpec) -> bool:
    """`op` is an instance of (one of) the class(es) in `spec`."""
    return isinstance(op, spec)


def attr_data(attr: Attribute | None) -> object:
    """The Python value of a simple attribute (string, int, float, i64 array) or `attr`."""
    if attr is None:
        return None
    data = getattr(attr, "data", None)
    if isinstance(data, (str, int, float)):
        return data
    value = getattr(attr, "value", None)
    if value is not None and isinstance(getattr(value, "data", None), (int, float)):
        return value.data
    if hasattr(attr, "get_values"):
        return tuple(attr.get_values())
    return attr


def _attrs_ok(op: Operation, attrs: Mapping[str, object]) -> bool:
    for name, want in attrs.items():
        have = op.properties.get(name, op.attributes.get(name))
        if callable(want) and not isinstance(want, Attribute):
            if not want(have):
                return False
        elif isinstance(want, Attribute):
            if have != want:
                return False
        elif attr_data(have) != (tuple(want) if isinstance(want, list) else want):
            return False
    return True


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
    if pattern.type is not None and not _type_ok(value, pattern.type):
        return
    item = value if pattern.op is None else value.owner
    if pattern.op is not None and not (isinstance(item, Operation) and is_op(item, pattern.op)):
        return
    if pattern.attrs is not None and not _attrs_ok(item, pattern.attrs):
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


def _type_ok(value: SSAValue, constraint: Attribute | Callable[[Attribute], bool]) -> bool:
    if isinstance(constraint, Attribute):
        return value.type == constraint
    return bool(constraint(value.type))


def _match_op(pattern: P, op: Operation, captures: Match) -> Iterator[Match]:
    if pattern.op is not None and not is_op(op, pattern.op):
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
    pending: list[Operation] = field(default_factory=list[Operation])

    def insert(self, op: Operation) -> SSAValue:
        """Insert `op` before the root and return its (first) result.

        The ops go into the IR only when the rule applies (`commit`): a rule that declines
        must leave the IR untouched, or the greedy driver would never reach a fixpoint."""
        self.pending.append(op)
        if op.location == UNKNOWN_LOC:
            op.location = self.root.location
        return op.results[0]

    def commit(self) -> None:
        for op in self.pending:
            self.rewriter.insert(op)
        self.pending.clear()

    def discard(self) -> None:
        for op in reversed(self.pending):  # users first, so each op is unused when erased
            op.erase()
        self.pending.clear()


Builder = Callable[[Match, RuleBuilder], SSAValue | Sequence[SSAValue] | None]


@dataclass(frozen=True)
class Rule:
    """A named source pattern, optional constraints on its captures, and the replacement:
    a builder, or the name of a capture to forward (`"x"` for x * 1 -> x)."""

    name: str
    pattern: P
    build: Builder | str
    where: Callable[[Match], bool] | None = None
    """Constraint on the whole match (relations between captures)."""

    def replacement(self, m: Match, b: RuleBuilder) -> SSAValue | Sequence[SSAValue] | None:
        if self.where is not None and not self.where(m):
            return None
        if isinstance(self.build, str):
            value = m[self.build]
            value = value.results[0] if isinstance(value, Operation) else value
            # forwarding must not change the type the users see
            return value if value.type == b.root.results[0].type else None
        return self.build(m, b)


def match_root(pattern: P, op: Operation) -> Iterator[Match]:
    """Every match of `pattern` rooted at `op` (the op itself, not one of its values)."""
    if pattern.op is not None and not is_op(op, pattern.op):
        return
    if pattern.where is not None and not pattern.where(op):
        return
    if pattern.attrs is not None and not _attrs_ok(op, pattern.attrs):
        return
    if pattern.type is not None and (not op.results or
                                     not _type_ok(op.results[0], pattern.type)):
        return
    if pattern.one_use and not (len(op.results) == 1 and op.results[0].has_one_use()):
        return
    captures = Match({pattern.name: op} if pattern.name else {})
    yield from _match_op(pattern, op, captures)


@dataclass
class RuleSet(RewritePattern):
    """Applies the first rule whose pattern matches the op, then erases what went dead."""

    rules: Sequence[Rule]
    fired: dict[str, int] = field(default_factory=dict)

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        for rule in self.rules:
            for m in match_root(rule.pattern, op):
                if self._apply(rule, m, op, rewriter):
                    return

    def _apply(self, rule: Rule, m: Match, root: Operation, rewriter: PatternRewriter) -> bool:
        builder = RuleBuilder(rewriter, root)
        result = rule.replacement(m, builder)
        if result is None:
            builder.discard()
            return False
        new = [result] if isinstance(result, SSAValue) else list(result)
        if [v.type for v in new] != list(root.result_types):
            # The users (func.return, region terminators) keep the root's types: a builder
            # that infers another type (e.g. `?` where the IR states a static dim) must not
            # change them, so the rule does not apply here.
            builder.discard()
            return False
        builder.commit()
        absorbed = [v for v in m.values() if isinstance(v, Operation) and v is not root]
        rewriter.replace(root, [], new)
        for op in absorbed:
            if op.parent is not None and all(not r.uses for r in op.results) \
                    and is_side_effect_free(op):
                rewriter.erase(op)
        self.fired[rule.name] = self.fired.get(rule.name, 0) + 1
        return True


def apply_rules(module: ModuleOp, rules: Sequence[Rule],
                extra: Sequence[RewritePattern] = ()) -> dict[str, int]:
    """Rewrite `module` with `rules` to a fixpoint (regions included); returns how often each
    rule fired. `extra` patterns (plain xDSL RewritePatterns) run in the same walk."""
    rule_set = RuleSet(rules)
    PatternRewriteWalker(GreedyRewritePatternApplier([rule_set, *extra]),
                         apply_recursively=True).rewrite_module(module)
    return rule_set.fired


# --------------------------------------------------------------------------- statistics


STATISTICS: dict[str, dict[str, int]] = {}
"""Per pass name, per rule name: how often it fired since the last `reset_statistics()`
(printed by `opt-tool --pass-statistics`)."""


def record(pass_name: str, fired: Mapping[str, int]) -> None:
    counts = STATISTICS.setdefault(pass_name, {})
    for rule, n in fired.items():
        counts[rule] = counts.get(rule, 0) + n


def reset_statistics() -> None:
    STATISTICS.clear()


def format_statistics() -> str:
    """One line per pass: `fuse: conv-bn 2, activation 3`."""
    lines = []
    for pass_name, counts in STATISTICS.items():
        body = ", ".join(f"{rule} {n}" for rule, n in counts.items()) or "nothing fired"
        lines.append(f"{pass_name}: {body}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- rule passes


class RulePass(ModulePass):
    """A pass that is a list of rule phases, each applied to a fixpoint in order.

    Subclasses are frozen dataclasses with a kebab-case `name`; they override `phases()`
    (a phase is a list of rules; later phases see the result of earlier ones)."""

    name = "rule-pass"

    def phases(self, module: ModuleOp) -> Sequence[Sequence[Rule]]:
        raise NotImplementedError

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        fired: dict[str, int] = {}
        for rules in self.phases(op):
            for rule, n in apply_rules(op, rules).items():
                fired[rule] = fired.get(rule, 0) + n
        record(self.name, fired)
