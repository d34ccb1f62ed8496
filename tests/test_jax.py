"""ionc inside JAX (ionc.jax): the C kernels as XLA custom calls.

The C target is the reference here: the handlers call the same kernels,
compiled from the same source with the same flags, so every result under
jit, scan, vmap and sharding must equal it to the bit.  (The C target itself
is checked against BrainPy and 50-digit mpmath elsewhere.)
"""
import os
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

jax = pytest.importorskip("jax", reason="ionc.jax needs the jax extra")
jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402

import ionc  # noqa: E402
import ionc.jax as ij  # noqa: E402

HERE = Path(__file__).parent
N = 257                       # not a multiple of a vector width or of a chunk
DT = 0.05


def voltages(seed: int, shape=(N,)) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-100.0, 50.0, shape)


def same(a, b) -> bool:
    return np.array_equal(np.asarray(a), np.asarray(b))


pytestmark = pytest.mark.usefixtures("jax_x64")


@pytest.fixture(scope="module", params=["float64", "float32"])
def na(request):
    dtype = request.param
    return ij.ops(ionc.INa_Ba2002, dtype=dtype), dtype


def test_steady_state_step_current_equal_the_c_target_to_the_bit(na):
    ops, dtype = na
    V = voltages(0).astype(dtype)
    ch = ionc.INa_Ba2002(N, dtype=dtype)
    ch.reset_state(V)
    s = ops.steady_state(V)
    assert same(s["p"], ch.p) and same(s["q"], ch.q)
    step = jax.jit(ops.step)
    for k in range(5):
        V = voltages(k + 1).astype(dtype)
        s = step(s, V, DT)
        ch.update(V, dt=DT)
    assert same(s["p"], ch.p) and same(s["q"], ch.q)
    assert same(jax.jit(ops.current)(s, V), ch.current(V))


def test_steps_inside_scan_and_the_fused_run_equal_the_c_target(na):
    ops, dtype = na
    trace = voltages(3, (40, N)).astype(dtype)
    s0 = ops.steady_state(trace[0])

    @jax.jit
    def scanned(s, trace):
        def body(s, v):
            s = ops.step(s, v, DT)
            return s, ops.current(s, v)
        return jax.lax.scan(body, s, trace)

    s_scan, I_scan = scanned(s0, trace)
    s_run, rec = jax.jit(ops.run, static_argnames=("every",))(s0, trace, DT, every=1)
    ch = ionc.INa_Ba2002(N, dtype=dtype)
    ch.reset_state(trace[0])
    ref = ch.run(trace, dt=DT, record=("p", "q", "I"))
    for g in ("p", "q"):
        assert same(s_scan[g], ch.states[g]) and same(s_run[g], ch.states[g])
        assert same(rec[g], ref[g])
    assert same(I_scan, ref["I"]) and same(rec["I"], ref["I"])


def test_large_populations_are_split_into_blocks_over_xlas_threads():
    """100003 elements: blocks of 256 shared out over XLA's pool, a last partial block."""
    n = 100_003
    ops = ij.ops(ionc.INa_Ba2002)
    V = voltages(20, (n,))
    ch = ionc.INa_Ba2002(n)
    ch.reset_state(V)
    s = ops.steady_state(V)
    assert same(s["p"], ch.p)
    s = jax.jit(ops.step)(s, V - 2.0, DT)
    ch.update(V - 2.0, dt=DT)
    assert same(s["q"], ch.q) and same(ops.current(s, V), ch.current(V))
    batched = jax.vmap(lambda v: ops.step(s, v, DT))(np.stack([V, V + 1.0]))
    assert same(batched["p"][1], ops.step(s, V + 1.0, DT)["p"])


def test_run_records_every_kth_step_and_only_what_is_asked():
    ops = ij.ops(ionc.INa_Ba2002)
    trace = voltages(4, (10, N))
    s0 = ops.steady_state(trace[0])
    _, rec = ops.run(s0, trace, DT, every=3, record=("q",))
    assert set(rec) == {"q"} and rec["q"].shape == (3, N)
    _, full = ops.run(s0, trace, DT)
    assert same(rec["q"], full["q"][2::3])
    states, none = ops.run(s0, trace, DT, record=())
    assert none == {} and same(states["p"], ops.run(s0, trace, DT)[0]["p"])


def test_vmap_equals_the_unbatched_calls_with_batched_dt_and_parameters():
    ops = ij.ops(ionc.INa_Ba2002)
    V = voltages(5, (3, N))
    s = jax.vmap(ops.steady_state)(V)
    assert same(s["p"], ops.steady_state(V)["p"])
    dts = jnp.array([0.01, 0.05, 0.1])
    g_max = jnp.array([10.0, 90.0, 120.0])
    stepped = jax.jit(jax.vmap(lambda s, v, dt, g: ops.step(s, v, dt, params={"g_max": g,
                                                                                "T": 30.0})))
    batched = stepped(s, V + 1.0, dts, g_max)
    for k in range(3):
        one = ops.step({g: s[g][k] for g in s}, V[k] + 1.0, float(dts[k]),
                       params={"g_max": float(g_max[k]), "T": 30.0})
        assert same(batched["p"][k], one["p"]) and same(batched["q"][k], one["q"])
    # a batched run: the trace gets the batch axis in front; 5 steps recorded every 2nd
    # (a record's rows per member is steps // every, not steps / every)
    traces5 = voltages(16, (3, 5, N))
    s3 = jax.vmap(ops.steady_state)(traces5[:, 0])
    _, rec5 = jax.vmap(lambda s, t: ops.run(s, t, DT, every=2))(s3, traces5)
    for k in range(3):
        one = ops.run({g: s3[g][k] for g in s3}, traces5[k], DT, every=2)[1]
        assert rec5["I"].shape == (3, 2, N) and same(rec5["I"][k], one["I"])
    # a batched run: the trace gets the batch axis in front
    traces = voltages(6, (2, 12, N))
    s2 = jax.vmap(ops.steady_state)(traces[:, 0])
    st, rec = jax.vmap(lambda s, t: ops.run(s, t, DT))(s2, traces)
    for k in range(2):
        st1, rec1 = ops.run({g: s2[g][k] for g in s2}, traces[k], DT)
        assert same(st["q"][k], st1["q"]) and same(rec["I"][k], rec1["I"])


def test_per_neuron_parameters_and_a_2d_population():
    rng = np.random.default_rng(7)
    g_max = rng.uniform(50.0, 100.0, (4, N))
    ops = ij.ops(ionc.INa_Ba2002, g_max=g_max, V_sh=-55.0)
    V = voltages(8, (4, N))
    ch = ionc.INa_Ba2002((4, N), keep_size=True, g_max=g_max, V_sh=-55.0)
    ch.reset_state(V)
    s = ops.step(ops.steady_state(V), V + 3.0, DT)
    ch.update(V + 3.0, dt=DT)
    assert same(s["p"], ch.p) and same(ops.current(s, V), ch.current(V))


def test_a_mod_channel_with_a_calcium_input():
    Ch = ionc.from_nmodl(HERE / "nmodl" / "tkca.mod")
    ops = ij.ops(Ch)
    (cai_name,) = Ch.spec.inputs
    V, cai = voltages(9), np.random.default_rng(10).uniform(1e-5, 1e-3, N)
    ch = Ch(N)
    ch.reset_state(V, **{cai_name: cai})
    s = ops.steady_state(V, **{cai_name: cai})
    assert all(same(s[g], ch.states[g]) for g in ops.gates)
    s = jax.jit(lambda s, v, c: ops.step(s, v, DT, **{cai_name: c}))(s, V - 5.0, cai * 2)
    ch.update(V - 5.0, dt=DT, **{cai_name: cai * 2})
    assert all(same(s[g], ch.states[g]) for g in ops.gates)


def test_a_step_updates_the_states_in_place_inside_jit():
    ops = ij.ops(ionc.INa_Ba2002)
    V = voltages(11)
    s = ops.steady_state(V)
    hlo = jax.jit(ops.step, donate_argnums=0).lower(s, V, DT).as_text()
    assert "output_operand_aliases" in hlo or "tf.aliasing_output" in hlo


def test_bad_input_is_refused_with_a_clear_error():
    ops = ij.ops(ionc.INa_Ba2002)
    V = voltages(12)
    s = ops.steady_state(V)
    with pytest.raises(ValueError, match="dt must be finite and > 0"):
        ops.step(s, V, 0.0)
    with pytest.raises(Exception, match="dt must be finite and > 0"):   # traced: at run time
        jax.block_until_ready(jax.jit(ops.step)(s, V, -0.1))
    bad = V.copy()
    bad[17] = np.nan
    with pytest.raises(Exception, match="V contains 1 non-finite"):
        jax.block_until_ready(jax.jit(ops.step)(s, bad, DT))
    with pytest.raises(Exception, match="V_trace contains 2 non-finite|V contains 2 non-finite"):
        trace = np.stack([V, bad, bad])
        trace[0, 0] = np.inf
        jax.block_until_ready(ops.run(s, trace[:2], DT)[0]["p"])
    loose = ij.ops(ionc.INa_Ba2002, nan_policy="propagate")
    assert np.isnan(np.asarray(loose.step(s, bad, DT)["p"])[17])
    with pytest.raises(KeyError, match="exactly the keys"):
        ops.step({"p": s["p"]}, V, DT)
    with pytest.raises(ValueError, match="state q has shape"):
        ops.step({"p": s["p"], "q": s["q"][:10]}, V, DT)
    with pytest.raises(TypeError, match="state p has dtype float32"):
        ops.step({"p": s["p"].astype(jnp.float32), "q": s["q"]}, V, DT)
    with pytest.raises(ValueError, match="does not broadcast"):
        ops.current(s, V, params={"g_max": np.ones(3)})
    with pytest.raises(TypeError, match="unknown parameter"):
        ij.ops(ionc.INa_Ba2002, gmax=1.0)
    with pytest.raises(ValueError, match="method 'table' is not available"):
        ij.ops(ionc.INa_Ba2002, method="table")


def _central(f, x, h):
    return (np.asarray(f(x + h)) - np.asarray(f(x - h))) / (2 * h)


def test_step_steady_state_and_current_have_exact_derivatives():
    """The Jacobian kernels (SymPy's derivatives) against central differences, at the
    singular points (-37 and -10 mV) and 1e-9 mV beside them, and far out."""
    ops = ij.ops(ionc.INa_Ba2002)
    V = np.array([-150.0, -80.0, -37.0, -37.0 + 1e-9, -10.0, -10.0 - 1e-9, 20.0, 60.0])
    s = ops.steady_state(V - 5.0)
    h = 1e-6
    for f in (lambda v: ops.step(s, v, DT)["p"], lambda v: ops.step(s, v, DT)["q"],
              lambda v: ops.steady_state(v)["p"], lambda v: ops.current(s, v)):
        exact = np.diag(np.asarray(jax.jacfwd(f)(V)))
        assert np.all(np.isfinite(exact))
        fd = _central(f, V, h)             # its rounding: about 1e-16 / h of the values
        assert np.allclose(exact, fd, rtol=1e-6, atol=2e-9 * max(1.0, np.abs(f(V)).max()))
        assert same(jax.grad(lambda v, f=f: f(v).sum())(V), exact)     # reverse mode too
    # in the states: the step's decay factor; the current in g_max: I / g_max
    dp = jax.grad(lambda p: ops.step({"p": p, "q": s["q"]}, V, DT)["p"].sum())(s["p"])
    assert np.allclose(np.asarray(dp), _central(
        lambda p: ops.step({"p": p, "q": s["q"]}, V, DT)["p"], np.asarray(s["p"]), h),
        rtol=1e-7)
    dg = jax.grad(lambda g: ops.current(s, V, params={"g_max": g}).sum())(90.0)
    assert np.isclose(float(dg), float(ops.current(s, V).sum()) / 90.0, rtol=1e-14)


def test_gradients_flow_through_a_scan_of_steps():
    ops = ij.ops(ionc.INa_Ba2002)
    trace = voltages(14, (30, 6))

    def loss(v0):
        def body(st, v):
            st = ops.step(st, v, DT)
            return st, ops.current(st, v)
        return jax.lax.scan(body, ops.steady_state(v0), trace)[1].sum()

    V0 = voltages(15, (6,))
    grad = np.asarray(jax.jit(jax.grad(loss))(V0))
    fd = np.array([(loss(V0 + 1e-6 * e) - loss(V0 - 1e-6 * e)) / 2e-6 for e in np.eye(6)])
    assert np.allclose(grad, fd, rtol=1e-5, atol=1e-7 * np.abs(fd).max())


def test_other_derivatives_are_refused_not_silently_zero():
    ops = ij.ops(ionc.INa_Ba2002)
    V = voltages(13)
    s = ops.steady_state(V)
    with pytest.raises(TypeError, match="not in dt"):
        jax.grad(lambda dt: ops.step(s, V, dt)["p"].sum())(DT)
    with pytest.raises(TypeError, match="not in parameter 'g_max'"):
        jax.jacfwd(lambda g: ops.step(s, V, DT, params={"g_max": g})["p"])(1.0)
    with pytest.raises(TypeError, match="not differentiable"):    # no second derivative
        jax.grad(lambda v: jax.grad(lambda w: ops.current(s, w).sum())(v).sum())(V)
    with pytest.raises(TypeError, match="not differentiable"):
        jax.grad(lambda v: ops.run(s, v, DT)[0]["p"].sum())(voltages(3, (4, N)))
    # a gradient that does not pass through the op is untouched
    assert float(jax.grad(lambda v: ops.current(s, jax.lax.stop_gradient(v)).sum() + v.sum())(V)
                 .sum()) == N


def test_dexprelr_is_accurate_everywhere():
    """ionc's derivative of exprelr against 50-digit mpmath, through the kernels' own
    Jacobian: d/dV of INa_Ba2002's beta_p-type term is -7/25 dexprelr((V+10)/5)."""
    import mpmath
    from ionc.build import load_python_module
    from ionc.codegen import get_channel, render_kernels
    mpmath.mp.dps = 50
    numpy_kernels = load_python_module(render_kernels(get_channel("INa_Ba2002"), "numpy").source)
    u = np.array([0.0, 1e-12, -1e-9, 0.01, -0.0999, 0.1, -0.1, 0.5, 3.0, -3.0, 40.0, -40.0,
                  300.0, -300.0, 700.0, -745.0])
    exact = np.array([float(mpmath.diff(lambda x: x / mpmath.expm1(x), mpmath.mpf(x)))
                      if x != 0 else -0.5 for x in u])
    got = numpy_kernels._dexprelr(u)
    err = np.abs(got - exact) / np.maximum(np.abs(exact), 1e-300)
    assert np.all(err[np.abs(exact) > 1e-300] < 1e-13), err
    # the C version, through ionc.jax's Jacobian of the steady state (float64)
    assert np.all(np.isfinite(np.asarray(
        jax.jacfwd(lambda v: ij.ops(ionc.INa_Ba2002).steady_state(v)["p"])(
            jnp.asarray([-10.0, -37.0, 500.0, -500.0])))))


def test_float64_needs_jax_64_bit_mode():
    jax.config.update("jax_enable_x64", False)
    try:
        with pytest.raises(ValueError, match="jax_enable_x64"):
            ij.ops(ionc.INa_Ba2002, dtype="float64")
    finally:
        jax.config.update("jax_enable_x64", True)


SHARDED = """
import os
import shutil
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
import numpy as np, jax
jax.config.update("jax_enable_x64", True)
from jax.sharding import NamedSharding, PartitionSpec as P
import ionc, ionc.jax as ij
assert len(jax.devices()) == 2
ops = ij.ops(ionc.INa_Ba2002)
mesh = jax.make_mesh((2,), ("n",))
N = 1000
V = np.random.default_rng(1).uniform(-90, 40, N)
tr = np.random.default_rng(2).uniform(-90, 40, (20, N))
f = jax.jit(jax.shard_map(lambda v, t: ops.run(ops.steady_state(v), t, 0.05), mesh=mesh,
                          in_specs=(P("n"), P(None, "n")), out_specs=(P("n"), P(None, "n"))))
Vd = jax.device_put(V, NamedSharding(mesh, P("n")))
trd = jax.device_put(tr, NamedSharding(mesh, P(None, "n")))
st, rec = f(Vd, trd)
one, rec1 = ops.run(ops.steady_state(V), tr, 0.05)
assert len(st["p"].addressable_shards) == 2
assert np.array_equal(st["p"], one["p"]) and np.array_equal(rec["I"], rec1["I"])
hlo = f.lower(Vd, trd).compile().as_text()
assert "all-gather" not in hlo and "all-reduce" not in hlo and "collective" not in hlo
print("SHARDED-OK")
"""

DISTRIBUTED = """
import sys, numpy as np, jax
jax.config.update("jax_enable_x64", True)
port, pid = sys.argv[1], int(sys.argv[2])
jax.distributed.initialize(f"localhost:{port}", num_processes=2, process_id=pid)
from jax.sharding import NamedSharding, PartitionSpec as P
import ionc, ionc.jax as ij
mesh = jax.make_mesh((2,), ("n",), devices=jax.devices())
N = 1000
V = np.random.default_rng(1).uniform(-90, 40, N)
tr = np.random.default_rng(2).uniform(-90, 40, (20, N))
ops = ij.ops(ionc.INa_Ba2002)
mine = slice(pid * N // 2, (pid + 1) * N // 2)
Vg = jax.make_array_from_process_local_data(NamedSharding(mesh, P("n")), V[mine], (N,))
trg = jax.make_array_from_process_local_data(NamedSharding(mesh, P(None, "n")), tr[:, mine],
                                             (20, N))
f = jax.jit(jax.shard_map(lambda v, t: ops.run(ops.steady_state(v), t, 0.05), mesh=mesh,
                          in_specs=(P("n"), P(None, "n")), out_specs=(P("n"), P(None, "n"))))
st, rec = f(Vg, trg)
local = np.concatenate([np.asarray(s.data) for s in st["p"].addressable_shards])
alone = ops.run(ops.steady_state(V), tr, 0.05)[0]["p"][mine]
assert np.array_equal(local, alone), pid
print("DISTRIBUTED-OK", pid)
jax.distributed.shutdown()
"""


def _python(code: str, *args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env, **kwargs)


@pytest.mark.slow
def test_a_population_sharded_over_two_devices_runs_per_shard_without_communication():
    p = _python(textwrap.dedent(SHARDED))
    out, _ = p.communicate(timeout=300)
    assert p.returncode == 0 and "SHARDED-OK" in out, out[-3000:]


@pytest.mark.slow
def test_two_processes_with_jax_distributed_each_run_their_shard():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = str(s.getsockname()[1])
    procs = [_python(textwrap.dedent(DISTRIBUTED), port, str(pid)) for pid in (0, 1)]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    for pid, (p, out) in enumerate(zip(procs, outs)):
        assert p.returncode == 0 and f"DISTRIBUTED-OK {pid}" in out, out[-3000:]


NVCC = shutil.which("nvcc")


@pytest.mark.skipif(NVCC is None, reason="nvcc is not on PATH")
@pytest.mark.parametrize("channel,dtype,arrays", [
    ("tkca.mod", "float64", frozenset()),                  # an input beyond V (cai)
    ("HH", "float32", frozenset({"C", "INa.g_max"})),      # a neuron, per-neuron parameters
])
def test_the_cuda_handlers_compile_with_nvcc_and_load(channel, dtype, arrays):
    """The CUDA variant: the CUDA target's kernels, their twins reading the scalars from
    device memory, and the handlers launching them on XLA's stream (each build is one
    nvcc run of some 7 s, hence few cases)."""
    from ionc.build import build_xla_cuda_library
    from ionc.codegen import render_kernels
    from ionc.codegen.ffi import TASKS, handler_symbol
    if channel == "HH":
        from ionc.codegen import render_neuron
        source = render_neuron(ionc.HH(4).spec, "xla-cuda", dtype, array_params=arrays).source
        tasks = ("update", "run")
    else:
        spec = (ionc.from_nmodl(HERE / "nmodl" / channel).spec if channel.endswith(".mod")
                else getattr(ionc, channel).spec)
        source = render_kernels(spec, "xla-cuda", dtype, array_params=arrays).source
        tasks = TASKS
    lib = build_xla_cuda_library(source, jax.ffi.include_dir(), "test")
    for task in tasks:
        assert getattr(lib.handle, handler_symbol(task))


def _gpu() -> bool:
    """JAX has a GPU; with IONC_REQUIRE_GPU=1 (make test-gpu) a missing one is an error."""
    if ij.gpu_available():
        return True
    if os.environ.get("IONC_REQUIRE_GPU", "") not in ("", "0"):
        raise RuntimeError("IONC_REQUIRE_GPU is set but JAX sees no GPU (make test-gpu installs "
                           "jax[cuda12])")
    return False


@pytest.mark.gpu
@pytest.mark.skipif(not _gpu(), reason="JAX has no GPU here")
@pytest.mark.parametrize("dtype,tol", [("float64", 1e-12), ("float32", 1e-5)])
def test_the_ops_run_on_a_gpu_as_on_the_cpu(dtype, tol):
    ops = ij.ops(ionc.INa_Ba2002, dtype=dtype)
    gpu, cpu = jax.devices("gpu")[0], jax.devices("cpu")[0]
    trace = voltages(30, (20, N)).astype(dtype)
    results = []
    for device in (gpu, cpu):
        with jax.default_device(device):
            s = ops.steady_state(jnp.asarray(trace[0]))
            s = jax.jit(lambda s, v: ops.step(s, v, DT))(s, jnp.asarray(trace[1]))
            s, rec = jax.jit(lambda s, t: ops.run(s, t, DT))(s, jnp.asarray(trace))
            batched = jax.vmap(lambda v, s=s: ops.step(s, v, DT))(jnp.asarray(trace[:3]))
            results.append((s, rec, batched))
    (s1, r1, b1), (s2, r2, b2) = results
    for a, b in ((s1["p"], s2["p"]), (s1["q"], s2["q"]), (b1["p"], b2["p"])):
        assert np.max(np.abs(np.asarray(a) - np.asarray(b))) <= tol
    scale = np.max(np.abs(np.asarray(r2["I"])))
    assert np.max(np.abs(np.asarray(r1["I"]) - np.asarray(r2["I"]))) <= tol * scale
