"""Symbolic integers: exact polynomial arithmetic over named dims.

A `SymInt` is a polynomial with integer coefficients over symbols, kept in one canonical
form, so two expressions are equal exactly when they are the same polynomial. Symbols
are the model's input dims (`batch`, `seq`, or `x.1` for an unnamed dim of input `x`)
and *opaque* symbols for values the algebra cannot express (a floor division that is not
exact, a broadcast of two unrelated dims, a dim read from tensor data). An opaque symbol
is named by the computation that produced it (`floordiv(seq + 1, 2)`), so the same
computation on the same inputs gives the same symbol: that is what makes
`conv(x).dim(2) == conv(x).dim(2)` provable.

Soundness is the contract: whenever two `SymInt`s compare equal, the run-time values are
equal for every input the compiled model accepts. Rules that cannot guarantee that must
produce an opaque symbol. The lowering elides run-time dim checks on the strength of these
equalities (lowering/dims.py), and `checks="bounds"` turns those proofs into run-time
assertions, so a wrong rule shows up as a failed check in tests, not as silent garbage.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

Monomial = tuple[str, ...]  # sorted symbol names, with repetition for powers

_OPAQUE: dict[str, tuple[str, tuple[SymInt, ...]]] = {}
"""The computation behind each opaque symbol name (interned: names are canonical)."""


@dataclass(frozen=True)
class SymInt:
    """An exact polynomial over symbols: `sum(coeff * prod(symbols))`."""

    terms: frozenset[tuple[Monomial, int]]  # non-zero coefficients only

    # ---- construction

    @staticmethod
    def const(value: int) -> SymInt:
        return SymInt(frozenset({((), int(value))}) if value else frozenset())

    @staticmethod
    def symbol(name: str) -> SymInt:
        return SymInt(frozenset({((name,), 1)}))

    @staticmethod
    def of(value: SymLike) -> SymInt:
        return value if isinstance(value, SymInt) else SymInt.const(value)

    @staticmethod
    def opaque(kind: str, *args: SymLike) -> SymInt:
        """A symbol standing for `kind(args...)`: equal only to the same computation."""
        items = tuple(SymInt.of(a) for a in args)
        name = f"{kind}({', '.join(str(a) for a in items)})"
        _OPAQUE.setdefault(name, (kind, items))
        return SymInt.symbol(name)

    def opaque_parts(self) -> tuple[str, tuple[SymInt, ...]] | None:
        """(kind, args) when this is exactly one opaque symbol, else None."""
        if len(self.terms) != 1:
            return None
        ((mono, coeff),) = self.terms
        if coeff != 1 or len(mono) != 1:
            return None
        return _OPAQUE.get(mono[0])

    # ---- queries

    def as_int(self) -> int | None:
        """The value when this is a constant, else None."""
        if not self.terms:
            return 0
        if len(self.terms) == 1:
            ((mono, coeff),) = self.terms
            if not mono:
                return coeff
        return None

    @property
    def is_const(self) -> bool:
        return self.as_int() is not None

    def symbols(self) -> set[str]:
        return {s for mono, _ in self.terms for s in mono}

    def nonnegative(self) -> bool:
        """True when the value is >= 0 for any non-negative symbol values (dims are)."""
        return all(c > 0 for _, c in self.terms)

    def positive_const(self) -> bool:
        v = self.as_int()
        return v is not None and v > 0

    # ---- arithmetic

    def _combine(self, other: SymInt, sign: int) -> SymInt:
        acc: dict[Monomial, int] = dict(self.terms)
        for mono, c in other.terms:
            acc[mono] = acc.get(mono, 0) + sign * c
        return SymInt(frozenset((m, c) for m, c in acc.items() if c))

    def __add__(self, other: SymLike) -> SymInt:
        return self._combine(SymInt.of(other), 1)

    __radd__ = __add__

    def __sub__(self, other: SymLike) -> SymInt:
        return self._combine(SymInt.of(other), -1)

    def __rsub__(self, other: SymLike) -> SymInt:
        return SymInt.of(other)._combine(self, -1)

    def __neg__(self) -> SymInt:
        return SymInt(frozenset((m, -c) for m, c in self.terms))

    def __mul__(self, other: SymLike) -> SymInt:
        other = SymInt.of(other)
        acc: dict[Monomial, int] = {}
        for m1, c1 in self.terms:
            for m2, c2 in other.terms:
                mono = tuple(sorted(m1 + m2))
                acc[mono] = acc.get(mono, 0) + c1 * c2
        return SymInt(frozenset((m, c) for m, c in acc.items() if c))

    __rmul__ = __mul__

    def exact_div(self, other: SymLike) -> SymInt | None:
        """self / other when `other` divides every term exactly (a monomial times a
        constant), else None. Exact division is the same as C's and floor division."""
        other = SymInt.of(other)
        if len(other.terms) != 1:
            return None
        ((dmono, dcoeff),) = other.terms
        out: list[tuple[Monomial, int]] = []
        for mono, c in self.terms:
            if c % dcoeff:
                return None
            rest = list(mono)
            for s in dmono:
                if s not in rest:
                    return None
                rest.remove(s)
            out.append((tuple(rest), c // dcoeff))
        return SymInt(frozenset(out))

    def floordiv(self, other: SymLike) -> SymInt:
        """floor(self / other) for non-negative self and positive other."""
        other = SymInt.of(other)
        a, b = self.as_int(), other.as_int()
        if a is not None and b is not None and b != 0:
            return SymInt.const(a // b)
        if b == 1:
            return self
        exact = self.exact_div(other)
        return exact if exact is not None else SymInt.opaque("floordiv", self, other)

    def ceildiv(self, other: SymLike) -> SymInt:
        other = SymInt.of(other)
        a, b = self.as_int(), other.as_int()
        if a is not None and b is not None and b != 0:
            return SymInt.const(-(-a // b))
        if b == 1:
            return self
        exact = self.exact_div(other)
        return exact if exact is not None else SymInt.opaque("ceildiv", self, other)

    def substitute(self, values: Mapping[str, int]) -> SymInt:
        """The expression with known symbols replaced by integers."""
        acc = SymInt.const(0)
        for mono, c in self.terms:
            term = SymInt.const(c)
            for s in mono:
                term = term * (values[s] if s in values else SymInt.symbol(s))
            acc = acc + term
        return acc

    # ---- printing

    def __str__(self) -> str:
        if not self.terms:
            return "0"

        def order(item: tuple[Monomial, int]) -> tuple[int, Monomial]:
            return (-len(item[0]), item[0])

        parts: list[str] = []
        for mono, c in sorted(self.terms, key=order):
            factors = _powers(mono)
            if not factors:
                text = str(abs(c))
            elif abs(c) == 1:
                text = "*".join(factors)
            else:
                text = "*".join([*factors, str(abs(c))])
            if not parts:
                parts.append(text if c > 0 else f"-{text}")
            else:
                parts.append(f"{'+' if c > 0 else '-'} {text}")
        return " ".join(parts)

    def __repr__(self) -> str:
        return f"SymInt({self})"


SymLike = SymInt | int


def _powers(mono: Monomial) -> list[str]:
    out: list[str] = []
    for s in sorted(set(mono)):
        n = mono.count(s)
        out.append(s if n == 1 else f"{s}^{n}")
    return out


def broadcast_dim(dims: Iterable[SymInt]) -> SymInt | None:
    """The numpy broadcast of dims that are all valid for it: the non-1 one.

    None when a static mismatch makes broadcasting impossible. Unrelated symbolic dims give
    the opaque `bcast(a, b, ...)`: the lowering computes exactly that (the one that is not
    1) and checks that the others are 1 or equal to it. bcast is associative, commutative
    and idempotent, so nested broadcasts flatten into one set of arguments.
    """
    rest: list[SymInt] = []
    for d in dims:
        parts = d.opaque_parts()
        for item in parts[1] if parts is not None and parts[0] == "bcast" else (d,):
            if item.as_int() != 1 and item not in rest:
                rest.append(item)
    rest = [d for d in rest if not _prefix_of_another(d, rest)]
    if not rest:
        return SymInt.const(1)
    statics = {d.as_int() for d in rest if d.is_const}
    if len(statics) > 1:
        return None
    if statics:
        return SymInt.const(statics.pop())  # symbolic ones must be 1 or equal to it
    if len(rest) == 1:
        return rest[0]
    return SymInt.opaque("bcast", *sorted(rest, key=str))


def _prefix_of_another(d: SymInt, dims: list[SymInt]) -> bool:
    """d = len(x[0:e]) of a static dim n >= 1, and e is among `dims`: d = min(n, e), and a
    valid broadcast of e with min(n, e) is e (e <= n: equal; e > n >= 1: n must be 1). The
    position table sliced to the sequence length in every transformer export."""
    parts = d.opaque_parts()
    if parts is None or parts[0] != "slice":
        return False
    n, start, end, step = parts[1]
    total = n.as_int()
    return (total is not None and total >= 1 and start.as_int() == 0 and step.as_int() == 1
            and any(end == other for other in dims if other is not d))


def reshape_copy(target: SymInt, dim: SymInt) -> SymInt:
    """ONNX Reshape's `target == 0 ? dim : target` for a target entry known only at run
    time (allowzero = 0); `dim` is the input dim at the same position."""
    if target == dim or dim.exact_div(target) is not None:
        return target  # dim = target * q is 0 when target is
    parts = dim.opaque_parts()
    if parts is not None and parts[0] == "bcast" and target in parts[1]:
        return target  # target == 0 makes the valid broadcast 0 as well
    return SymInt.opaque("reshape_copy", target, dim)


def product(dims: Iterable[SymLike]) -> SymInt:
    acc = SymInt.const(1)
    for d in dims:
        acc = acc * d
    return acc
