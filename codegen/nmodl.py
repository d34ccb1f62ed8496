"""NMODL front end: a NEURON ``.mod`` density mechanism to a :class:`ChannelSpec`.

Parsing is NEURON's own: the NMODL framework the ``neuron`` wheel ships
(``neuron.nmodl``).  Its AST (as JSON) is walked here and the file's blocks are
executed symbolically: PROCEDURE and FUNCTION calls are inlined with their own
LOCAL scope (an argument named ``v`` is a local copy), ``if``/``else`` becomes a
``Piecewise``, ASSIGNED variables carry their values from block to block as
NEURON computes them (INITIAL, then DERIVATIVE, then BREAKPOINT).  The result is
a spec whose gates are the STATEs, given as ODEs (``m' = (minf - m)/mtau``),
whose parameters are the PARAMETERs, ``celsius`` and the ion variables the file
READs (NEURON's defaults, not the file's), and whose inputs are the
concentrations it reads.  The spec's current is in ionc's convention (uA/cm2,
inward positive: ``-1000`` times the file's total, so that ``.mod`` channels
mix with the library's in a neuron); ``NmodlChannel.currents`` keeps the file's
own (mA/cm2, outward positive).

Hand-written guards of removable singularities are recognised and replaced by
the exact formula they protect, whose 0/0 the compiler then removes exactly:
a ``vtrap``-style branch on ``fabs(x) < eps`` and an equality nudge
``if (v == c) { v = v + d }``.  Each is reported.  Everything else the subset
does not cover is refused with the construct and its line.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

import sympy as sp

from .budget import at, check_deadline, time_bound
from .nmodl_unroll import UnrollError, unroll
from .spec import (MAX_STATES, TASK_NAMES, V, ChannelSpec, Gate, Ion, KineticScheme, Reaction,
                   SpecError, dt, symbol)

#: NEURON's own values of the variables it ignores PARAMETER defaults for.
NEURON_DEFAULTS = {"celsius": 6.3, "ena": 50.0, "ek": -77.0, "cai": 5e-5, "cao": 2.0,
                   "nai": 10.0, "nao": 140.0, "ki": 54.4, "ko": 2.5}
#: NEURON's default reversal potentials (mV), its DEF_ena, DEF_ek and DEF_eca (12.5 log(2/5e-5)).
NEURON_POTENTIALS = {"ena": 50.0, "ek": -77.0, "eca": 132.4579341637009}
#: Unit factors a UNITS block may define, by (from, to), as NEURON 9's units library.
FARADAY = sp.Rational("96485.33212331001")
UNIT_FACTORS = {("faraday", "coulomb"): FARADAY, ("faraday", "coulombs"): FARADAY,
                ("faraday", "kilocoulombs"): FARADAY / 1000,
                ("k-mole", "joule/degc"): sp.Rational("8.31446261815324"),
                ("k", "joule/degc"): sp.Rational("1.380649e-23"),
                ("e", "coulomb"): sp.Rational("1.602176634e-19"),
                ("e", "coulombs"): sp.Rational("1.602176634e-19"),
                ("pi", "1"): sp.Rational(repr(math.pi))}
#: Blocks and statements outside the subset, by the NMODL AST's type name.
REFUSED = {"NetReceiveBlock": "NET_RECEIVE", "Verbatim": "VERBATIM",
           "WhileStatement": "WHILE loop",
           "PointProcess": "POINT_PROCESS", "NonLinearBlock":
           "NONLINEAR", "DiscreteBlock": "DISCRETE", "PartialBlock": "PARTIAL",
           "FunctionTableBlock": "FUNCTION_TABLE", "ArtificialCell": "ARTIFICIAL_CELL",
           "BeforeBlock": "BEFORE", "AfterBlock": "AFTER", "ForNetcon": "FOR_NETCONS",
           "ConstructorBlock": "CONSTRUCTOR", "DestructorBlock": "DESTRUCTOR",
           "WatchStatement": "WATCH", "MutexLock": "MUTEXLOCK",
           "LonDifuse": "LONGITUDINAL_DIFFUSION",
           "BbcoreSerializeBlock": "BBCOREPOINTER", "Pointer": "POINTER"}
#: NMODL functions and their SymPy counterparts.
FUNCTIONS = {"exp": sp.exp, "log": sp.log, "sqrt": sp.sqrt, "fabs": sp.Abs,
             "pow": lambda a, b: a ** b, "log10": lambda a: sp.log(a, 10),
             "tanh": sp.tanh, "sin": sp.sin, "cos": sp.cos}
#: NMODL methods of SOLVE and the ionc method each becomes.
METHODS = {"cnexp": "exp_auto", "euler": "euler", "derivimplicit": "implicit_euler",
           "sparse": "sparse"}
#: A branch on |x| < eps with eps at most this is a singularity guard.
GUARD_EPS = 1e-3


@dataclass(frozen=True)
class NmodlChannel:
    """What the front end made of a ``.mod`` file."""

    spec: ChannelSpec
    suffix: str
    method: str                                   # ionc's method for the file's SOLVE
    solve: str                                    # the file's method
    ions: dict                                    # ion -> (reads, writes)
    currents: dict                                # current variable -> expression (mA/cm2)
    notes: tuple[str, ...] = field(default=())    # guards replaced, TABLEs, methods
    guards: tuple = field(default=())             # (description, zero expression, condition)
    limits: dict = field(default_factory=dict)    # PARAMETER <lo, hi> by name


def _kind(node: dict) -> str:
    return next(iter(node))


def _kids(node: dict) -> list:
    value = node[_kind(node)]
    return value if isinstance(value, list) else []


def _name(node: dict) -> str:
    """The identifier under a Name, VarName, String or PrimeName node."""
    k = _kind(node)
    if k in ("String", "Integer", "Double") or "name" in node:
        return node.get("name") if "name" in node else _kids(node)[0]["name"]
    return _name(_kids(node)[0])


#: The most digits a constant power may have (``10^(10^5)`` is refused, not expanded).
MAX_POWER_DIGITS = 400


def _power(a: sp.Expr, b: sp.Expr) -> sp.Expr:
    """``a ^ b``; a SpecError for a power of numbers too large to compute."""
    if a.is_number and b.is_number and a not in (0, 1, -1):
        try:
            digits = abs(float(b)) * abs(math.log10(abs(float(a))))
        except (OverflowError, ValueError, TypeError):
            digits = math.inf
        if digits > MAX_POWER_DIGITS:
            size = f"about {digits:.3g}" if digits < math.inf else "too many"
            raise SpecError(f"the constant power {a}^{b} has {size} digits (at most "
                            f"{MAX_POWER_DIGITS})")
    return a ** b


def _names_in(node) -> set:
    """Every identifier written in the subtree ``node`` (as the text has it)."""
    found = set()
    if isinstance(node, dict):
        if "name" in node and isinstance(node["name"], str):
            found.add(node["name"])
        for key, value in node.items():
            if key != "nmodl":
                found |= _names_in(value)
    elif isinstance(node, list):
        for item in node:
            found |= _names_in(item)
    return found


def _leaf(node: dict) -> str:
    """The text of a leaf (a number, an operator)."""
    return _kids(node)[0]["name"]


def _number(text: str) -> sp.Expr:
    return sp.Integer(int(text)) if re.fullmatch(r"[+-]?\d+", text) else sp.Rational(text)


class _Undefined:
    """A variable assigned on some branches only."""


UNDEFINED = _Undefined()


def _side(node: dict) -> tuple[tuple[str, int], ...]:
    """A reaction side (``2cai + pump``) as ``((state, count), ...)``."""
    if _kind(node) == "BinaryExpression":
        a, _, b = _kids(node)
        return _side(a) + _side(b)
    if _kind(node) == "WrappedExpression":
        return _side(_kids(node)[0])
    if _kind(node) != "ReactVarName":
        raise SpecError("a reaction side must be states joined by +")
    kids = _kids(node)
    count = int(_leaf(kids[0])) if _kind(kids[0]) == "Integer" else 1
    return ((_name(kids[-1]), count),)


class _SchemeParts:
    """What running a KINETIC (or LINEAR) block gives: reactions with their rate
    expressions and the lines they are on, conservation laws, volumes, equations."""

    def __init__(self):
        self.reactions: list = []     # (reactants, products, forward, backward, rate names)
        self.conserve: list = []      # (lhs expression, total)
        self.volumes: dict = {}
        self.equations: list = []     # a LINEAR block's: expression == 0
        self.flux = (sp.Integer(0), sp.Integer(0))   # NMODL's f_flux, b_flux: the last's

    def add(self, kind: str, kids: list, scope: dict, interp: "_Interpreter") -> None:
        if kind == "Compartment":
            volume = interp.expr(kids[0], scope)
            for name in kids[1:]:
                self.volumes[_name(name)] = volume
        elif kind == "Conserve":
            self.conserve.append((interp.expr(kids[0], scope), interp.expr(kids[1], scope)))
        else:
            op = _leaf(kids[1])
            if op == "<<":
                self.reactions.append(((), _side(kids[0]), interp.expr(kids[2], scope),
                                       sp.Integer(0), (None, None)))
                self.flux = (sp.Integer(0), self.reactions[-1][2])
            elif op == "<->":
                names = tuple(_name(r) if _kind(r) == "VarName" else None for r in kids[3:5])
                lhs, rhs = _side(kids[0]), _side(kids[2])
                kf, kb = interp.expr(kids[3], scope), interp.expr(kids[4], scope)
                self.reactions.append((lhs, rhs, kf, kb, names))
                self.flux = tuple(k * sp.Mul(*(symbol(n) ** c for n, c in side))
                                  for k, side in ((kf, lhs), (kb, rhs)))
            else:
                raise SpecError(f"reaction operator {op!r} is not supported (<-> and <<)")


class _Interpreter:
    """Symbolic execution of the file's blocks."""

    def __init__(self, functions: dict, procedures: dict, known: dict, constants: dict,
                 keep_guards: bool = False, source: "_Source | None" = None):
        self.functions, self.procedures = functions, procedures
        self.source = source          # for the line of a statement in errors
        self.assigned: set = set()    # ASSIGNED names (read as 0 in INITIAL before set)
        self.unmentioned: set = set()  # states whose equation's text does not name them
        self.on_solve = None          # called with a SOLVE statement met while running
        self.scheme: _SchemeParts | None = None   # collects a KINETIC block's reactions
        self.written_currents: set = set()        # ion currents the file writes
        self.in_initial = False
        self.keep_guards = keep_guards    # as written (the lint), not as compiled
        self.known = known            # global name -> symbol (parameters, states, inputs, v)
        self.assignable: set = set()  # PARAMETERs a block assigns (a computed value then)
        self.file_locals: dict = {}   # file-level LOCAL -> its line
        self.constants = constants
        self.globals: dict = {}       # ASSIGNED values computed so far
        self.depth = 0
        self.notes: list[str] = []    # guards replaced
        self.guards: list = []        # (description, the expression that is zero there)

    # ---- expressions -----------------------------------------------------
    def value(self, name: str, scope: dict):
        if name in ("f_flux", "b_flux") and self.scheme is not None:
            return self.scheme.flux[name == "b_flux"]
        for table in (scope, self.globals):
            if name in table:
                if table[name] is UNDEFINED:
                    raise SpecError(f"{name} is used where it may be unassigned (set on some "
                                    f"branches of an if only)")
                return table[name]
        if name in self.constants:
            return self.constants[name]
        if name in self.known:
            return self.known[name]
        if name in self.file_locals:
            raise SpecError(f"file-level LOCAL {name} (line {self.file_locals[name]}) is read "
                            f"before it is assigned: it keeps state between calls, which is "
                            f"not supported by ionc's NMODL front end")
        if self.in_initial and name in self.assigned:
            self.notes.append(f"ASSIGNED {name} is read in INITIAL before it is set: 0, as "
                              f"NEURON reads it at the first finitialize")
            return sp.Integer(0)
        if name in self.written_currents:
            raise SpecError(f"{name}, a current this mechanism writes, is read before it is "
                            f"assigned (NEURON's value from the last step): not supported")
        raise SpecError(f"{name} is used before it is assigned")

    def expr(self, node: dict, scope: dict) -> sp.Expr:
        k = _kind(node)
        kids = _kids(node)
        if k in ("WrappedExpression", "ParenExpression"):
            return self.expr(kids[0], scope)
        if k in ("Integer", "Double"):
            return _number(_leaf(node) if kids else node["name"])
        if k == "DoubleUnit":
            return self.expr(kids[0], scope)
        if k in ("VarName", "Name"):
            if kids and _kind(kids[0]) == "IndexedName":
                raise SpecError("arrays are not supported")
            return self.value(_name(node), scope)
        if k == "UnaryExpression":
            op, operand = _leaf(kids[0]), self.expr(kids[1], scope)
            return sp.Not(operand) if op == "!" else -operand
        if k == "BinaryExpression":
            op = _leaf(kids[1])
            a, b = self.expr(kids[0], scope), self.expr(kids[2], scope)
            ops = {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b,
                   "/": lambda: a / b, "^": lambda: _power(a, b), "<": lambda: sp.Lt(a, b),
                   ">": lambda: sp.Gt(a, b), "<=": lambda: sp.Le(a, b),
                   ">=": lambda: sp.Ge(a, b), "==": lambda: sp.Eq(a, b),
                   "!=": lambda: sp.Ne(a, b), "&&": lambda: sp.And(a, b),
                   "||": lambda: sp.Or(a, b)}
            if op not in ops:
                raise SpecError(f"operator {op!r} is not supported")
            return ops[op]()
        if k == "ReactVarName":          # a state in a reaction or CONSERVE: [count] name
            count = _number(_leaf(kids[0])) if _kind(kids[0]) == "Integer" else 1
            return count * self.expr(kids[-1], scope)
        if k == "FunctionCall":
            name = _name(kids[0])
            args = [self.expr(a, scope) for a in kids[1:]]
            if name in self.functions:
                return self.call(self.functions[name], args, returns=name)
            if name in FUNCTIONS:
                return FUNCTIONS[name](*args)
            raise SpecError(f"call of {name}(), which is neither a FUNCTION of the file nor "
                            f"one of {sorted(FUNCTIONS)}")
        raise SpecError(f"{REFUSED.get(k, k)} is not supported in an expression")

    # ---- statements ------------------------------------------------------
    def call(self, block: dict, args: list, returns: str | None = None,
             statement: bool = False):
        """Inline a FUNCTION (its value) or a PROCEDURE (its effect on ASSIGNED values)."""
        kids = _kids(block)
        params = [_name(_kids(a)[0]) for a in kids if _kind(a) == "Argument"]
        if len(params) != len(args):
            raise SpecError(f"{_name(kids[0])}() takes {len(params)} argument(s), got "
                            f"{len(args)}")
        self.depth += 1
        if self.depth > 50:
            raise SpecError("FUNCTION/PROCEDURE calls nest too deep (recursion?)")
        scope = dict(zip(params, args))
        if returns:
            scope[returns] = UNDEFINED
        body = next(k for k in kids if _kind(k) == "StatementBlock")
        self.run(body, scope)
        self.depth -= 1
        if returns and not statement:
            return self.value(returns, scope)
        return None

    def run(self, block: dict, scope: dict, derivatives: dict | None = None) -> None:
        for stmt in _kids(block):
            self.statement(stmt, scope, derivatives)

    def assign(self, name: str, value, scope: dict) -> None:
        if name in scope:
            scope[name] = value
        elif name == "v":
            # NEURON gives each block's run its own copy of v: a PROCEDURE that shifts
            # it shifts what the rest of that run reads, never the membrane
            self.globals["v"] = value
        elif name in self.known and name not in self.assignable:
            raise SpecError(f"assignment to {name}, which is not an ASSIGNED variable or a "
                            f"LOCAL (STATEs outside INITIAL and v cannot be set; a PROCEDURE "
                            f"argument v is a local copy)")
        else:
            self.globals[name] = value

    def statement(self, stmt: dict, scope: dict, derivatives: dict | None) -> None:
        try:
            check_deadline()
            if self.source is not None:
                at(self.source.where(stmt))
            self._statement(stmt, scope, derivatives)
        except SpecError as exc:
            if self.source is None or "line " in str(exc):
                raise
            raise SpecError(f"{exc} ({self.source.where(stmt)})") from None

    def _statement(self, stmt: dict, scope: dict, derivatives: dict | None) -> None:
        k = _kind(stmt)
        kids = _kids(stmt)
        if k in ("LineComment", "BlockComment", "UnitState", "TableStatement",
                 "ProtectStatement"):
            return
        if k == "LocalListStatement":
            for var in kids:
                scope[_name(var)] = UNDEFINED
            return
        if k == "ExpressionStatement":
            inner = kids[0]
            while _kind(inner) == "WrappedExpression":
                inner = _kids(inner)[0]
            if _kind(inner) == "SolveBlock":
                if self.on_solve is not None:
                    self.on_solve(inner, stmt)
                return
            if _kind(inner) == "LinEquation":
                if self.scheme is None:
                    raise SpecError("a ~ equation outside a LINEAR block")
                lhs, rhs = _kids(inner)
                self.scheme.equations.append(self.expr(lhs, scope) - self.expr(rhs, scope))
                return
            if _kind(inner) == "DiffEqExpression":
                eq = _kids(inner)[0]
                lhs, rhs = _kids(eq)[0], _kids(eq)[2]
                if derivatives is None:
                    raise SpecError("a derivative outside a DERIVATIVE block")
                state = _name(lhs)
                derivatives[state] = self.expr(rhs, scope)
                if state not in _names_in(rhs):
                    self.unmentioned.add(state)
                return
            if _kind(inner) == "FunctionCall":
                name = _name(_kids(inner)[0])
                args = [self.expr(a, scope) for a in _kids(inner)[1:]]
                if name in self.procedures:
                    self.call(self.procedures[name], args)
                elif name in self.functions:   # called for its effect: the value is unused
                    self.call(self.functions[name], args, returns=name, statement=True)
                else:
                    raise SpecError(f"call of {name}(), which is not a PROCEDURE of the file")
                return
            if _kind(inner) == "BinaryExpression" and _leaf(_kids(inner)[1]) == "=":
                target = _kids(inner)[0]
                self.assign(_name(target), self.expr(_kids(inner)[2], scope), scope)
                return
        if k == "IfStatement":
            self.branch(kids, scope, derivatives)
            return
        if k == "SolveBlock":
            return
        if k in ("ReactionStatement", "Conserve", "Compartment"):
            if self.scheme is None:
                raise SpecError(f"{k} outside a KINETIC block")
            self.scheme.add(k, kids, scope, self)
            return
        raise SpecError(f"{REFUSED.get(k, k)} is not supported")

    def branch(self, kids: list, scope: dict, derivatives) -> None:
        """``if``/``else if``/``else``: each branch on a copy, merged as a Piecewise."""
        arms = [(self.expr(kids[0], scope), kids[1])]
        default = None
        for part in kids[2:]:
            if _kind(part) == "ElseIfStatement":
                arms.append((self.expr(_kids(part)[0], scope), _kids(part)[1]))
            elif _kind(part) == "ElseStatement":
                default = _kids(part)[0]
        reverse = _reversed_guard(arms[0][0]) if len(arms) == 1 and not self.keep_guards else None
        if reverse:
            # if (v != c) or if (|x| > eps) { exact formula } else { its limit }: a guard,
            # reversed; the exact formula is kept everywhere
            guard, zero, guarded = reverse
            self.notes.append(f"{guard}: the exact formula is used at the point too, whose 0/0 "
                              f"is removed exactly")
            self.guards.append((guard, zero, guarded))
            self.run(arms[0][1], scope, derivatives)
            return
        kept = []
        for cond, body in arms:
            if cond == sp.false:          # decided by constant arguments: i == 1 with i = 0
                continue
            if cond == sp.true:
                default = body
                break
            guard = "" if self.keep_guards else _guard(cond)
            if guard:   # the guarded branch approximates the formula the else-branch gives
                self.notes.append(f"{guard}: replaced by the exact formula, whose 0/0 is "
                                  f"removed exactly")
                self.guards.append((guard, guard_zero(cond), cond))
            else:
                kept.append((cond, body))
        if not kept:
            if default is not None:
                self.run(default, scope, derivatives)
            return
        arms = kept
        results = []
        for cond, body in arms + [(sp.true, default)]:
            s, g = dict(scope), dict(self.globals)
            saved = self.globals
            self.globals = g
            if body is not None:
                self.run(body, s, derivatives)
            self.globals = saved
            results.append((cond, s, g))
        for table, pick in ((scope, 1), (self.globals, 2)):
            names = set().union(*(r[pick] for r in results)) - {"__"}
            for name in names:
                values = [r[pick].get(name, UNDEFINED) for r in results]
                if all(v is values[0] for v in values):
                    if name in table or values[0] is not UNDEFINED:
                        table[name] = values[0]
                    continue
                if any(v is UNDEFINED for v in values):
                    table[name] = UNDEFINED
                    continue
                table[name] = sp.Piecewise(*[(v, r[0]) for v, r in zip(values, results)])


def _small_abs(cond):
    """``(x, eps)`` when ``cond`` is ``|x| < eps`` (or ``eps > |x|``) with a small positive
    eps; SymPy may have pulled constant factors out of the Abs (``c |V| < eps``)."""
    if isinstance(cond, (sp.StrictLessThan, sp.LessThan)):
        side, eps = cond.lhs, cond.rhs
    elif isinstance(cond, (sp.StrictGreaterThan, sp.GreaterThan)):
        side, eps = cond.rhs, cond.lhs
    else:
        return None
    if not (side.has(sp.Abs) and eps.is_number and 0 < float(eps) <= GUARD_EPS):
        return None
    return side.replace(sp.Abs, lambda x: x), eps


def _reversed_guard(cond) -> tuple[str, sp.Expr, sp.Basic] | None:
    """``(description, the expression that is zero at the point, the condition of the
    approximating branch)`` when ``cond`` selects the exact formula away from a guarded
    point (``v != c``, ``|x| > eps``), else None."""
    if isinstance(cond, sp.Ne) and V in cond.free_symbols:
        return (f"equality guard at {cond.lhs} != {cond.rhs}", cond.lhs - cond.rhs,
                sp.Eq(cond.lhs, cond.rhs))
    small = _small_abs(cond.negated) if isinstance(cond, sp.core.relational.Relational) else None
    if small:
        return (f"guard |{small[0]}| > {small[1]}", small[0], cond.negated)
    return None


def _nudges(cond) -> tuple | None:
    """The equalities of an equality nudge (``v == c``, or several joined by ``||``)."""
    parts = cond.args if isinstance(cond, sp.Or) else (cond,)
    if all(isinstance(p, sp.Eq) and V in p.free_symbols for p in parts):
        return parts
    return None


def _guard(cond) -> str:
    """A description when ``cond`` is a singularity guard, else ''."""
    small = _small_abs(cond)
    if small:
        return f"guard |{small[0]}| < {small[1]}"
    nudges = _nudges(cond)
    if nudges:
        return "equality nudge at " + " or ".join(f"{p.lhs} == {p.rhs}" for p in nudges)
    return ""


def guard_zero(cond) -> sp.Expr | None:
    """The expression a guard protects the zero of (inside the Abs; lhs - rhs of a nudge,
    their product for several), or None when ``cond`` is not a guard."""
    nudges = _nudges(cond)
    if nudges:
        return sp.Mul(*(p.lhs - p.rhs for p in nudges))
    small = _small_abs(cond)
    return small[0] if small else None


#: The largest ``.mod`` or INCLUDEd file read (bytes).
MAX_FILE_BYTES = 4 << 20
_INCLUDE = re.compile(r'^\s*INCLUDE\s+"([^"]*)"', re.MULTILINE)


def read_source(path: str | os.PathLike) -> str:
    """The text of the NMODL file at ``path``: a regular file of at most
    :data:`MAX_FILE_BYTES` (a FIFO or a device is refused, not read); an OSError names it."""
    path = Path(path)
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(f"cannot read {path}: not a regular file")
        if st.st_size > MAX_FILE_BYTES:
            raise OSError(f"cannot read {path}: {st.st_size} bytes, more than the "
                          f"{MAX_FILE_BYTES >> 20} MiB an NMODL file may have")
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        if str(exc).startswith("cannot read"):
            raise
        raise OSError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


@dataclass
class _Source:
    """The text the parser reads (INCLUDEs expanded) and, per line, its file and line."""

    text: str
    origin: list                                  # (file label, line) per line of text

    def line(self, number: int) -> str:
        """``line N`` of the file, or ``file.inc line N`` for an included line."""
        if not 0 < number <= len(self.origin):
            return "line ?"
        label, line = self.origin[number - 1]
        return f"{label} line {line}" if label else f"line {line}"

    def where(self, node: dict) -> str:
        """Where the statement ``node`` is (its first line found in the text)."""
        first = str(node.get("nmodl", "")).split("\n")[0]
        wanted = re.sub(r"\s+", "", first)
        if wanted:
            for i, line in enumerate(self.text.splitlines(), 1):
                if wanted in re.sub(r"\s+", "", line.split(":")[0]):
                    return self.line(i)
        return "line ?"


def expand_includes(text: str, path: Path | None, depth: int = 0, root: Path | None = None,
                    label: str = "") -> _Source:
    """``text`` with each ``INCLUDE "file"`` replaced by the file: relative to the
    including file's folder and inside the top file's folder tree, a regular file of
    bounded size; text without a path cannot INCLUDE."""
    lines, origin = [], []
    root = root or (path.parent.resolve() if path is not None else None)
    for number, line in enumerate(text.splitlines(), 1):
        m = _INCLUDE.match(line)
        if not m:
            lines.append(line)
            origin.append((label, number))
            continue
        where = f"{label + ' ' if label else ''}line {number}"
        name = m.group(1)
        if path is None:
            raise SpecError(f"INCLUDE \"{name}\" ({where}): NMODL given as text has no "
                            f"folder to include from; pass the .mod file's path")
        if depth > 8:
            raise SpecError(f"INCLUDE \"{name}\" ({where}): INCLUDEs nest too deep")
        target = (path.parent / name).resolve()
        if Path(name).is_absolute() or root not in (target, *target.parents):
            raise SpecError(f"INCLUDE \"{name}\" ({where}): only files inside {root} are "
                            f"included (relative to the including file)")
        try:
            included = read_source(target)
        except OSError as exc:
            raise SpecError(f"INCLUDE \"{name}\" ({where}): {exc}") from None
        inner = expand_includes(included, target, depth + 1, root, name)
        lines += inner.text.splitlines()
        origin += inner.origin
    return _Source("\n".join(lines) + "\n", origin)


def _line_with(text: str, snippet: str) -> int:
    """The first line (1-based) holding the first line of ``snippet`` (spaces aside)
    outside a ``:`` comment; 0 when there is none."""
    first = re.sub(r"\s+", "", snippet.strip().splitlines()[0]) if snippet.strip() else ""
    for i, line in enumerate(text.splitlines(), 1):
        if first and first in re.sub(r"\s+", "", line.split(":")[0]):
            return i
    return 0


def _line_of(text: str, word: str, at_start: bool = True) -> int:
    """The first line (1-based) with ``word``: as its first word (a keyword), or anywhere
    outside a ``:`` comment; 0 when there is none."""
    pattern = rf"\s*{re.escape(word)}\b" if at_start else rf".*?\b{re.escape(word)}\b"
    for i, line in enumerate(text.splitlines(), 1):
        if re.match(pattern, line if at_start else line.split(":")[0]):
            return i
    return 0


def _refuse_unsupported(tree: dict, text: str) -> None:
    def walk(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k in REFUSED:
                    word = REFUSED[k].split()[0]
                    line = _line_of(text, word.split("_")[0] if k == "IndexedName" else word)
                    where = f" (line {line})" if line else ""
                    raise SpecError(f"{REFUSED[k]}{where} is not supported by ionc's NMODL "
                                    f"front end")
                walk(v)
        elif isinstance(node, list):
            for x in node:
                walk(x)
    walk(tree)


def parse_nmodl(text: str, name: str | None = None,
                path: str | os.PathLike | None = None) -> NmodlChannel:
    """The channel of NMODL source ``text`` (a density mechanism); ``path``, the file it
    was read from, is where its INCLUDEs are looked up.  The analysis is bounded in time
    (:mod:`.budget`) and size."""
    with time_bound(str(path) if path is not None else "the NMODL text"):
        return _parse(text, name, path=path)


def rates_as_written(text: str, path: str | os.PathLike | None = None) -> dict[str, sp.Expr]:
    """The rates of each gate as the file computes them, guards and nudges kept (keyed like
    the compiled channel's: ``alpha_m``, ``inf_h``, ...), parameters as symbols."""
    with time_bound(str(path) if path is not None else "the NMODL text"):
        return _parse(text, None, keep_guards=True, path=path)


def _parse(text: str, name: str | None, keep_guards: bool = False, path=None):
    try:
        from neuron import nmodl
    except ImportError as exc:  # pragma: no cover - the test extra installs neuron
        raise SpecError("reading .mod files needs NEURON's NMODL framework: pip install "
                        "'ionc[nmodl]'") from exc
    if not isinstance(text, str):
        raise TypeError(f"NMODL source must be text, got {type(text).__name__}")
    source = expand_includes(text, Path(path) if path is not None else None)
    text = source.text
    _refuse_deep_nesting(source)
    try:
        tree = json.loads(nmodl.to_json(nmodl.NmodlDriver().parse_string(text), compact=True,
                                        add_nmodl=True))
    except Exception as exc:
        raise SpecError(f"NMODL parse error: {exc}") from None
    _refuse_unsupported(tree, text)
    try:
        tree = unroll(tree)
    except UnrollError as exc:
        line = _line_with(text, exc.snippet)
        raise SpecError(f"{exc} ({source.line(line)})" if line else str(exc)) from None
    blocks: dict[str, list] = {}
    for b in tree["Program"]:
        blocks.setdefault(_kind(b), []).append(b)
    # file-level LOCALs are variables of the file: fine while each block assigns them before
    # reading them; one read first would keep state between calls (refused when read)
    file_locals = {_name(v): _line_of(text, _name(v), at_start=False)
                   for b in blocks.get("LocalListStatement", []) for v in _kids(b)}
    suffix, ions, nonspecific, valences = None, {}, [], {}
    for nb in blocks.get("NeuronBlock", []):
        for stmt in _kids(_kids(nb)[0]):
            k = _kind(stmt)
            if k == "Suffix":
                kids = _kids(stmt)
                if _name(kids[0]) != "SUFFIX":
                    kind = _name(kids[0])
                    raise SpecError(f"{kind} (line {_line_of(text, kind, at_start=False)}) is not "
                                    f"supported by ionc's NMODL front end (density mechanisms "
                                    f"with SUFFIX only)")
                suffix = _name(kids[1])
            elif k == "Useion":
                kids = _kids(stmt)
                ion = _name(kids[0])
                reads = tuple(_name(x) for x in kids if _kind(x) == "ReadIonVar")
                writes = tuple(_name(x) for x in kids if _kind(x) == "WriteIonVar")
                for w in writes:
                    if w not in (f"i{ion}", f"{ion}i", f"{ion}o"):
                        line = source.line(_line_of(text, "USEION", at_start=False))
                        raise SpecError(f"USEION {ion} WRITE {w} ({line}): writing a "
                                        f"reversal potential is not supported")
                ions[ion] = (reads, writes)
                valence = [x for x in kids if _kind(x) == "Valence"]
                if valence:
                    valences[ion] = int(float(_number(_leaf(_kids(valence[0])[-1]))))
            elif k == "Nonspecific":
                nonspecific += [_name(x) for x in _kids(stmt)]
    if suffix is None:
        raise SpecError("the NEURON block has no SUFFIX (only density mechanisms are "
                        "supported)")
    params: dict[str, float] = {}
    limits: dict[str, tuple] = {}
    for pb in blocks.get("ParamBlock", []):
        for pa in _kids(pb):
            kids = _kids(pa)
            pname = _name(kids[0])
            values = [x for x in kids if _kind(x) in ("Integer", "Double")]
            value = float(_number(_leaf(values[0]))) if values else 0.0
            if not math.isfinite(value):
                where = source.line(_line_of(text, pname, at_start=False))
                raise SpecError(f"PARAMETER {pname} = {_leaf(values[0])} ({where}) is not a "
                                f"finite float64")
            params[pname] = NEURON_DEFAULTS.get(pname, value)
            for lim in (x for x in kids if _kind(x) == "Limits"):
                limits[pname] = tuple(float(_number(_leaf(x))) for x in _kids(lim))
    states = [_name(_kids(d)[0]) for sb in blocks.get("StateBlock", []) for d in _kids(sb)]
    if len(states) > MAX_STATES:
        raise SpecError(f"{len(states)} STATEs ({source.line(_line_of(text, 'STATE'))}), more "
                        f"than the {MAX_STATES} one channel may have")
    constants: dict = {}
    for cb in blocks.get("ConstantBlock", []):
        for cs in _kids(cb):
            var = _kids(cs)[0]
            vk = _kids(var)
            constants[_name(vk[0])] = _number(_leaf(vk[1]))
    for ub in blocks.get("UnitBlock", []):
        for fd in _kids(ub):
            if _kind(fd) != "FactorDef":
                continue
            kids = _kids(fd)
            numbers = [x for x in kids if _kind(x) in ("Integer", "Double")]
            if numbers:                         # FARADAY = 96485.309 (coul/mole): as written
                constants[_name(kids[0])] = _number(_leaf(numbers[0]))
                continue
            units = tuple(_name(u).lower() for u in kids if _kind(u) == "Unit")
            if units not in UNIT_FACTORS:
                raise SpecError(f"UNITS {_name(kids[0])} = {units}: unit factor not known to "
                                f"ionc (known: {sorted(UNIT_FACTORS)})")
            constants[_name(kids[0])] = UNIT_FACTORS[units]
    # a concentration a mechanism WRITEs is its STATE (a pool); a current it READs is an
    # input, like a concentration it only reads
    written = {w for ion, (_, ws) in ions.items() for w in ws if w != f"i{ion}"}
    # a written concentration that is not a STATE must be a copy of one, set in the
    # DERIVATIVE block (hnn-core's cad: ``cai = ca``); checked once that block has run
    copies = sorted(written - set(states))
    for w in copies:
        params.pop(w, None)
    reads = {r for rs, _ in ions.values() for r in rs} - written
    read_currents = {r for ion, (rs, _) in ions.items() for r in rs if r == f"i{ion}"}
    concentrations = {r for r in reads - read_currents
                      if r.endswith(("i", "o")) and not r.startswith("e")}
    potentials = reads - concentrations - read_currents
    for ion, (rs, _) in ions.items():
        e = f"e{ion}"
        if e in rs and e not in NEURON_POTENTIALS:
            raise SpecError(f"USEION {ion} READ {e}: no NEURON default for {e}")
    inputs = {c: NEURON_DEFAULTS.get(c, params.get(c, 0.0)) for c in sorted(concentrations)}
    inputs.update({i: 0.0 for i in sorted(read_currents)})
    for c in concentrations:
        params.pop(c, None)
    for p in sorted(potentials):
        params[p] = _default_potential(p)
    # NEURON's celsius is a global every mechanism sees, read or not
    params["celsius"] = NEURON_DEFAULTS["celsius"]
    for special in ("v", "dt", "t"):
        params.pop(special, None)
    known = {p: symbol(p) for p in params}
    known.update({s: symbol(s) for s in states})
    known.update({c: symbol(c) for c in inputs})
    known["v"] = V
    known["dt"] = dt                    # NEURON's dt: the integration step
    functions = {_name(_kids(f)[0]): f for f in blocks.get("FunctionBlock", [])}
    procedures = {_name(_kids(p)[0]): p for p in blocks.get("ProcedureBlock", [])}
    interp = _Interpreter(functions, procedures, known, constants, keep_guards, source)
    interp.assignable = {p for p in params if p not in NEURON_DEFAULTS}
    interp.file_locals = file_locals
    interp.written_currents = {w for ion, (_, ws) in ions.items() for w in ws if w == f"i{ion}"}
    interp.assigned = {_name(_kids(d)[0]) for ab in blocks.get("AssignedBlock", [])
                       for d in _kids(ab) if _kind(d) == "AssignedDefinition"}
    notes: list[str] = interp.notes
    if any(_has_table(b) for b in (*functions.values(), *procedures.values())):
        notes.append("TABLE statements ignored: the rates are computed exactly (NEURON's "
                     "interpolated tables are not used)")
    kinetic_blocks = {_name(_kids(b)[0]): b for b in blocks.get("KineticBlock", [])}
    linear_blocks = {_name(_kids(b)[0]): b for b in blocks.get("LinearBlock", [])}
    steady: dict = {}                 # KINETIC block -> the states' values at its STEADYSTATE
    linear: list = []                 # a LINEAR block's equations (== 0)

    def initial_solve(node: dict, stmt: dict) -> None:
        """A SOLVE in INITIAL: a scheme's STEADYSTATE, or a LINEAR block solved now."""
        block = _name(_kids(node)[0])
        if block in kinetic_blocks:
            steady[block] = {x: interp.globals.get(x) for x in states}
        elif block in linear_blocks:
            parts, saved = _SchemeParts(), dict(interp.globals)
            interp.globals.update({x: symbol(x) for x in states})
            interp.scheme = parts
            interp.run(_kids(linear_blocks[block])[-1], {})
            interp.scheme = None
            interp.globals = {**saved, **{x: symbol(x) for x in states}}
            linear.extend(parts.equations)

    # INITIAL, then DERIVATIVE, then BREAKPOINT, as NEURON runs them
    initial_scope: dict = {}
    initial: dict = {}
    interp.on_solve = initial_solve
    for ib in blocks.get("InitialBlock", []):
        saved = interp.known
        interp.known = {k: v for k, v in saved.items() if k not in states}
        interp.globals.update({s: saved[s] for s in states})
        interp.globals.pop("v", None)
        interp.in_initial = True
        interp.run(_kids(ib)[0], initial_scope)
        interp.in_initial = False
        initial = {s: interp.globals.pop(s) for s in states}
        interp.known = saved
        interp.globals = {k: v for k, v in interp.globals.items() if k not in states}
    interp.on_solve = None
    solves = _solves(blocks) if states else [("cnexp", "")]
    solvable = {_name(_kids(b)[0]) for kind in ("DerivativeBlock", "KineticBlock")
                for b in blocks.get(kind, [])}
    for _, block in solves:
        if block and block not in solvable:
            raise SpecError(f"SOLVE {block} ({source.line(_line_of(text, 'SOLVE', False))}): "
                            f"the file has no DERIVATIVE or KINETIC block {block}")
    kinetic = [(m, b) for m, b in solves if b in kinetic_blocks]
    solve, deriv_name = next(((m, b) for m, b in solves if b not in kinetic_blocks),
                             ("sparse" if kinetic else "cnexp", ""))
    derivatives: dict = {}
    for w in copies:
        interp.globals.pop(w, None)
    for db in blocks.get("DerivativeBlock", []):
        if _name(_kids(db)[0]) != deriv_name:
            continue
        interp.globals.pop("v", None)
        interp.run(_kids(db)[1], {}, derivatives)
    held = {}                       # written concentration -> the STATE that holds it
    for w in sorted(written):
        value = w if w in states else interp.globals.get(w)
        state = str(value) if isinstance(value, (str, sp.Symbol)) else ""
        if state not in states:
            raise SpecError(f"USEION ... WRITE {w} "
                            f"({source.line(_line_of(text, 'USEION', at_start=False))}): {w} is "
                            f"written but is neither a STATE nor set to one in the DERIVATIVE "
                            f"block (a concentration set in BREAKPOINT is not supported)")
        held[w] = state
    rates: dict = {}
    schemes = []
    for method_name, block in kinetic:
        where = source.line(_line_of(text, f"KINETIC {block}"))
        if method_name != "sparse":
            raise SpecError(f"SOLVE {block} METHOD {method_name}: KINETIC {block} ({where}) "
                            f"is solved with METHOD sparse only")
        parts = _SchemeParts()
        interp.globals.pop("v", None)
        interp.scheme = parts
        interp.run(_kids(kinetic_blocks[block])[1], {})
        interp.scheme = None
        known_names = set(params) | set(inputs)
        values = steady.get(block, initial)
        try:
            schemes.append(_scheme(block, parts, states, rates, known_names, values,
                                   block in steady, linear))
        except SpecError as exc:
            raise SpecError(f"{exc} ({where})") from None
    in_schemes = {x for sc in schemes for x in sc.states}
    if linear and not schemes:
        raise SpecError("a LINEAR block solved in INITIAL sets STATEs that no KINETIC block "
                        "integrates: not supported")
    missing = [s for s in states if s not in derivatives and s not in in_schemes]
    scope: dict = {}
    for bb in blocks.get("BreakpointBlock", []):
        interp.globals.pop("v", None)
        interp.run(_kids(bb)[0], scope)
    current_names = [w for ion, (_, ws) in ions.items() for w in ws if w == f"i{ion}"] \
        + nonspecific
    currents = {}
    for c in current_names:
        value = scope.get(c, interp.globals.get(c))
        if value is None or value is UNDEFINED:
            raise SpecError(f"BREAKPOINT does not assign the current {c}")
        currents[c] = (sp.sympify(value) if keep_guards
                       else _ite_free(sp.sympify(value)))
    if missing:
        # a STATE nothing reads (no equation, not in a current, a rate or INITIAL) is dead
        read = set().union(*(sp.sympify(e).free_symbols for e in
                             (*derivatives.values(), *currents.values(),
                              *(v for k, v in initial.items()
                               if k not in missing and v is not UNDEFINED))))
        used = [x for x in missing if symbol(x) in read]
        if used:
            raise SpecError(f"STATE(s) {used} have no equation in DERIVATIVE {deriv_name}")
        states = [x for x in states if x not in missing]
        initial = {k: v for k, v in initial.items() if k not in missing}
        notes.append(f"STATE(s) {missing}: no equation and read nowhere; left out")
    states = [x for x in states if x not in in_schemes]     # the DERIVATIVE's
    if keep_guards:
        out = dict(rates)
        for s in states:
            others = {symbol(x) for x in states if x != s}
            for role, expr in _gate_parts(s, derivatives[s], others)[1].items():
                out[f"{role}_{s}"] = _ite_free(expr)
        out["current"] = _ite_free(-1000 * sum(currents.values(), sp.Integer(0)))
        return out
    odes = {s: _ite_free(derivatives[s]) for s in states}
    method = METHODS.get(solve)
    if method is None:
        raise SpecError(f"SOLVE ... METHOD {solve} is not supported ({', '.join(METHODS)})")
    _refuse_dt(source, {**{f"the equation of {s}": e for s, e in odes.items()},
                        **{f"the rate {r}": e for r, e in rates.items()},
                        **{f"the current {c}": e for c, e in currents.items()},
                        **{f"INITIAL's value of {s}": e for s, e in initial.items()
                           if e is not UNDEFINED}})
    gates = {}
    for s in states:
        at(f"the equation of {s}")
        gates[s] = _gate(s, odes[s], {symbol(x) for x in states if x != s})
    nonlinear = [s for s, g in gates.items()
                 if g.kind == "ode" and symbol(s) in sp.diff(g.ode, symbol(s)).free_symbols]
    if method == "exp_auto" and nonlinear:
        method = "cnexp"
        notes.append(f"cnexp on {nonlinear}, not linear in their own state: linearised at "
                     f"each step as NEURON's translator does (g + (1 - exp(A dt))(-B/A - g), "
                     f"A = df/dg at the current g, B = f at g = 0)")
    coupled = [s for s in states
               if odes[s].free_symbols & {symbol(x) for x in states if x != s}]
    if method == "implicit_euler" and (nonlinear or coupled):
        why = ", ".join(([f"{nonlinear} not linear in their own state"] if nonlinear else [])
                        + ([f"{coupled} reading other states"] if coupled else []))
        notes.append(f"derivimplicit with {why}: NEURON's Newton iteration on them together "
                     f"(difference-quotient Jacobian, at most 50 passes)")
    for c, x in sorted(held.items()):
        # a pool INITIAL does not set starts where NEURON's ion does: <c>0_<ion>_ion
        if initial.get(x, UNDEFINED) is UNDEFINED or initial[x] == symbol(x):
            start = f"{c}0_{c[:-1]}_ion"
            params[start] = NEURON_DEFAULTS[c]
            initial[x] = symbol(start)
            notes.append(f"{c} starts at {start} = {NEURON_DEFAULTS[c]:g} mM (NEURON's "
                         f"initial concentration of the ion), as INITIAL does not set it")
    gates = _with_initial({k: v for k, v in initial.items() if k in states}, gates, params,
                          inputs, notes)
    gates = {s: dataclasses.replace(g, bounds=(0.0, math.inf)) if s in held.values() else g
             for s, g in gates.items()}
    forward = sorted(interp.unmentioned & set(gates))
    if solve == "cnexp" and forward:
        # nocmodl's cnexp reads the equation's text: one that does not name its state is
        # stepped by forward Euler, whatever the values it reads depend on
        gates = {s: dataclasses.replace(g, integrator="euler") if s in forward else g
                 for s, g in gates.items()}
        notes.append(f"cnexp on {forward}, whose equations do not name their state: forward "
                     f"Euler (g + dt f), as NEURON's translator steps them")
    spec = ChannelSpec(name=name or suffix, doc=_title(blocks) or f"NMODL mechanism {suffix}",
                       parameters=params, gates=tuple(gates.values()),
                       current=-1000 * sum(currents.values(), sp.Integer(0)), inputs=inputs,
                       rates=rates, schemes=tuple(schemes),
                       ions=_ion_ports(ions, valences, params, inputs, held),
                       ion_currents={ion: -1000 * currents[f"i{ion}"] for ion, (_, ws)
                                     in ions.items() if f"i{ion}" in ws})
    return NmodlChannel(spec, suffix, method, solve, ions, currents,
                        tuple(dict.fromkeys(notes)), tuple(dict.fromkeys(interp.guards)),
                        {k: v for k, v in limits.items() if k in params})


def _ion_ports(ions: dict, valences: dict, params: dict, inputs: dict, held: dict
               ) -> tuple[Ion, ...]:
    """The USEION statements as the spec's ion ports: what the file reads (a reversal
    potential it has as a parameter, concentrations and currents it has as inputs), the
    current it writes, and the concentrations it integrates (``held``: the STATE that
    holds each)."""
    out = []
    for ion, (reads, writes) in ions.items():
        written = [w for w in writes if w != f"i{ion}"]
        read = tuple(r for r in reads if r not in written and (r in params or r in inputs))
        out.append(Ion(ion, read, f"i{ion}" in writes, tuple((w, held[w]) for w in written),
                       valences.get(ion)))
    return tuple(out)


#: The deepest nesting of parentheses an NMODL file may have.
MAX_NESTING = 200


def _refuse_deep_nesting(source: _Source) -> None:
    """A SpecError at the line where parentheses nest deeper than :data:`MAX_NESTING`
    (NEURON's parser and the JSON of its tree recurse on them)."""
    depth = 0
    for number, line in enumerate(source.text.splitlines(), 1):
        for ch in line.split(":")[0]:
            depth += (ch == "(") - (ch == ")")
            if depth > MAX_NESTING:
                raise SpecError(f"parentheses nest more than {MAX_NESTING} deep "
                                f"({source.line(number)})")


def _refuse_dt(source: _Source, exprs: dict) -> None:
    """A SpecError naming the first of ``exprs`` that reads NEURON's ``dt``: ionc's rates,
    steady states and currents are functions of V (the step reads dt itself)."""
    for what, expr in exprs.items():
        if dt in sp.sympify(expr).free_symbols:
            line = next((i for i, t in enumerate(source.text.splitlines(), 1)
                         if re.search(r"\bdt\b", t.split(":")[0])), 0)
            raise SpecError(f"{what} reads dt, the integration step ({source.line(line)}): "
                            f"ionc's rates are functions of V and the states only")


def _default_potential(name: str) -> float:
    """NEURON's default of a reversal potential (its ``DEF_ena``, ``DEF_ek``, ``DEF_eca``:
    what an ion whose concentrations nothing reads keeps)."""
    if name in NEURON_POTENTIALS:
        return NEURON_POTENTIALS[name]
    raise SpecError(f"no NEURON default for {name}")


def _has_table(block: dict) -> bool:
    return "TableStatement" in json.dumps(block)


def _title(blocks: dict) -> str:
    for m in blocks.get("Model", []):
        return _name(_kids(m)[0]).strip()
    return ""


def _solves(blocks: dict) -> list[tuple[str, str]]:
    """``(method, block)`` of each SOLVE of the BREAKPOINT, in order."""
    out = []
    for bb in blocks.get("BreakpointBlock", []):
        for stmt in _kids(_kids(bb)[0]):
            if _kind(stmt) == "ExpressionStatement":
                stmt = _kids(stmt)[0]
            if _kind(stmt) == "SolveBlock":
                kids = _kids(stmt)
                block = _name(kids[0])
                method = _name(kids[1]) if len(kids) > 1 else "derivimplicit"
                out.append((method, block))
    if not out:
        raise SpecError("BREAKPOINT has no SOLVE: nothing integrates the STATEs")
    return out


def _scheme(name: str, parts: _SchemeParts, states: list, rates: dict, known_names: set,
            initial: dict, steady: bool, equations: list) -> KineticScheme:
    """The kinetic scheme of KINETIC block ``name``: each rate that is a function of V
    (not a number or a parameter, not reading a state) becomes a named rate in
    ``rates`` (under the ASSIGNED name the file gives it, else ``k<n>f``/``k<n>b``)."""
    state_symbols = {symbol(x) for x in states}
    taken = set(known_names) | set(states)

    def rate(expr, written, fallback):
        expr = _ite_free(sp.sympify(expr))
        if expr.is_number or expr.free_symbols & state_symbols or not (
                expr.free_symbols - {symbol(n) for n in known_names}) and V not in \
                expr.free_symbols:
            return expr
        for key, value in rates.items():
            if value == expr:
                return symbol(key)
        key = written if written and written not in taken and _rate_name_ok(written, states) \
            else fallback
        while key in taken or key in rates:
            key += "_"
        rates[key] = expr
        return symbol(key)

    reactions = []
    for k, (lhs, rhs, forward, backward, written) in enumerate(parts.reactions, 1):
        stray = [n for n, _ in (*lhs, *rhs) if n not in states]
        if stray:
            raise SpecError(f"KINETIC {name}: reaction {k} names {stray}, which are not "
                            f"STATEs (a species that is not a state is not supported)")
        reactions.append(Reaction(lhs, rhs, rate(forward, written[0], f"k{k}f"),
                                  rate(backward, written[1], f"k{k}b")))
    products = [r for r in reactions if any(
        len(side) > 1 or side[0][1] > 1 for side in (r.reactants, r.products) if side)]
    if steady and products:
        raise SpecError(f"KINETIC {name}: STEADYSTATE sparse of a scheme whose reactions "
                        f"multiply states ({products[0]}) is not supported; set the states in "
                        f"INITIAL")
    used = [x for x in states if any(x == n for r in reactions
                                     for n, _ in (*r.reactants, *r.products))]
    laws = []
    for lhs, total in parts.conserve:
        terms = {x: sp.diff(lhs, symbol(x)) for x in states if symbol(x) in lhs.free_symbols}
        laws.append((terms, total))
    volumes = {x: v for x, v in parts.volumes.items() if x in used}
    start = {x: v for x, v in initial.items() if x in used and v is not UNDEFINED
             and v != symbol(x)}
    return KineticScheme(name, tuple(used), tuple(reactions), volumes, tuple(laws),
                         {x: _ite_free(sp.sympify(v)) for x, v in start.items()}, steady,
                         tuple(equations))


def _rate_name_ok(name: str, states) -> bool:
    """True when ``name`` may name a rate (not one of the compiler's task names)."""
    return (name not in TASK_NAMES and not name.startswith(("jacobian_", "ionc", "u_"))
            and not (name[:1] == "d" and name[1:] in states)
            and name.partition("_")[2] not in states)


def _gate(name: str, f: sp.Expr, others=frozenset()) -> Gate:
    """``name' = f`` as a gate (see :func:`_gate_parts`)."""
    kind, fields = _gate_parts(name, f, others)
    return Gate(name, **fields)


def _ite_free(expr: sp.Expr) -> sp.Expr:
    """``expr`` with SymPy's ITE (a Piecewise inside a condition) as Piecewise."""
    return expr.replace(lambda e: isinstance(e, sp.ITE), lambda e: e.to_nnf())


def _gate_parts(name: str, f: sp.Expr, others=frozenset()) -> tuple[str, dict]:
    """``name' = f`` as a gate's kind and fields.  Linear in the gate, ``f = B + A g``
    (taken without expanding): when ``-A`` is a sum containing ``B`` (``alpha (1 - g) - beta g``,
    however the file spelled it: ``(minf - m)/mtau`` with ``minf = a/(a + b)`` and
    ``mtau = 1/(q10 (a + b))``), the gate gets rates ``alpha = B`` and
    ``beta = -A - B``, each analysed on its own; otherwise ``inf = -B/A`` and
    ``tau = -1/A``.  Not linear, or reading one of the ``others`` states: an ODE."""
    g = symbol(name)
    A = sp.diff(f, g)
    if g in A.free_symbols or g not in f.free_symbols or f.free_symbols & set(others):
        return "ode", {"ode": f}      # (an equation without its state: forward Euler)
    B = f.subs(g, 0)
    total = sp.expand_mul(-A, deep=False)
    beta = total - B
    if B != 0 and sp.count_ops(beta) < sp.count_ops(total):
        return "rates", {"alpha": B, "beta": beta}
    # (inf - g) * R, as the file wrote it: inf and tau = 1/R as written
    for factor in sp.Mul.make_args(f):
        if factor.is_Add and sp.diff(factor, g) == -1:
            rest = sp.Mul(*(x for x in sp.Mul.make_args(f) if x is not factor))
            if g not in rest.free_symbols:
                return "inf_tau", {"inf": factor + g, "tau": 1 / rest}
    return "inf_tau", {"inf": -B / A, "tau": -1 / A}


def _with_initial(initial: dict, gates: dict, params, inputs, notes: list) -> dict:
    """The gates with the value INITIAL sets them to (what ``reset_state`` does, as
    NEURON's ``finitialize``), given explicitly where it is not the gate's steady state
    (or the gate has none in closed form)."""
    import random
    rng = random.Random(0)
    values = {symbol(k): v for k, v in {**params, **inputs}.items()}
    out = {}
    for s, gate in gates.items():
        value = initial.get(s, UNDEFINED)
        if value is UNDEFINED:
            raise SpecError(f"INITIAL does not set {s}")
        value = _ite_free(sp.sympify(value))
        stray = sorted(str(x) for x in value.free_symbols & {symbol(g) for g in gates})
        if stray:
            raise SpecError(f"INITIAL sets {s} = {value} from the state(s) {stray}")
        out[s] = gate
        if gate.kind != "ode":
            inf = gate.inf if gate.kind == "inf_tau" else gate.alpha / (gate.alpha + gate.beta)
            steady = True
            for _ in range(5):
                values[V] = rng.uniform(-90.0, 40.0)
                for name, default in inputs.items():      # a current (ica) or a concentration
                    values[symbol(name)] = (rng.uniform(-0.01, 0.01) if name.startswith("i")
                                            else default * rng.uniform(0.5, 2.0))
                a = complex(sp.N(value.subs(values)))
                b = complex(sp.N(inf.subs(values)))
                steady &= abs(a - b) <= 1e-9 * max(1.0, abs(b))
            if steady:
                continue
            notes.append(f"INITIAL sets {s} = {value}, not the steady state of its equation: "
                         f"reset_state sets that, as NEURON's finitialize does")
        out[s] = dataclasses.replace(gate, initial=value)
    return out
