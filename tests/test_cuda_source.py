"""The CUDA target without a GPU: nvcc and NVRTC (the compiler CuPy uses at run
time, with CuPy's options) compile every emitted source, and the kernel source,
compiled for the host through a shim of the CUDA built-ins and run over a
simulated grid, matches the C target within 1 ulp."""
import shutil
import subprocess
import sys

import numpy as np
import pytest

from ionc import INa_Ba2002
from ionc.codegen import get_channel, render_kernels
from ionc.build.cuda_module import CUPY_NVRTC_OPTIONS, NVRTC_OPTIONS
from targets import cuda_helper, fake_cupy

nvrtc = cuda_helper("nvrtc")

NVCC = shutil.which("nvcc")
LAYOUTS = [frozenset(), frozenset({"V_sh", "T"})]


def _source(dtype, layout):
    return render_kernels(get_channel("INa_Ba2002"), "cuda", dtype, array_params=layout)


@pytest.mark.skipif(NVCC is None, reason="nvcc is not on PATH")
@pytest.mark.parametrize("arch", ["-arch=sm_90", "portable"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_nvcc_compiles_without_warnings(tmp_path, dtype, arch):
    if arch == "portable":  # the oldest architecture this nvcc supports, as PTX
        oldest = subprocess.run([NVCC, "--list-gpu-arch"], capture_output=True,
                                text=True).stdout.split()[0]
        arch = f"-arch={oldest}"
    for k, layout in enumerate(LAYOUTS):
        cu = tmp_path / f"k{k}.cu"
        cu.write_text(_source(dtype, layout).source)
        r = subprocess.run([NVCC, arch, "-c", str(cu), "-o", str(tmp_path / f"k{k}.o"),
                            "-Werror", "all-warnings"], capture_output=True, text=True)
        assert r.returncode == 0 and "warning" not in r.stderr.lower(), r.stderr[-3000:]


@pytest.mark.skipif(NVCC is None, reason="nvcc is not on PATH")
@pytest.mark.parametrize("dtype", ["float64"])    # float32: NVRTC below, nvcc for INa above
def test_nvcc_compiles_every_library_channel(tmp_path, dtype):
    from ionc.codegen import LIBRARY
    files = []
    for name, spec in LIBRARY.items():
        path = tmp_path / f"{name}.cu"
        path.write_text(render_kernels(spec, "cuda", dtype).source)
        files.append(str(path))
    r = subprocess.run([NVCC, "-arch=sm_90", "-c", *files, "-Werror", "all-warnings"],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0 and "warning" not in r.stderr.lower(), r.stderr[-3000:]


@pytest.mark.skipif(sys.platform != "linux", reason="the NVRTC wheel is installed on Linux")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_nvrtc_compiles_every_library_channel_with_cupys_options(dtype):
    # NVRTC has no standard headers: this is the only check of the source's
    # __CUDACC_RTC__ branch before a GPU runs it
    from ionc.codegen import LIBRARY
    assert nvrtc.library() is not None, "libnvrtc missing: the test extra installs it"
    archs = nvrtc.supported_architectures()
    for arch in (90, archs[0]):
        for name, spec in LIBRARY.items():
            layout = frozenset(spec.parameters)            # every parameter per neuron
            for params in (frozenset(), layout):
                src = render_kernels(spec, "cuda", dtype, array_params=params).source
                status, log, ptx = nvrtc.compile_ptx(src, (
                    *NVRTC_OPTIONS, *CUPY_NVRTC_OPTIONS, f"-arch=compute_{arch}"))
                warnings = [line for line in log.lower().splitlines()
                            if "warning" in line and "are deprecated" not in line]
                assert status == 0 and not warnings, (name, arch, log[-3000:])
                assert ".entry ionc_update_kernel" in ptx and ".entry ionc_run_kernel" in ptx


@pytest.mark.skipif(sys.platform != "linux", reason="the NVRTC wheel is installed on Linux")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_nvrtc_compiles_a_newton_iteration(dtype):
    # derivimplicit on nonlinear equations: a loop inside the element function
    from pathlib import Path
    from ionc.codegen.nmodl import parse_nmodl
    for name in ("tpump", "tbuffer"):
        path = Path(__file__).parent / "nmodl" / f"{name}.mod"
        spec = parse_nmodl(path.read_text(), path=path).spec
        src = render_kernels(spec, "cuda", dtype, "implicit_euler").source
        assert "for (int ionc_pass = 0; ionc_pass < 50; ++ionc_pass)" in src
        status, log, ptx = nvrtc.compile_ptx(src, (
            *NVRTC_OPTIONS, *CUPY_NVRTC_OPTIONS, "-arch=compute_90"))
        assert status == 0 and "warning" not in log.lower(), (name, log[-3000:])


@pytest.mark.skipif(sys.platform != "linux", reason="the NVRTC wheel is installed on Linux")
@pytest.mark.parametrize("method", ["exp_auto", "neuron"])
def test_nvrtc_compiles_the_neuron_kernels_with_cupys_options(method):
    # the fused neuron run counts spikes in int32, which NVRTC has no header for
    from ionc import HH
    assert nvrtc.library() is not None, "libnvrtc missing: the test extra installs it"
    for dtype in ("float32", "float64"):
        src = HH(4, dtype=dtype, target="numpy", method=method, dt=0.025).source("cuda")
        status, log, ptx = nvrtc.compile_ptx(src, (
            *NVRTC_OPTIONS, *CUPY_NVRTC_OPTIONS, "-arch=compute_90"))
        assert status == 0, (dtype, log[-3000:])
        assert ".entry ionc_run_kernel" in ptx


@pytest.mark.skipif(NVCC is None, reason="nvcc is not on PATH")
@pytest.mark.parametrize("channel", ["INa_Ba2002", "IKA1_HM1992"])   # rates; inf and tau
def test_float32_kernels_promote_nothing_to_double(tmp_path, channel):
    # The deliberate double intermediates (ionc_wide) set to float: then any double
    # in the PTX would be an accidental promotion by the printer.  (IKA1_HM1992's tau
    # divided a sum of exponentials of double arguments in double, until the printer
    # learnt that a call returns the real type whatever its argument's.)
    cu = tmp_path / "k.cu"
    cu.write_text(render_kernels(get_channel(channel), "cuda", "float32",
                                 array_params=frozenset({"V_sh"})).source)
    r = subprocess.run([NVCC, "-arch=sm_90", "-c", str(cu), "-o", str(tmp_path / "k.o"),
                        "-DIONC_WIDE=float", "-Xptxas", "-warn-double-usage"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "double precision" not in r.stderr, r.stderr[-3000:]


class HostKernels:
    """The CUDA source compiled with g++ through the shim (tests/cuda/fake_cupy.py);
    launches run the kernels over a simulated grid of 3 blocks of 32 threads."""

    def __init__(self, generated, grid=3, block=32):
        self.fake = fake_cupy()
        self.module = self.fake.RawModule(code=generated.source)
        self.generated, self.grid, self.block = generated, grid, block
        self.real = np.dtype(generated.dtype).type

    def _arg(self, kind, value):
        if kind == "int":
            return np.int64(value)
        if kind == "real":
            return self.real(value)
        return self.fake.ndarray(value)          # the same memory: results land in `value`

    def launch(self, task, n, **values):
        """``values`` by the user's names (records as ``rec_<name>``)."""
        sig = self.generated.kernels[task]
        args = tuple(self._arg(p.kind, values[f"rec_{p.key}" if p.role == "record" else p.key])
                     for p in sig.parameters[1:])
        self.module.get_function(sig.name)((self.grid,), (self.block,), (np.int64(n), *args))


def _ulps(a, b, dtype):
    itype = np.int32 if dtype == "float32" else np.int64
    ia, ib = a.view(itype).astype(np.int64), b.view(itype).astype(np.int64)
    ia = np.where(ia < 0, -(ia & np.iinfo(itype).max), ia)
    ib = np.where(ib < 0, -(ib & np.iinfo(itype).max), ib)
    return int(np.abs(ia - ib).max())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cuda_source_on_the_host_matches_the_c_target(dtype, monkeypatch):
    # the same arithmetic: the C target with glibc's scalar exp/expm1, as the host build of
    # the CUDA source uses (on a GPU that source calls the device's exp/expm1)
    monkeypatch.setenv("IONC_EXP", "libm")
    monkeypatch.setenv("IONC_VECTOR_MATH", "0")
    # the host build of the CUDA source has no FMA (a GPU has): nor has this C build, so
    # both take the same path of the float64 division correction (ionc_exp_div)
    monkeypatch.setenv("IONC_CFLAGS", "-mno-fma")
    n, steps = 1000, 25          # more elements than the simulated grid's 96 threads
    rng = np.random.default_rng(5)
    V_sh = rng.uniform(-60, -40, n).astype(dtype)
    T = rng.uniform(20, 40, n).astype(dtype)
    V = rng.uniform(-90, 40, n).astype(dtype)
    V[:50] = (V_sh[:50] + dtype_(dtype)(13)).astype(dtype)
    trace = rng.uniform(-90, 40, (steps, n)).astype(dtype)
    host = HostKernels(_source(dtype, LAYOUTS[1]))
    ch = INa_Ba2002(n, V_sh=V_sh, T=T, dtype=dtype)
    params = dict(T=T, E=50.0, g_max=90.0, V_sh=V_sh)

    p, q = np.empty(n, dtype), np.empty(n, dtype)
    host.launch("steady_state", n, V=V, p=p, q=q, **params)
    ch.reset_state(V)
    assert _ulps(p, ch.p, dtype) <= 1 and _ulps(q, ch.q, dtype) <= 1

    host.launch("update", n, dt=0.05, V=trace[0], p=p, q=q, **params)
    ch.update(trace[0], dt=0.05)
    assert _ulps(p, ch.p, dtype) <= 1 and _ulps(q, ch.q, dtype) <= 1

    for rate in ("alpha_p", "beta_p", "alpha_q", "beta_q"):
        out = np.full(n, np.nan, dtype)
        host.launch(rate, n, V=V, **{rate: out}, **params)
        role, gate = rate.split("_")
        assert _ulps(out, getattr(ch, f"f_{gate}_{role}")(V), dtype) <= 1, rate

    I = np.full(n, np.nan, dtype)
    host.launch("current", n, V=V, p=p, q=q, I=I, **params)
    np.testing.assert_allclose(I, ch.current(V), rtol=4 * np.finfo(dtype).eps)

    rec = {k: np.full((steps, n), np.nan, dtype) for k in ("rec_p", "rec_q", "rec_I")}
    pc = ch.p.copy()
    host.launch("run", n, steps=steps, every=1, stride=n, dt=0.05, V=trace, p=p, q=q, **rec,
                **params)
    out = ch.run(trace, dt=0.05)
    assert np.isfinite(rec["rec_p"]).all() and not np.array_equal(pc, ch.p)
    assert _ulps(rec["rec_p"].ravel(), out["p"].ravel(), dtype) <= 2
    assert _ulps(p, ch.p, dtype) <= 2 and _ulps(q, ch.q, dtype) <= 2
    np.testing.assert_allclose(rec["rec_I"], out["I"], rtol=16 * np.finfo(dtype).eps, atol=1e-30)

    count = np.zeros(1, np.uint64)
    Vn = V.copy()
    Vn[[3, 500, 999]] = np.nan
    host.module.get_function(host.generated.count_nonfinite)(
        (host.grid,), (host.block,), (np.int64(n), host.fake.ndarray(Vn), host.fake.ndarray(count)))
    assert int(count[0]) == 3


def dtype_(dtype):
    return np.dtype(dtype).type
