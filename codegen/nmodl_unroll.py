"""Arrays and FROM loops of an NMODL file, unrolled on its syntax tree before the front
end reads it (as NMODL's unroll visitor does): a pure function from tree to tree.

- ``DEFINE N 4`` names a constant integer.
- A STATE, ASSIGNED or PARAMETER array ``ca[N]`` becomes ``N`` scalars ``ca_0 .. ca_{N-1}``.
- ``FROM i = a TO b [BY c] { ... }`` with constant bounds becomes its body once per value of
  ``i``, ``i`` replaced by the value.
- ``ca[expr]``, once ``expr`` is a constant, is the scalar ``ca_<value>``; an index outside
  the array is an error.
- ``COMPARTMENT i, expr {ca}`` over an array gives each element its volume at its ``i``.

Anything that does not reduce to constants (a FROM bound or an index that reads a
variable) is an :class:`UnrollError` naming the construct, with the text it is in, from
which the front end finds the line.
"""
from __future__ import annotations

import copy
import re

from .spec import SpecError

#: The most elements one array may have, and passes one FROM loop may unroll to.
MAX_ELEMENTS = 64


class UnrollError(SpecError):
    """A construct that cannot be unrolled; ``snippet`` is the file's text of it."""

    def __init__(self, message: str, snippet: str = ""):
        super().__init__(message)
        self.snippet = snippet


def _at(node: dict, error: SpecError) -> UnrollError:
    """``error`` as an :class:`UnrollError` at ``node`` (an inner one keeps its place)."""
    if isinstance(error, UnrollError):
        return error
    return UnrollError(str(error), node.get("nmodl", ""))


def _kind(node: dict) -> str:
    return next(iter(node))


def _kids(node: dict) -> list:
    value = node[_kind(node)]
    return value if isinstance(value, list) else []


def _name_of(node: dict) -> str | None:
    """The identifier of a Name or VarName-of-a-Name node (None for anything else)."""
    k = _kind(node)
    if k == "VarName" and _kids(node) and _kind(_kids(node)[0]) == "Name":
        return _name_of(_kids(node)[0])
    if k == "Name":
        return _kids(_kids(node)[0])[0]["name"] if _kids(node) else None
    return None


def _name_node(name: str) -> dict:
    return {"Name": [{"String": [{"name": name}], "nmodl": name}], "nmodl": name}


def _integer_node(value: int) -> dict:
    return {"Integer": [{"name": str(value)}], "nmodl": str(value)}


def _constant(node: dict, defines: dict, what: str) -> int:
    """The integer value of a constant expression (integers, DEFINEs, + - * /)."""
    k = _kind(node)
    kids = _kids(node)
    if k == "Integer":
        if kids and _kind(kids[0]) == "Name":
            return _constant(kids[0], defines, what)
        return int(kids[0]["name"])
    if k in ("WrappedExpression", "ParenExpression"):
        return _constant(kids[0], defines, what)
    if k == "UnaryExpression" and kids[0][_kind(kids[0])][0]["name"] == "-":
        return -_constant(kids[1], defines, what)
    name = _name_of(node)
    if name is not None:
        if name in defines:
            return defines[name]
        raise SpecError(f"{what} reads {name}, which is not a constant (DEFINE) or a FROM "
                        f"index: not supported")
    if k == "BinaryExpression":
        a, op, b = kids
        x, y = _constant(a, defines, what), _constant(b, defines, what)
        symbol = op[_kind(op)][0]["name"]
        if symbol == "/" and y != 0 and x % y == 0:
            return x // y
        if symbol in ("+", "-", "*"):
            return {"+": x + y, "-": x - y, "*": x * y}[symbol]
    raise SpecError(f"{what}: {node.get('nmodl', k)!r} is not a constant integer, which is "
                    f"not supported")


def _element(name: str, index: int, arrays: dict) -> str:
    if not 0 <= index < arrays[name]:
        raise SpecError(f"{name}[{index}] is outside the array {name}[{arrays[name]}] (not "
                        f"supported)")
    return f"{name}_{index}"


def _declarations(tree: dict, defines: dict) -> dict:
    """``{array: length}`` over the STATE, ASSIGNED and PARAMETER blocks; each array's
    declaration is replaced by its elements, in place."""
    arrays: dict[str, int] = {}
    for block in _kids(tree):
        if _kind(block) not in ("StateBlock", "AssignedBlock", "ParamBlock"):
            continue
        items = []
        for d in _kids(block):
            kids = _kids(d)
            if (_kind(d) == "AssignedDefinition" and len(kids) > 1 and _kind(kids[1]) == "Integer"
                    and re.match(r"\s*\w+\s*\[", d.get("nmodl", ""))):   # (not FROM 0 TO 1)
                name, length, rest = _name_of(kids[0]), kids[1], kids[2:]
            elif _kind(d) == "ParamAssign" and kids and _kind(kids[0]) == "IndexedName":
                name, length = _name_of(_kids(kids[0])[0]), _kids(kids[0])[1]
                rest = kids[1:]
            else:
                items.append(d)
                continue
            n = _constant(length, defines, f"the length of array {name}")
            if not 0 < n <= MAX_ELEMENTS:
                raise UnrollError(f"array {name}[{n}]: more than {MAX_ELEMENTS} elements, or "
                                  f"none, is not supported", d.get("nmodl", ""))
            arrays[name] = n
            for i in range(n):
                items.append({_kind(d): [_name_node(f"{name}_{i}"), *copy.deepcopy(rest)],
                              "nmodl": d.get("nmodl", "")})
        block[_kind(block)] = items
    return arrays


def _substitute(node, index: str, value: int):
    """``node`` with every reference to ``index`` (a FROM variable) replaced by ``value``."""
    if isinstance(node, list):
        return [_substitute(x, index, value) for x in node]
    if not isinstance(node, dict):
        return node
    if _kind(node) in ("VarName", "Name") and _name_of(node) == index:
        return _integer_node(value)
    return {k: (_substitute(v, index, value) if k != "nmodl" else v) for k, v in node.items()}


def _indexed(node, arrays: dict, defines: dict):
    """``node`` with every ``a[constant]`` as the scalar ``a_<constant>``."""
    if isinstance(node, list):
        return [_indexed(x, arrays, defines) for x in node]
    if not isinstance(node, dict):
        return node
    if _kind(node) == "IndexedName":
        base, index = _kids(node)[:2]
        name = _name_of(base)
        try:
            if name not in arrays:
                raise SpecError(f"{node.get('nmodl', name)}: {name} is not a STATE, ASSIGNED "
                                f"or PARAMETER array (a LOCAL array is not supported)")
            value = _constant(index, defines, f"the index of {node.get('nmodl', name)}")
            out = _name_node(_element(name, value, arrays))
        except SpecError as exc:
            raise _at(node, exc) from None
        out["nmodl"] = node.get("nmodl", out["nmodl"])
        return out
    return {k: (_indexed(v, arrays, defines) if k != "nmodl" else v) for k, v in node.items()}


def _statements(items: list, arrays: dict, defines: dict) -> list:
    """A statement list with its FROM loops unrolled and indexed COMPARTMENTs split."""
    out = []
    for stmt in items:
        try:
            out += _statement(stmt, arrays, defines)
        except SpecError as exc:
            raise _at(stmt, exc) from None
    return out


def _statement(stmt: dict, arrays: dict, defines: dict) -> list:
    """One statement as the statements it unrolls to."""
    out = []
    k = _kind(stmt)
    if k == "FromStatement":
        kids = _kids(stmt)
        index, body = _name_of(kids[0]), kids[-1]
        start = _constant(kids[1], defines, "a FROM loop's start")
        stop = _constant(kids[2], defines, "a FROM loop's end")
        step = _constant(kids[3], defines, "a FROM loop's BY") if len(kids) > 4 else 1
        if step <= 0:
            raise SpecError(f"FROM ... BY {step}: a positive step is supported")
        values = range(start, stop + 1, step)
        if len(values) > MAX_ELEMENTS:
            raise SpecError(f"a FROM loop of {len(values)} passes (more than "
                            f"{MAX_ELEMENTS}) is not supported")
        for v in values:
            out += _statements(_kids(_substitute(copy.deepcopy(body), index, v)),
                               arrays, defines)
    elif k == "Compartment" and _kind(_kids(stmt)[0]) == "Name" and len(_kids(stmt)) > 2:
        index, volume, *names = _kids(stmt)
        for n in names:
            name = _name_of(n)
            if name not in arrays:
                raise SpecError(f"COMPARTMENT {_name_of(index)}, ... {{{name}}}: {name} is "
                                f"not an array")
            for i in range(arrays[name]):
                vol = _walk(_substitute(copy.deepcopy(volume), _name_of(index), i),
                            arrays, defines)
                out.append({"Compartment": [vol, _name_node(_element(name, i, arrays))],
                            "nmodl": stmt.get("nmodl", "")})
    else:
        out.append(_walk(stmt, arrays, defines))
    return out


def _walk(node, arrays: dict, defines: dict):
    """``node`` with every statement list inside it unrolled and each DEFINE's name as its
    value."""
    if isinstance(node, list):
        return [_walk(x, arrays, defines) for x in node]
    if not isinstance(node, dict):
        return node
    k = _kind(node)
    if k == "StatementBlock":
        out = {"StatementBlock": _statements(_kids(node), arrays, defines)}
        if "nmodl" in node:
            out["nmodl"] = node["nmodl"]
        return out
    if k in ("VarName", "Name") and _name_of(node) in defines:
        return _integer_node(defines[_name_of(node)])
    return {key: (_walk(v, arrays, defines) if key != "nmodl" else v)
            for key, v in node.items()}


def unroll(tree: dict) -> dict:
    """The file's syntax tree with its DEFINEs, arrays and FROM loops unrolled."""
    tree = copy.deepcopy(tree)
    program = _kids(tree)
    defines = {}
    for node in program:
        if _kind(node) == "Define":
            name, value = _kids(node)
            defines[_name_of(name)] = _constant(value, {}, f"DEFINE {_name_of(name)}")
    tree[_kind(tree)] = program = [n for n in program if _kind(n) != "Define"]
    arrays = _declarations(tree, defines)
    tree[_kind(tree)] = [_walk(n, arrays, defines) for n in program]
    return _indexed(tree, arrays, defines) if arrays else tree
