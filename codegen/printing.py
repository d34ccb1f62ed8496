"""SymPy printers for ionc's targets, and the printing of element functions.

``CPrinter`` prints C99 for a floating type (``F`` literals in float32, never
a double promotion; ``exp``/``expm1`` are the kernel header's ``ionc_exp``/
``ionc_expm1``); ``CudaPrinter`` is the same arithmetic
for CUDA device code; ``NumPyArrayPrinter`` prints NumPy.  Every function of
:mod:`ionc.codegen.functions` has one spelling per printer.  Common
subexpressions are printed as ``const`` locals.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp
from sympy.codegen.ast import float32, float64, real
from sympy.printing.c import C99CodePrinter
from sympy.printing.numpy import NumPyPrinter

from .elements import ElementFunction
from .exponentials import EXP_LIKE
from .spec import V, SpecError

DTYPES = ("float32", "float64")


def check_dtype(dtype: str) -> str:
    """``dtype`` normalised to ``'float32'`` or ``'float64'`` (else a ValueError)."""
    name = np.dtype(dtype).name if not isinstance(dtype, str) or dtype not in DTYPES else dtype
    if name not in DTYPES:
        raise ValueError(f"unsupported dtype {dtype!r}; use one of {DTYPES}")
    return name


def float_literal(value: sp.Expr, dtype: str) -> str:
    """The shortest decimal that rounds to ``value`` in ``dtype``; a :class:`SpecError`
    for a constant outside the type's range (C would read ``inf`` as a name)."""
    try:
        number = float(value)
    except OverflowError:
        number = float("inf")
    with np.errstate(over="ignore"):
        rounded = np.dtype(dtype).type(number)
    if not np.isfinite(rounded):
        shown = f"{float(value):.6g}" if np.isfinite(number) else sp.sstr(sp.Float(value, 6))
        raise SpecError(f"the constant {shown} overflows {dtype} (largest "
                        f"{np.finfo(dtype).max:.6g})")
    text = str(rounded)
    if not any(c in text for c in ".en"):
        text += ".0"
    return text + ("f" if dtype == "float32" else "")


def common_denominator(expr: sp.Add) -> tuple[sp.Expr, int] | None:
    """``(numerator, d)`` with ``expr == numerator/d`` and integer coefficients, if d > 1.

    ``x/5 - 8`` prints as ``(x - 40)/5``: one rounding fewer than
    ``0.2*x - 8``, and the same operations as the formula as published.
    """
    coeffs = [t.as_coeff_Mul()[0] for t in expr.args]
    if not all(c.is_Rational for c in coeffs):
        return None
    den = sp.ilcm(*(c.q for c in coeffs)) if len(coeffs) > 1 else coeffs[0].q
    if den == 1:
        return None
    return sp.Add(*(t * den for t in expr.args)), int(den)


class IoncPrinting:
    """What every ionc printer adds to its SymPy base printer.

    Subclasses set ``function_names`` (how ``exprelr``/``capped_rate`` are
    spelled), ``wide_format`` (an input read in double precision) and
    ``_denominator_literal``.
    """

    function_names: dict[str, str] = {}
    #: Appended to the name of exp/expm1/exprelr of a double argument ('' where the
    #: target evaluates such arguments in double anyway, as NumPy does).
    wide_suffix = ""
    #: Appended to the name of exp/expm1/exprelr of ``num/d`` in float64 ('' for none).
    div_suffix = ""
    wide_format = "{}"
    _widen = False
    #: Names of the locals being computed in double precision (see print_function).
    wide_symbols: frozenset = frozenset()

    def widened(self, expr) -> str:
        """``expr`` evaluated in double precision from its inputs."""
        self._widen = True
        try:
            return self.doprint(expr)
        finally:
            self._widen = False

    def _print_Symbol(self, expr):
        name = super()._print_Symbol(expr)
        return self.wide_format.format(name) if self._widen else name

    def _print_Add(self, expr, order=None):
        split = common_denominator(expr)
        if split is None:
            return super()._print_Add(expr, order)
        return self._divide(expr, f"({self._print(split[0])})", split[1])

    def _divide(self, expr, numerator: str, den: int) -> str:
        return f"{numerator}/{self._denominator_literal(den)}"

    def _in_double(self, expr) -> bool:
        """Whether ``expr`` is evaluated in double precision in a float32 kernel: a
        double local read outside a call (every printed function returns the real
        type, whatever its argument's)."""
        return self.dtype == "float32" and (
            self._widen or any(s.name in self.wide_symbols for s in _outside_calls(expr)))

    def _wide_argument(self, expr) -> bool:
        """Whether the argument of exponential ``expr`` is computed in double in a
        float32 kernel: it reads ``V`` or a double local (``V - V_sh``)."""
        arg = expr.args[0]
        return self.dtype == "float32" and (V in arg.free_symbols or self._in_double(arg))

    def _argument_of(self, expr) -> str:
        """The argument of an exponential.  In float32 one that reads ``V`` is
        computed in double, as intermediates are (exp magnifies the relative
        error of its argument by the argument); one that reads a double local is
        double by C's promotion.  Either goes to the ``_wide`` variant, which
        applies the rounding of the argument as a correction."""
        arg = expr.args[0]
        if self.dtype != "float32" or V not in arg.free_symbols or self._widen:
            return self._print(arg)
        return self.widened(arg)

    def _print_exp(self, expr):
        return self._exp_like(super()._print_exp, expr)

    def _print_expm1(self, expr):
        return self._exp_like(super()._print_expm1, expr)

    def _quotient(self, expr):
        """``(numerator, d)`` when exponential ``expr``'s argument is printed as a
        division by a constant ``d`` that rounds (float64 kernels of targets with
        ``_div`` variants), else None."""
        arg = expr.args[0]
        if not self.div_suffix or self.dtype != "float64" or not isinstance(arg, sp.Add):
            return None
        split = common_denominator(arg)
        if split is None or not split[1] & (split[1] - 1):     # a power of two is exact
            return None
        return split

    def _function_name(self, expr) -> str | None:
        name = self.function_names.get(type(expr).__name__)
        if name and self.wide_suffix and self._wide_argument(expr):
            return name + self.wide_suffix
        return name

    def _exp_like(self, print_with_base, expr) -> str:
        quotient = self._quotient(expr)
        if quotient is not None:
            return self._divided_call(expr, quotient)
        text = self._argument_of(expr)
        name = self._function_name(expr)
        if name:
            return f"{name}({text})"
        marker = sp.Symbol("ionc_argument")
        return print_with_base(expr.func(marker)).replace("ionc_argument", text)

    def _print_exprelr(self, expr):
        quotient = self._quotient(expr)
        if quotient is not None:
            return self._divided_call(expr, quotient)
        return f"{self._function_name(expr)}({self._argument_of(expr)})"

    def _divided_call(self, expr, quotient) -> str:
        """``name_div(numerator, d)``: the call that corrects the rounding of the
        division by ``d`` (see element.h.j2)."""
        numerator, den = quotient
        name = self.function_names[type(expr).__name__] + self.div_suffix
        return f"{name}({self._print(numerator)}, {self._denominator_literal(den)})"

    def _print_capped_rate(self, expr):
        return f"{self.function_names['capped_rate']}({self._print(expr.args[0])})"

    def _print_dexprelr(self, expr):
        return f"{self.function_names['dexprelr']}({self._print(expr.args[0])})"


class CPrinter(IoncPrinting, C99CodePrinter):
    """C99 for one floating type; knows ``exprelr`` and ``capped_rate``."""

    function_names = {"exprelr": "ionc_exprelr", "capped_rate": "ionc_capped_rate",
                      "dexprelr": "ionc_dexprelr",
                      "exp": "ionc_exp", "expm1": "ionc_expm1"}
    wide_suffix = "_wide"
    div_suffix = "_div"
    wide_format = "(ionc_wide){}"

    def __init__(self, dtype: str = "float64", settings=None):
        self.dtype = check_dtype(dtype)
        aliases = {real: float32 if self.dtype == "float32" else float64}
        super().__init__({"type_aliases": aliases, **(settings or {})})

    def _print_Rational(self, expr):
        if self._widen:        # the wide type's literal (a no-op where ionc_wide is double)
            return self.wide_format.format(float_literal(expr, "float64"))
        return float_literal(expr, self.dtype)

    _print_Integer = _print_Rational
    _print_Float = _print_Rational

    def _print_Pow(self, expr):
        base, exp = expr.as_base_exp()
        if exp.is_Integer and 1 <= abs(int(exp)) <= 4:
            b = self.parenthesize(base, sp.printing.precedence.PRECEDENCE["Mul"])
            prod = "*".join([b] * abs(int(exp)))
            if exp < 0:
                return f"{float_literal(1, self.dtype)}/({prod})"
            return prod if exp == 1 else f"({prod})"   # x/y**2 is x/(y*y), not x/y*y
        if exp == sp.Rational(1, 2):
            return f"{self._ns}sqrt{self._suffix()}({self._print(base)})"
        return super()._print_Pow(expr)

    def _print_Piecewise(self, expr):
        """A chain of selects on one line, which compilers vectorise as blends."""
        if expr.args[-1].cond != True:  # noqa: E712 - SymPy's true, not Python's
            raise ValueError(f"Piecewise without a default (True) branch: {expr}")
        text = self._print(expr.args[-1].expr)
        for value, cond in reversed(expr.args[:-1]):
            text = f"(({self._print(cond)}) ? {self._print(value)} : {text})"
        return text

    def _suffix(self) -> str:
        return "f" if self.dtype == "float32" else ""

    def _denominator_literal(self, den: int) -> str:
        return float_literal(den, self.dtype)

    def _divide(self, expr, numerator: str, den: int) -> str:
        """``(x - 40)/5`` in double inside a float32 kernel becomes ``(x - 40)*0.2``: a
        multiplication instead of a double division, and the result, rounded to float,
        is the same but in the rare case where the quotient lies within 1.5 double ulp
        of a float rounding boundary.  Powers of two and float64 kernels keep the
        division (exact, or one rounding fewer)."""
        if self._in_double(expr) and den & (den - 1):
            return f"{numerator}*(ionc_wide){float_literal(sp.Rational(1, den), 'float64')}"
        return super()._divide(expr, numerator, den)


class CudaPrinter(CPrinter):
    """CUDA device code: the same arithmetic as :class:`CPrinter`."""


class NumPyArrayPrinter(IoncPrinting, NumPyPrinter):
    """NumPy expressions over arrays (float32 intermediates widened to float64)."""

    function_names = {"exprelr": "_exprelr", "capped_rate": "_capped_rate",
                      "dexprelr": "_dexprelr"}
    wide_format = "numpy.float64({})"

    def __init__(self, dtype: str = "float64", settings=None):
        self.dtype = check_dtype(dtype)
        super().__init__(settings or {})

    def _print_Rational(self, expr):
        float_literal(expr, self.dtype)          # refuses a constant the type cannot hold
        return f"{float(expr)!r}"

    _print_Float = _print_Rational

    def _print_Integer(self, expr):
        float_literal(expr, self.dtype)
        return super()._print_Integer(expr)

    def _print_Pow(self, expr, rational=False):
        base, exp = expr.as_base_exp()
        if exp.is_Integer and 1 <= int(exp) <= 4:
            b = self.parenthesize(base, sp.printing.precedence.PRECEDENCE["Mul"])
            prod = "*".join([b] * int(exp))
            return prod if int(exp) == 1 else f"({prod})"   # x/y**2 is x/(y*y)
        return super()._print_Pow(expr, rational)

    def _denominator_literal(self, den: int) -> str:
        return f"{den!r}.0"


def _outside_calls(expr: sp.Basic) -> set:
    """The symbols of ``expr`` that are not inside a function call (a Piecewise is a
    select, not a call)."""
    if isinstance(expr, sp.Symbol):
        return {expr}
    if isinstance(expr, sp.Function) and not isinstance(expr, sp.Piecewise):
        return set()
    return set().union(*(_outside_calls(a) for a in expr.args)) if expr.args else set()


@dataclass(frozen=True)
class PrintedLoop:
    """An :class:`~.elements.Iteration` as text: its carried locals with their starting
    values, each pass's locals, the carried locals' updates and the exit condition."""

    carried: tuple[tuple[str, str, str], ...]     # (type, name, start)
    body: tuple[tuple[str, str, str], ...]        # (type, name, code)
    updates: tuple[tuple[str, str], ...]          # (carried, the body local it takes)
    until: str
    limit: int


@dataclass(frozen=True)
class PrintedFunction:
    """An element function as text: its locals, in order, its loop, and its outputs."""

    name: str
    inputs: tuple[str, ...]
    locals: tuple[tuple[str, str, str], ...]      # (type, name, code)
    outputs: tuple[tuple[str, str], ...]
    doc: str
    loop: PrintedLoop | None = None


def _ordered(assignments, available):
    """Assignments reordered so each comes after the symbols it uses."""
    pending, done = list(assignments), []
    available = set(available)
    while pending:
        for k, (sym, expr) in enumerate(pending):
            if expr.free_symbols <= available:
                done.append(pending.pop(k))
                available.add(sym)
                break
        else:
            raise ValueError(f"cyclic or undefined symbols in {pending}")
    return done


def _quotients_in_place(temps, reduced):
    """Common subexpressions that are an exponential's argument ``num/d`` (``d`` a
    constant that is not a power of two) put back into the calls, so that the printer
    can correct the rounding of the division (``ionc_exp_div``); the C compiler still
    computes the shared quotient and range reduction once."""
    def quotient(e) -> bool:
        split = isinstance(e, sp.Add) and common_denominator(e)
        return bool(split) and bool(split[1] & (split[1] - 1))
    defs = dict(temps)
    exprs = [e for _, e in temps] + list(reduced)
    inline = {}
    for e in exprs:
        for f in e.atoms(*EXP_LIKE):
            arg = f.args[0]
            if arg in defs and quotient(defs[arg]):
                inline[f] = f.func(defs[arg])
    if not inline:
        return temps, reduced
    temps = [(s, e.xreplace(inline)) for s, e in temps]
    reduced = [e.xreplace(inline) for e in reduced]
    used = set().union(*(e.free_symbols for e in reduced), *(e.free_symbols for _, e in temps))
    return [(s, e) for s, e in temps if s in used], reduced


def print_function(fn: ElementFunction, printer) -> PrintedFunction:
    """``fn`` with common subexpressions eliminated, printed by ``printer``.

    Locals named in ``fn.wide`` are computed in double precision from their
    inputs (type ``ionc_wide``): in float32 kernels ``x = V - V_sh`` is then
    exact, and the exponent arguments built from it are rounded once.  With
    ``fn.precise`` every local is (a linear solve run once per reset).  A
    constant that overflows the type is a :class:`SpecError` naming the
    function and the expression.
    """
    try:
        return _print_function(fn, printer, fn.wide)
    except SpecError as exc:
        raise SpecError(f"{fn.doc} ({fn.name}): {exc}") from None


def _print_function(fn: ElementFunction, printer, wide) -> PrintedFunction:
    taken = {s.name for s in fn.inputs} | {s.name for s, _ in fn.definitions}
    prefix = next(p for p in ("tmp", "cse", "ionc_tmp") if not any(t.startswith(p) for t in taken))
    exprs = [e for _, e in fn.definitions] + [e for _, e in fn.outputs]
    temps, reduced = sp.cse(exprs, symbols=sp.numbered_symbols(prefix, real=True), order="none")
    if getattr(printer, "div_suffix", "") and printer.dtype == "float64":
        temps, reduced = _quotients_in_place(temps, reduced)
    k = len(fn.definitions)
    named = list(zip((s for s, _ in fn.definitions), reduced[:k]))
    body = _ordered(list(temps) + named, fn.inputs)
    wide = set(wide) | ({s.name for s, _ in body} if fn.precise else set())
    promoted = set()        # double locals computed from double locals: printed as they are
    if getattr(printer, "dtype", "") == "float32":
        # a temporary that is the argument of an exponential keeps the double it is
        # computed in, so that exp's argument is rounded once, inside ionc_exp_wide
        arguments = {f.args[0] for e in [*reduced, *(t for _, t in temps)]
                     for f in e.atoms(*EXP_LIKE)}
        for s, e in body:
            if s in arguments and (V in e.free_symbols
                                   or any(x.name in wide for x in e.free_symbols)):
                wide.add(s.name)
                if V not in e.free_symbols:
                    promoted.add(s.name)

    def text(e, wide_local: bool = False) -> str:
        try:
            return printer.widened(e) if wide_local else printer.doprint(e)
        except SpecError as exc:
            raise SpecError(f"{exc}, in {e}") from None

    loop = None
    if fn.iteration is not None:
        hoisted, loop_body, updates = _loop_body(
            fn.iteration, {*fn.inputs, *(s for s, _ in body)}, taken)
        body = [*body, *hoisted]
        wide |= {s.name for s, _ in (*fn.iteration.carried, *hoisted, *loop_body)}

    printer.wide_symbols = frozenset(wide)

    def typed(assignments):
        return tuple(("ionc_wide", s.name, text(e, s.name not in promoted))
                     if s.name in wide else ("real", s.name, text(e)) for s, e in assignments)
    try:
        if fn.iteration is not None:
            loop = PrintedLoop(typed(fn.iteration.carried), typed(loop_body), updates,
                               text(fn.iteration.until), fn.iteration.limit)
        return PrintedFunction(
            name=fn.name,
            inputs=tuple(s.name for s in fn.inputs),
            locals=typed(body),
            outputs=tuple((name, text(e)) for (name, _), e in zip(fn.outputs, reduced[k:])),
            doc=fn.doc,
            loop=loop,
        )
    finally:
        printer.wide_symbols = frozenset()


def _loop_body(it, available: set, taken: set) -> tuple[list, list, tuple]:
    """A loop's pass with common subexpressions eliminated: ``(locals hoisted before the
    loop, the pass's locals, each carried local's update)``.  A local that reads no
    carried local (transitively) is hoisted; a condition is kept inside its select."""
    taken = taken | {s.name for s, _ in it.body}
    prefix = next(p for p in ("ltmp", "ionc_ltmp") if not any(t.startswith(p) for t in taken))
    exprs = [e for _, e in it.body] + list(it.next)
    temps, reduced = sp.cse(exprs, symbols=sp.numbered_symbols(prefix, real=True), order="none")
    conditions = {s: e for s, e in temps if isinstance(e, sp.logic.boolalg.Boolean)}
    if conditions:
        temps = [(s, e.xreplace(conditions)) for s, e in temps if s not in conditions]
        reduced = [e.xreplace(conditions) for e in reduced]
    k = len(it.body)
    carried = {s for s, _ in it.carried}
    ordered = _ordered(list(temps) + list(zip((s for s, _ in it.body), reduced[:k])),
                       available | carried)
    hoisted, body, moving = [], [], set(carried)
    for s, e in ordered:
        if e.free_symbols & moving:
            body.append((s, e))
            moving.add(s)
        else:
            hoisted.append((s, e))
    updates = []
    for (sym, _), e in zip(it.carried, reduced[k:]):
        if not isinstance(e, sp.Symbol):
            value, e = e, sp.Symbol(f"{sym.name}_next", real=True)
            body.append((e, value))
        updates.append((sym.name, e.name))
    return hoisted, body, tuple(updates)
