"""Every loop the templates mark ``omp simd`` is vectorised by the C compiler (read from
gcc's optimisation report, not timed): a kernel that stops inlining its element
function, or a select that does not if-convert, shows here as a scalar loop."""
import re
import shutil
import subprocess

import pytest

import ionc
from ionc.codegen import get_channel, render_kernels
from ionc.codegen.neuron import NeuronSpec, MEMBRANE_PARAMETERS
from ionc.codegen.render import render_neuron

GCC = shutil.which("gcc")
LOOP = re.compile(r"^\s*for \(int64_t (i|ionc_j) = 0;")
#: A record loop that only copies a buffer: gcc makes it a memcpy, not a vector loop.
COPY = re.compile(r"^\s*\w+\[[^]]*\] = ionc_b_\w+\[ionc_j\];$")


def _unvectorised(source: str, tmp_path) -> list[str]:
    src = tmp_path / "k.c"
    src.write_text(source)
    flags = ionc.build.compiler_settings().compile_flags
    r = subprocess.run([GCC, *flags, "-c", str(src), "-o", str(tmp_path / "k.o"),
                        "-fopt-info-vec-optimized"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    done = {int(m) for m in re.findall(r"k\.c:(\d+):\d+: optimized: loop vectorized", r.stderr)}
    lines = source.splitlines()
    missing = []
    for k, line in enumerate(lines):
        # gcc reports a loop at its pragma, its header or its first statement
        if LOOP.match(line) and "#pragma omp" in lines[k - 1] \
                and not COPY.match(lines[k + 1]) and not done & set(range(k, k + 4)):
            missing.append(f"{k + 1}: {line.strip()}")
    return missing


@pytest.mark.skipif(GCC is None, reason="needs gcc")
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", ["INa_Ba2002", "ICaT_HM1992", "HH"])
def test_every_simd_loop_vectorises(name, dtype, tmp_path):
    if name == "HH":
        spec = NeuronSpec("HH", {label: get_channel(c) for label, c in
                                 (("INa", "INa_HH1952"), ("IK", "IK_HH1952"), ("IL", "IL"))},
                          dict(MEMBRANE_PARAMETERS))
        source = render_neuron(spec, "c", dtype).source
    else:
        source = render_kernels(get_channel(name), "c", dtype).source
    assert _unvectorised(source, tmp_path) == []
