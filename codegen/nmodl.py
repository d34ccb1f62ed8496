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
import re
from dataclasses import dataclass, field

import sympy as sp

from .spec import V, ChannelSpec, Gate, SpecError, symbol

#: NEURON's own values of the variables it ignores PARAMETER defaults for.
NEURON_DEFAULTS = {"celsius": 6.3, "ena": 50.0, "ek": -77.0, "cai": 5e-5, "cao": 2.0,
                   "nai": 10.0, "nao": 140.0, "ki": 54.4, "ko": 2.5}
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
REFUSED = {"KineticBlock": "KINETIC", "NetReceiveBlock": "NET_RECEIVE", "Verbatim": "VERBATIM",
           "FromStatement": "FROM loop", "WhileStatement": "WHILE loop",
           "PointProcess": "POINT_PROCESS", "LinearBlock": "LINEAR", "NonLinearBlock":
           "NONLINEAR", "DiscreteBlock": "DISCRETE", "PartialBlock": "PARTIAL",
           "FunctionTableBlock": "FUNCTION_TABLE", "ArtificialCell": "ARTIFICIAL_CELL",
           "BeforeBlock": "BEFORE", "AfterBlock": "AFTER", "ForNetcon": "FOR_NETCONS",
           "ConstructorBlock": "CONSTRUCTOR", "DestructorBlock": "DESTRUCTOR",
           "IndexedName": "array", "WatchStatement": "WATCH", "MutexLock": "MUTEXLOCK",
           "ConserveStatement": "CONSERVE", "LonDifuse": "LONGITUDINAL_DIFFUSION",
           "BbcoreSerializeBlock": "BBCOREPOINTER", "Pointer": "POINTER"}
#: NMODL functions and their SymPy counterparts.
FUNCTIONS = {"exp": sp.exp, "log": sp.log, "sqrt": sp.sqrt, "fabs": sp.Abs,
             "pow": lambda a, b: a ** b, "log10": lambda a: sp.log(a, 10),
             "tanh": sp.tanh, "sin": sp.sin, "cos": sp.cos}
#: NMODL methods of SOLVE and the ionc method each becomes.
METHODS = {"cnexp": "exp_auto", "euler": "euler", "derivimplicit": "implicit_euler"}
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


def _leaf(node: dict) -> str:
    """The text of a leaf (a number, an operator)."""
    return _kids(node)[0]["name"]


def _number(text: str) -> sp.Expr:
    return sp.Integer(int(text)) if re.fullmatch(r"[+-]?\d+", text) else sp.Rational(text)


class _Undefined:
    """A variable assigned on some branches only."""


UNDEFINED = _Undefined()


class _Interpreter:
    """Symbolic execution of the file's blocks."""

    def __init__(self, functions: dict, procedures: dict, known: dict, constants: dict,
                 keep_guards: bool = False):
        self.functions, self.procedures = functions, procedures
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
                   "/": lambda: a / b, "^": lambda: a ** b, "<": lambda: sp.Lt(a, b),
                   ">": lambda: sp.Gt(a, b), "<=": lambda: sp.Le(a, b),
                   ">=": lambda: sp.Ge(a, b), "==": lambda: sp.Eq(a, b),
                   "!=": lambda: sp.Ne(a, b), "&&": lambda: sp.And(a, b),
                   "||": lambda: sp.Or(a, b)}
            if op not in ops:
                raise SpecError(f"operator {op!r} is not supported")
            return ops[op]()
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
        elif name in self.known and name not in self.assignable:
            raise SpecError(f"assignment to {name}, which is not an ASSIGNED variable or a "
                            f"LOCAL (STATEs outside INITIAL and v cannot be set; a PROCEDURE "
                            f"argument v is a local copy)")
        else:
            self.globals[name] = value

    def statement(self, stmt: dict, scope: dict, derivatives: dict | None) -> None:
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
                return
            if _kind(inner) == "DiffEqExpression":
                eq = _kids(inner)[0]
                lhs, rhs = _kids(eq)[0], _kids(eq)[2]
                if derivatives is None:
                    raise SpecError("a derivative outside a DERIVATIVE block")
                derivatives[_name(lhs)] = self.expr(rhs, scope)
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


def _guard(cond) -> str:
    """A description when ``cond`` is a singularity guard, else ''."""
    small = _small_abs(cond)
    if small:
        return f"guard |{small[0]}| < {small[1]}"
    if isinstance(cond, sp.Eq) and V in cond.free_symbols:
        return f"equality nudge at {cond.lhs} == {cond.rhs}"
    return ""


def guard_zero(cond) -> sp.Expr | None:
    """The expression a guard protects the zero of (inside the Abs; lhs - rhs of a nudge),
    or None when ``cond`` is not a guard."""
    if isinstance(cond, sp.Eq) and V in cond.free_symbols:
        return cond.lhs - cond.rhs
    small = _small_abs(cond)
    return small[0] if small else None


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


def parse_nmodl(text: str, name: str | None = None) -> NmodlChannel:
    """The channel of NMODL source ``text`` (a density mechanism of HH type)."""
    return _parse(text, name)


def rates_as_written(text: str) -> dict[str, sp.Expr]:
    """The rates of each gate as the file computes them, guards and nudges kept (keyed like
    the compiled channel's: ``alpha_m``, ``inf_h``, ...), parameters as symbols."""
    return _parse(text, None, keep_guards=True)


def _parse(text: str, name: str | None, keep_guards: bool = False):
    try:
        from neuron import nmodl
    except ImportError as exc:  # pragma: no cover - the test extra installs neuron
        raise SpecError("reading .mod files needs NEURON's NMODL framework: pip install "
                        "neuron") from exc
    if not isinstance(text, str):
        raise TypeError(f"NMODL source must be text, got {type(text).__name__}")
    try:
        tree = json.loads(nmodl.to_json(nmodl.NmodlDriver().parse_string(text), compact=True))
    except Exception as exc:
        raise SpecError(f"NMODL parse error: {exc}") from None
    _refuse_unsupported(tree, text)
    blocks: dict[str, list] = {}
    for b in tree["Program"]:
        blocks.setdefault(_kind(b), []).append(b)
    # file-level LOCALs are variables of the file: fine while each block assigns them before
    # reading them; one read first would keep state between calls (refused when read)
    file_locals = {_name(v): _line_of(text, _name(v), at_start=False)
                   for b in blocks.get("LocalListStatement", []) for v in _kids(b)}
    suffix, ions, nonspecific = None, {}, []
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
                    if not w.startswith("i"):
                        raise SpecError(f"USEION {ion} WRITE {w}: writing a concentration or "
                                        f"reversal potential is not supported")
                ions[ion] = (reads, writes)
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
            params[pname] = NEURON_DEFAULTS.get(pname, value)
            for lim in (x for x in kids if _kind(x) == "Limits"):
                limits[pname] = tuple(float(_number(_leaf(x))) for x in _kids(lim))
    states = [_name(_kids(d)[0]) for sb in blocks.get("StateBlock", []) for d in _kids(sb)]
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
    reads = {r for rs, _ in ions.values() for r in rs}
    concentrations = {r for r in reads if r.endswith(("i", "o")) and not r.startswith("e")}
    potentials = reads - concentrations
    for ion, (rs, _) in ions.items():
        e = f"e{ion}"
        if e in rs and e not in NEURON_DEFAULTS and ion != "ca":
            raise SpecError(f"USEION {ion} READ {e}: no NEURON default for {e}")
    inputs = {c: NEURON_DEFAULTS.get(c, params.get(c, 0.0)) for c in sorted(concentrations)}
    for c in concentrations:
        params.pop(c, None)
    text_symbols = set(re.findall(r"[A-Za-z_][A-Za-z_0-9]*", text))
    for p in sorted(potentials):
        params[p] = _default_potential(p)
    if "celsius" in text_symbols:
        params["celsius"] = NEURON_DEFAULTS["celsius"]
    for special in ("v", "dt", "t"):
        params.pop(special, None)
    known = {p: symbol(p) for p in params}
    known.update({s: symbol(s) for s in states})
    known.update({c: symbol(c) for c in inputs})
    known["v"] = V
    functions = {_name(_kids(f)[0]): f for f in blocks.get("FunctionBlock", [])}
    procedures = {_name(_kids(p)[0]): p for p in blocks.get("ProcedureBlock", [])}
    interp = _Interpreter(functions, procedures, known, constants, keep_guards)
    interp.assignable = {p for p in params if p not in NEURON_DEFAULTS}
    interp.file_locals = file_locals
    notes: list[str] = interp.notes
    if any(_has_table(b) for b in (*functions.values(), *procedures.values())):
        notes.append("TABLE statements ignored: the rates are computed exactly (NEURON's "
                     "interpolated tables are not used)")
    # INITIAL, then DERIVATIVE, then BREAKPOINT, as NEURON runs them
    initial_scope: dict = {}
    initial: dict = {}
    for ib in blocks.get("InitialBlock", []):
        saved = interp.known
        interp.known = {k: v for k, v in saved.items() if k not in states}
        interp.globals.update({s: saved[s] for s in states})
        interp.run(_kids(ib)[0], initial_scope)
        initial = {s: interp.globals.pop(s) for s in states}
        interp.known = saved
        interp.globals = {k: v for k, v in interp.globals.items() if k not in states}
    solve, deriv_name = _solve(blocks) if states else ("cnexp", "")
    derivatives: dict = {}
    for db in blocks.get("DerivativeBlock", []):
        if _name(_kids(db)[0]) != deriv_name:
            continue
        interp.run(_kids(db)[1], {}, derivatives)
    missing = [s for s in states if s not in derivatives]
    scope: dict = {}
    for bb in blocks.get("BreakpointBlock", []):
        interp.run(_kids(bb)[0], scope)
    current_names = [w for _, ws in ions.values() for w in ws] + nonspecific
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
    if keep_guards:
        out = {}
        for s in states:
            for role, expr in _gate_parts(s, derivatives[s])[1].items():
                out[f"{role}_{s}"] = _ite_free(expr)
        out["current"] = _ite_free(-1000 * sum(currents.values(), sp.Integer(0)))
        return out
    odes = {s: _ite_free(derivatives[s]) for s in states}
    method = METHODS.get(solve)
    if method is None:
        raise SpecError(f"SOLVE ... METHOD {solve} is not supported ({', '.join(METHODS)})")
    gates = {s: _gate(s, odes[s]) for s in states}
    nonlinear = [s for s, g in gates.items() if g.kind == "ode"]
    if method == "exp_auto" and nonlinear:
        method = "cnexp"
        notes.append(f"cnexp on {nonlinear}, not linear in their own state: linearised at "
                     f"each step as NEURON's translator does (g + (1 - exp(A dt))(-B/A - g), "
                     f"A = df/dg at the current g, B = f at g = 0)")
    if method == "implicit_euler" and nonlinear:
        raise SpecError(f"derivimplicit on {nonlinear}, not linear in their own state: "
                        f"NEURON's Newton iteration is not supported yet")
    gates = _with_initial(initial, gates, params, inputs, notes)
    spec = ChannelSpec(name=name or suffix, doc=_title(blocks) or f"NMODL mechanism {suffix}",
                       parameters=params, gates=tuple(gates.values()),
                       current=-1000 * sum(currents.values(), sp.Integer(0)), inputs=inputs)
    return NmodlChannel(spec, suffix, method, solve, ions, currents,
                        tuple(dict.fromkeys(notes)), tuple(dict.fromkeys(interp.guards)),
                        {k: v for k, v in limits.items() if k in params})


def _default_potential(name: str) -> float:
    """NEURON's default of a reversal potential (``eca`` from Nernst at its defaults)."""
    if name in NEURON_DEFAULTS:
        return NEURON_DEFAULTS[name]
    if name == "eca":
        import math
        T = 273.15 + NEURON_DEFAULTS["celsius"]
        R = float(UNIT_FACTORS[("k-mole", "joule/degc")])
        return 1000 * R * T / (2 * float(FARADAY)) * math.log(
            NEURON_DEFAULTS["cao"] / NEURON_DEFAULTS["cai"])
    raise SpecError(f"no NEURON default for {name}")


def _has_table(block: dict) -> bool:
    return "TableStatement" in json.dumps(block)


def _title(blocks: dict) -> str:
    for m in blocks.get("Model", []):
        return _name(_kids(m)[0]).strip()
    return ""


def _solve(blocks: dict) -> tuple[str, str]:
    """``(method, block)`` of the BREAKPOINT's SOLVE."""
    for bb in blocks.get("BreakpointBlock", []):
        for stmt in _kids(_kids(bb)[0]):
            if _kind(stmt) == "ExpressionStatement":
                stmt = _kids(stmt)[0]
            if _kind(stmt) == "SolveBlock":
                kids = _kids(stmt)
                block = _name(kids[0])
                method = _name(kids[1]) if len(kids) > 1 else "derivimplicit"
                return method, block
    raise SpecError("BREAKPOINT has no SOLVE: nothing integrates the STATEs")


def _gate(name: str, f: sp.Expr) -> Gate:
    """``name' = f`` as a gate (see :func:`_gate_parts`)."""
    kind, fields = _gate_parts(name, f)
    return Gate(name, **fields)


def _ite_free(expr: sp.Expr) -> sp.Expr:
    """``expr`` with SymPy's ITE (a Piecewise inside a condition) as Piecewise."""
    return expr.replace(lambda e: isinstance(e, sp.ITE), lambda e: e.to_nnf())


def _gate_parts(name: str, f: sp.Expr) -> tuple[str, dict]:
    """``name' = f`` as a gate's kind and fields.  Linear in the gate, ``f = B + A g``
    (taken without expanding): when ``-A`` is a sum containing ``B`` (``alpha (1 - g) - beta g``,
    however the file spelled it: ``(minf - m)/mtau`` with ``minf = a/(a + b)`` and
    ``mtau = 1/(q10 (a + b))``), the gate gets rates ``alpha = B`` and
    ``beta = -A - B``, each analysed on its own; otherwise ``inf = -B/A`` and
    ``tau = -1/A``.  Not linear: an ODE."""
    g = symbol(name)
    A = sp.diff(f, g)
    if g in A.free_symbols:
        return "ode", {"ode": f}
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
                a = complex(sp.N(value.subs(values)))
                b = complex(sp.N(inf.subs(values)))
                steady &= abs(a - b) <= 1e-9 * max(1.0, abs(b))
            if steady:
                continue
            notes.append(f"INITIAL sets {s} = {value}, not the steady state of its equation: "
                         f"reset_state sets that, as NEURON's finitialize does")
        out[s] = dataclasses.replace(gate, initial=value)
    return out
