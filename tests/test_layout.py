"""Data flows one way: spec -> codegen -> source text -> build -> runtime.

Read from the source files: codegen imports nothing from the runtime or the
build stage, build nothing from either of the others, and the runtime no
private name of the code generator.
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _imports(path: Path):
    """``(module, names, level)`` of every import in ``path``."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, (), 0
        elif isinstance(node, ast.ImportFrom):
            yield node.module or "", tuple(a.name for a in node.names), node.level


@pytest.mark.parametrize("stage", ["codegen", "build"])
def test_early_stages_import_no_later_stage(stage):
    for path in sorted((ROOT / stage).glob("*.py")):
        for module, _, level in _imports(path):
            # ionc.codegen / ionc.build live one level below ionc (the runtime)
            assert level <= 1, f"{path.name}: 'from {'.' * level}{module} import ...'"
            assert not module.startswith("ionc"), f"{path.name} imports {module}"
            if stage == "codegen":
                assert module.split(".")[0] not in ("cffi", "cupy"), \
                    f"{path.name}: codegen knows nothing of {module}"
            if stage == "build":
                assert module.split(".")[0] not in ("sympy", "jinja2"), \
                    f"{path.name}: build knows nothing of {module}"


def test_the_runtime_imports_no_private_name_of_the_code_generator():
    checked = 0
    for path in sorted((ROOT / "runtime").glob("*.py")):
        for module, names, level in _imports(path):
            if level == 1 and module.startswith("codegen"):
                checked += 1
                assert not any(part.startswith("_") for part in module.split(".")), \
                    f"{path.name}: {module}"
                assert not any(n.startswith("_") for n in names), f"{path.name}: {names}"
    assert checked >= 3


def test_every_stage_is_reachable_through_one_namespace():
    import ionc
    from ionc import build, codegen
    assert ionc.codegen is codegen and ionc.build is build
    for name in ("render_kernels", "render_neuron", "BACKENDS", "KernelSignature",
                 "symbol_table", "spec_from_strings", "NeuronSpec"):
        assert hasattr(codegen, name), name
