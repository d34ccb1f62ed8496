"""The string front end: channel text parsed as data, never evaluated.

:func:`parse` reads one expression with Python's :mod:`ast` and builds the
SymPy expression node by node from a whitelist: numbers (decimals become
exact rationals, as written), the names the spec declares, ``+ - * / **``,
comparisons with ``and``/``or``/``not`` inside ``a if cond else b``, and the
functions in :data:`FUNCTIONS`.  Nothing else - attributes, subscripts,
strings, lambdas, unknown names or functions - is accepted, so no text can
run code.  The work is bounded: the text's length, its nesting depth, the
size of literals and of integer powers of numbers are limited, so no text can
hang the parser either.
"""
from __future__ import annotations

import ast
import re
from typing import Callable, Mapping

import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p

from .functions import exprelr
from .spec import MAX_STATES, ChannelSpec, Gate, SpecError, V, is_condition, symbol

#: The longest expression text accepted, in characters.
MAX_LENGTH = 10_000
#: The deepest nesting of the expression tree accepted.
MAX_DEPTH = 200
#: The largest magnitude of a numeric exponent of a non-numeric base (``m**3``).
MAX_EXPONENT = 64
#: The most digits a numeric literal may have.
MAX_DIGITS = 400

#: Functions the string syntax knows, by name, with their number of arguments.
FUNCTIONS: dict[str, tuple[Callable, int]] = {
    "exp": (sp.exp, 1), "expm1": (expm1, 1), "log": (sp.log, 1), "log1p": (log1p, 1),
    "sqrt": (sp.sqrt, 1), "abs": (sp.Abs, 1), "fabs": (sp.Abs, 1),
    "sin": (sp.sin, 1), "cos": (sp.cos, 1), "tan": (sp.tan, 1),
    "sinh": (sp.sinh, 1), "cosh": (sp.cosh, 1), "tanh": (sp.tanh, 1),
    "pow": (sp.Pow, 2), "min": (sp.Min, 2), "max": (sp.Max, 2), "exprelr": (exprelr, 1),
}
#: Named constants (a spec name of the same spelling takes precedence).
CONSTANTS = {"pi": sp.pi}

_BINARY = {ast.Add: sp.Add, ast.Sub: lambda a, b: a - b, ast.Mult: sp.Mul,
           ast.Div: lambda a, b: a / b}
_COMPARE = {ast.Lt: sp.Lt, ast.LtE: sp.Le, ast.Gt: sp.Gt, ast.GtE: sp.Ge,
            ast.Eq: sp.Eq, ast.NotEq: sp.Ne}


def _power(base: sp.Expr, exponent: sp.Expr, text: str) -> sp.Expr:
    """``base ** exponent``, refused when it would be a huge number or a huge expansion."""
    if exponent.is_number and not exponent.is_finite:
        raise SpecError(f"{text!r}: the exponent {exponent} is not finite")
    if not base.is_number and exponent.is_number and abs(exponent) > MAX_EXPONENT:
        raise SpecError(f"{text!r}: the exponent {exponent} is too large (at most "
                        f"{MAX_EXPONENT} in magnitude)")
    if base.is_number and exponent.is_number and base != 0 and exponent.is_Rational:
        # |base|^exponent must stay a reasonably sized number
        digits = abs(float(exponent)) * abs(float(sp.log(abs(base), 10)))
        if digits > MAX_DIGITS:
            raise SpecError(f"{text!r}: {base}**{exponent} has about {digits:.0f} digits; "
                            f"constants are limited to {MAX_DIGITS} digits")
    return sp.Pow(base, exponent)


def parse(text: str, names, where: str = "expression") -> sp.Expr:
    """``text`` as a SymPy expression over the real symbols ``names`` (and ``V``).

    A :class:`SpecError` names ``where`` and the problem for anything outside
    the whitelist: an unknown name or function, a syntax error, a forbidden
    construct, or a term too large to build.
    """
    if isinstance(text, bool) or text is None:
        raise SpecError(f"{where} must be a string or a number, got {text!r}")
    if isinstance(text, (int, float)):
        return sp.nsimplify(text, rational=True) if isinstance(text, float) else sp.Integer(text)
    if not isinstance(text, str):
        raise SpecError(f"{where} must be a string or a number, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise SpecError(f"{where}: the text is {len(text)} characters long; at most "
                        f"{MAX_LENGTH} are accepted")
    digits = max((len(run) for run in re.findall(r"[0-9_]+", text)), default=0)
    if digits > MAX_DIGITS:
        raise SpecError(f"{where}: a literal has too many digits ({digits}; at most "
                        f"{MAX_DIGITS})")
    symbols = {n: symbol(n) for n in names}
    symbols["V"] = V
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        shown = text if len(text) <= 80 else text[:77] + "..."
        raise SpecError(f"{where}: cannot parse {shown!r}: {exc}") from None

    def node_text(node) -> str:
        return ast.get_source_segment(text.strip(), node) or text

    def build(node, depth: int = 0) -> sp.Basic:
        if depth > MAX_DEPTH:
            raise SpecError(f"{where}: {text[:60]!r}... is nested too deeply")
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise SpecError(f"{where}: {value!r} is not a number")
            literal = node_text(node)
            if sum(c.isdigit() for c in literal) > MAX_DIGITS:
                raise SpecError(f"{where}: the literal {literal[:40]}... has too many digits")
            if isinstance(value, int):
                return sp.Integer(value)
            if value == float("inf"):
                raise SpecError(f"{where}: the literal {literal} overflows a double")
            try:
                return sp.Rational(literal.replace("_", ""))
            except (TypeError, ValueError):
                return sp.nsimplify(value, rational=True)
        if isinstance(node, ast.Name):
            if node.id in symbols:
                return symbols[node.id]
            if node.id in CONSTANTS:
                return CONSTANTS[node.id]
            hint = " (it is a function)" if node.id in FUNCTIONS else ""
            raise SpecError(f"{where} uses unknown symbol(s) [{node.id!r}]{hint}; known: "
                            f"{sorted(symbols)}")
        if isinstance(node, ast.BinOp):
            a, b = build(node.left, depth + 1), build(node.right, depth + 1)
            if isinstance(node.op, ast.Pow):
                return _power(a, b, node_text(node))
            op = _BINARY.get(type(node.op))
            if op is None:
                raise SpecError(f"{where}: the operator {type(node.op).__name__} is not "
                                f"allowed (use + - * / **)")
            return op(a, b)
        if isinstance(node, ast.UnaryOp):
            value = build(node.operand, depth + 1)
            if isinstance(node.op, ast.USub):
                return -value
            if isinstance(node.op, ast.UAdd):
                return value
            if isinstance(node.op, ast.Not):
                return sp.Not(value)
            raise SpecError(f"{where}: the operator {type(node.op).__name__} is not allowed")
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
                name = node.func.id if isinstance(node.func, ast.Name) else ast.dump(node.func)
                raise SpecError(f"{where}: unknown function {name!r}; known: "
                                f"{', '.join(sorted(FUNCTIONS))}")
            fn, arity = FUNCTIONS[node.func.id]
            if node.keywords or len(node.args) != arity or any(
                    isinstance(a, ast.Starred) for a in node.args):
                raise SpecError(f"{where}: {node.func.id} takes {arity} positional "
                                f"argument(s)")
            args = [build(a, depth + 1) for a in node.args]
            if fn is sp.Pow:
                return _power(*args, node_text(node))
            return fn(*args)
        if isinstance(node, ast.Compare):
            terms = [build(node.left, depth + 1)] + [build(c, depth + 1)
                                                      for c in node.comparators]
            parts = [_COMPARE[type(op)](a, b) for op, a, b in
                     zip(node.ops, terms, terms[1:]) if type(op) in _COMPARE]
            if len(parts) != len(node.ops):
                raise SpecError(f"{where}: only < <= > >= == != comparisons are allowed")
            return sp.And(*parts)
        if isinstance(node, ast.BoolOp):
            values = [build(v, depth + 1) for v in node.values]
            return sp.And(*values) if isinstance(node.op, ast.And) else sp.Or(*values)
        if isinstance(node, ast.IfExp):
            cond = build(node.test, depth + 1)
            if not is_condition(cond):
                raise SpecError(f"{where}: the condition of 'a if cond else b' must be a "
                                f"comparison, got {node_text(node.test)!r}")
            return sp.Piecewise((build(node.body, depth + 1), cond),
                                (build(node.orelse, depth + 1), True))
        raise SpecError(f"{where}: {type(node).__name__} is not allowed in a channel "
                        f"expression ({node_text(node)!r})")

    try:
        result = build(tree.body)
    except SpecError:
        raise
    except (RecursionError, MemoryError, OverflowError, TypeError, ValueError) as exc:
        raise SpecError(f"{where}: cannot build {text[:80]!r}: {exc}") from None
    if is_condition(result):
        raise SpecError(f"{where}: {text!r} is a condition, not a value")
    return result


def spec_from_strings(name: str, parameters: Mapping[str, float], gates: Mapping[str, dict],
                      current: str, temperature_factor: str = "1",
                      intermediates: Mapping[str, str] | None = None, doc: str = "",
                      inputs: Mapping[str, float] | None = None) -> ChannelSpec:
    """A :class:`ChannelSpec` from plain strings (parsed as data, see :func:`parse`).

    ``gates`` maps a gate name to ``{"alpha": str, "beta": str}``,
    ``{"inf": str, "tau": str}`` or ``{"ode": str}``, plus an optional
    ``"power"`` and ``"factor"`` (the gate's own temperature factor).
    ``inputs`` names per-call inputs beyond V with their defaults.  Example::

        spec_from_strings("INa", {"g_max": 90.0, "E": 50.0, "V_sh": -50.0},
                          {"m": {"alpha": "0.32*(V - V_sh - 13)/(1 - exp(-(V - V_sh - 13)/4))",
                                 "beta": "0.28*(V - V_sh - 40)/(exp((V - V_sh - 40)/5) - 1)",
                                 "power": 3}},
                          current="g_max*m**3*(E - V)")
    """
    if not isinstance(gates, Mapping):
        raise SpecError(f"channel {name!r}: gates must be a mapping of gate name -> fields, "
                        f"got {type(gates).__name__}")
    if len(gates) > MAX_STATES:
        raise SpecError(f"channel {name!r}: {len(gates)} gates, more than the {MAX_STATES} "
                        f"one channel may have")
    intermediates = dict(intermediates or {})
    inputs = dict(inputs or {})
    names = [*parameters, *inputs, *intermediates, *gates]
    inter = {k: parse(v, names, f"channel {name!r}: intermediate {k!r}")
             for k, v in intermediates.items()}
    gate_objs = []
    for gate, fields in gates.items():
        if not isinstance(fields, Mapping):
            raise SpecError(f"channel {name!r}: gate {gate!r} must map field names to "
                            f"expressions, got {fields!r}")
        unknown = set(fields) - {"alpha", "beta", "inf", "tau", "ode", "power", "factor"}
        if unknown:
            raise SpecError(f"channel {name!r}: gate {gate!r}: unknown field(s) "
                            f"{sorted(unknown)}")
        exprs = {k: parse(v, names, f"channel {name!r}: gate {gate!r}: {k}")
                 for k, v in fields.items() if k != "power"}
        power = fields.get("power", 1)
        if isinstance(power, bool) or not isinstance(power, int):
            raise SpecError(f"channel {name!r}: gate {gate!r}: power must be an int, got "
                            f"{power!r}")
        gate_objs.append(Gate(gate, power=power, **exprs))
    return ChannelSpec(name=name, parameters=dict(parameters), gates=tuple(gate_objs),
                       current=parse(current, names, f"channel {name!r}: current"),
                       temperature_factor=parse(temperature_factor, names,
                                                f"channel {name!r}: temperature factor"),
                       intermediates=inter, doc=doc, inputs=inputs)
