"""ionc inside JAX: the XLA custom call against the same step in jax.numpy, and BrainPy.

    python benchmarks/bench_jax.py [--sizes 1e3,1e4,1e5,1e6,1e7] [--dtypes float64,float32]
                                   [--steps 50] [--repeats 5] [--no-brainpy]
                                   [--brainpy-sizes 1e3,1e4,1e5,1e6] [--brainpy-only]

1. INa_Ba2002 inside one jitted ``lax.scan`` over ``steps`` steps, V changing
   every step (``V0 + 0.001 k``): ``ionc.jax`` ops ``step`` against the same
   exponential-Euler step written in jax.numpy (benchmarks/bench_update.py's),
   and the fused ``ops.run`` over a trace.  ns per neuron per step, median of
   the repeats, ratio jax.numpy / ionc.
2. The rates' worst error in ulp against 50-digit mpmath over [-200, 200] mV,
   jax.numpy's and ionc's; per-call overhead inside ``scan`` at N = 1: ionc's step against empty
   custom calls (one aliased buffer; the step's six buffers), in ns per call.
3. A BrainPy ``CondNeuGroup`` of Hodgkin-Huxley cells (INa_HH1952, IK_HH1952,
   IL) stepped in ``bm.for_loop``: BrainPy's channels against ``ionc.brainpy``'s
   in BrainPy's group and in ``ionc.brainpy.CondNeuGroup`` (one fused kernel per
   step), the loop compiled once (``bm.jit`` around ``bm.for_loop``), and the
   same cells as an ionc group through ``ionc.jax.neuron_ops`` (one custom call
   per step in ``lax.scan``, and the fused run over the trace).
   400 steps, 100 at N >= 1e6 (the recorded spikes and the fused run's input trace
   grow with N times the steps).
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from bench_update import jax_rates, jax_step

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

jax.config.update("jax_enable_x64", True)

import ionc  # noqa: E402
import ionc.jax as ij  # noqa: E402
from ionc.build import build_xla_library  # noqa: E402

def empty_handlers(cuda: bool) -> str:
    """Two handlers that do nothing: one buffer in and out, and the buffers of
    INa_Ba2002's step (the packed scalars, V, p, q in; p, q out).  On CUDA they
    declare what ionc's CUDA handlers declare: that XLA may capture them in a graph."""
    def handler(name: str, args: int, results: int) -> str:
        params = ([f"ffi::AnyBuffer a{i}" for i in range(args)]
                  + [f"ffi::Result<ffi::AnyBuffer> r{i}" for i in range(results)])
        binds = ".Arg<ffi::AnyBuffer>()" * args + ".Ret<ffi::AnyBuffer>()" * results
        return (f"static ffi::Error {name}_impl({', '.join(params)})\n"
                "{ return ffi::Error::Success(); }\n"
                f"XLA_FFI_DEFINE_HANDLER_SYMBOL({name}, {name}_impl, ffi::Ffi::Bind(){binds}"
                + (", {ffi::Traits::kCmdBufferCompatible}" if cuda else "") + ");\n")
    return ('#include "xla/ffi/api/ffi.h"\nnamespace ffi = xla::ffi;\n'
            + handler("bench_empty", 1, 1) + handler("bench_empty_step", 4, 2))


def median_time(fn, repeats: int) -> float:
    fn()                                        # compile, warm the caches and the threads
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def scan_contenders(n: int, dtype: str, steps: int) -> dict:
    """Callables running ``steps`` steps of each contender (blocking until done)."""
    ops = ij.ops(ionc.INa_Ba2002, dtype=dtype)
    V0 = jnp.asarray(np.linspace(-80.0, 40.0, n), dtype)
    s0 = ops.steady_state(V0)
    dt = 0.1

    @jax.jit
    def ionc_scan(s, V0):
        def body(s, k):
            return ops.step(s, V0 + 0.001 * k.astype(V0.dtype), dt), None
        return jax.lax.scan(body, s, jnp.arange(steps))[0]

    @jax.jit
    def numpy_scan(s, V0):
        def body(s, k):
            p, q = jax_step(s["p"], s["q"], V0 + 0.001 * k.astype(V0.dtype), dt)
            return {"p": p, "q": q}, None
        return jax.lax.scan(body, s, jnp.arange(steps))[0]

    @jax.jit
    def wide_scan(s, V0):
        """float32 states, the step in float64: what jax.numpy needs to meet ionc's
        accuracy contract (in float32 its betas are some 40 ulp off; see rates_accuracy)."""
        def body(s, k):
            V = (V0 + 0.001 * k.astype(V0.dtype)).astype(jnp.float64)
            p, q = jax_step(s["p"].astype(jnp.float64), s["q"].astype(jnp.float64), V, dt)
            return {"p": p.astype(V0.dtype), "q": q.astype(V0.dtype)}, None
        return jax.lax.scan(body, s, jnp.arange(steps))[0]

    trace = V0 + 0.001 * jnp.arange(steps, dtype=dtype)[:, None]
    run = jax.jit(lambda s, t: ops.run(s, t, dt, record=())[0])
    out = {"ionc op (scan)": lambda: jax.block_until_ready(ionc_scan(s0, V0)),
           "ionc run (fused)": lambda: jax.block_until_ready(run(s0, trace)),
           "jax.numpy (scan)": lambda: jax.block_until_ready(numpy_scan(s0, V0))}
    if dtype == "float32":
        out["jax.numpy in float64 (scan)"] = lambda: jax.block_until_ready(wide_scan(s0, V0))
    return out


def rates_accuracy(dtype: str, points: int = 3801) -> dict:
    """Worst error in ulp of INa_Ba2002's four rates over V in [-200, 200] mV against
    50-digit mpmath at the same inputs: jax.numpy's (the step above) and ionc's (the
    C kernels the op calls)."""
    import mpmath as mp
    mp.mp.dps = 50
    V = np.linspace(-200.0, 200.0, points).astype(dtype)

    def exact(v):
        x = mp.mpf(float(v)) + 50
        u, w = x - 13, x - 40
        return (mp.mpf("1.28") if u == 0 else mp.mpf("0.32") * u / (1 - mp.exp(-u / 4)),
                mp.mpf("1.4") if w == 0 else -mp.mpf("0.28") * w / (1 - mp.exp(w / 5)),
                mp.mpf("0.128") * mp.exp(-(x - 17) / 18), 4 / (1 + mp.exp(-w / 5)))

    ref = np.array([[float(r) for r in exact(v)] for v in V]).T.astype(dtype)
    ch = ionc.INa_Ba2002(V.size, dtype=dtype)
    got = {"jax.numpy": [np.asarray(r) for r in jax.jit(jax_rates)(jnp.asarray(V))],
           "ionc": [ch.f_p_alpha(V), ch.f_p_beta(V), ch.f_q_alpha(V), ch.f_q_beta(V)]}
    itype = np.int32 if dtype == "float32" else np.int64

    def ordinal(a):
        bits = np.asarray(a, dtype).view(itype).astype(np.int64)
        return np.where(bits >= 0, bits, -(bits & np.iinfo(itype).max))

    return {who: [int(np.max(np.abs(ordinal(g) - ordinal(r)))) for g, r in zip(rates, ref)]
            for who, rates in got.items()}


def overhead(dtype: str, steps: int, repeats: int) -> dict:
    """ns per call inside scan at N = 1: ionc's step and two empty custom calls."""
    from ionc.build import build_xla_cuda_library, compiler_settings
    version = "bench " + jax.__version__
    libs = [("cpu", build_xla_library("", empty_handlers(False), jax.ffi.include_dir(),
                                      version, compiler_settings()))]
    if ij.gpu_available():                      # the step runs on JAX's default device
        libs.append(("CUDA", build_xla_cuda_library(empty_handlers(True), jax.ffi.include_dir(),
                                                    version, ij.gpu_architecture())))
    for where, lib in libs:
        for name in ("bench_empty", "bench_empty_step"):
            jax.ffi.register_ffi_target(name, jax.ffi.pycapsule(getattr(lib.handle, name)),
                                        platform=where)
    one = jax.ShapeDtypeStruct((1,), dtype)
    empty = jax.ffi.ffi_call("bench_empty", one, input_output_aliases={0: 0})
    empty_step = jax.ffi.ffi_call("bench_empty_step", (one, one),
                                  input_output_aliases={2: 0, 3: 1})
    ops = ij.ops(ionc.INa_Ba2002, dtype=dtype)
    V = jnp.full((1,), -60.0, dtype)
    scalars = jnp.zeros((5,), dtype)
    s0 = ops.steady_state(V)

    def timed(body, init):
        f = jax.jit(lambda c: jax.lax.scan(lambda c, _: (body(c), None), c, None,
                                           length=steps)[0])
        return median_time(lambda: jax.block_until_ready(f(init)), repeats) / steps * 1e9

    return {"empty custom call": timed(empty, V),
            "empty, the step's buffers": timed(lambda s: tuple(empty_step(scalars, V, *s)),
                                               (s0["p"], s0["q"])),
            "ionc step": timed(lambda s: ops.step(s, V, 0.1), s0)}


def brainpy_network(n: int, dtype: str, steps: int, repeats: int) -> dict:
    """ns per neuron-step of an HH CondNeuGroup: BrainPy's channels and ionc's."""
    import brainpy as bp
    import brainpy.math as bm

    import ionc.brainpy as ib
    (bm.enable_x64 if dtype == "float64" else bm.disable_x64)()
    out = {}
    for label, group, mod in (("BrainPy channels", bp.dyn.CondNeuGroup, bp.dyn),
                              ("ionc.brainpy channels", bp.dyn.CondNeuGroup, ib),
                              ("ionc.brainpy CondNeuGroup", ib.CondNeuGroup, ib)):
        bm.random.seed(7)                       # the same initial V for all
        net = group(n, C=1.0, V_initializer=bp.init.Uniform(-70.0, -60.0),
                    INa=mod.INa_HH1952(n), IK=mod.IK_HH1952(n),
                    IL=mod.IL(n, E=-54.387, g_max=0.03))
        net.reset_state()
        current = bm.asarray(np.linspace(0.0, 15.0, n))
        bp.share.save(dt=0.025)

        def step(i, net=net, current=current):
            bp.share.save(t=i * 0.025, i=i, dt=0.025)
            net.input.value = current
            net.update()
            return net.spike.value

        # compiled once: bm.for_loop alone traces and compiles on every call (about
        # 150 ms here), which would be timed as part of each run
        run = bm.jit(lambda step=step: bm.for_loop(step, np.arange(steps)))

        def go(run=run):
            return jax.block_until_ready(run())

        spikes = int(np.asarray(go()).sum())
        out[label] = (median_time(go, repeats) / (n * steps) * 1e9, spikes)
    jax.config.update("jax_enable_x64", True)
    out.update(neuron_op(n, dtype, steps, repeats))
    return out


def neuron_op(n: int, dtype: str, steps: int, repeats: int) -> dict:
    """The same HH cells as one ionc.jax.neuron_ops custom call per step (in lax.scan)
    and per trace (the fused run): ns per neuron-step and spikes."""
    np.random.seed(7)
    group = ionc.CondNeuGroup(
        n, C=1.0, dtype=dtype, V_initializer=lambda s: np.random.uniform(-70.0, -60.0, s),
        INa=ionc.INa_HH1952(n, dtype=dtype), IK=ionc.IK_HH1952(n, dtype=dtype),
        IL=ionc.IL(n, E=-54.387, g_max=0.03, dtype=dtype))
    ops = ij.neuron_ops(group)
    s0 = ops.states()
    current = jnp.asarray(np.linspace(0.0, 15.0, n), dtype)

    @jax.jit
    def scan(s):
        def body(s, _):
            s, spike = ops.step(s, current, 0.025)
            return s, spike.sum()
        return jax.lax.scan(body, s, None, length=steps)[1].sum()

    @jax.jit
    def fused(s):
        trace = jnp.broadcast_to(current, (steps, n))
        return ops.run(s, trace, 0.025, record=())[1]["spike_count"].sum()

    out = {}
    for label, f in (("ionc.jax neuron op (scan)", scan), ("ionc.jax neuron run", fused)):
        spikes = int(f(s0))
        out[label] = (median_time(lambda f=f: jax.block_until_ready(f(s0)), repeats)
                      / (n * steps) * 1e9, spikes)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1e3,1e4,1e5,1e6,1e7")
    parser.add_argument("--dtypes", default="float64,float32")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-brainpy", action="store_true")
    parser.add_argument("--brainpy-sizes", default="1e3,1e4,1e5,1e6",
                        help="population sizes of the BrainPy CondNeuGroup table")
    parser.add_argument("--brainpy-only", action="store_true",
                        help="only the BrainPy CondNeuGroup table")
    args = parser.parse_args(argv)
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    print(f"# ionc.jax on {jax.devices()[0].device_kind} ({platform.machine()}, {os.cpu_count()} "
          f"cores), jax {jax.__version__}, {time.strftime('%Y-%m-%d')}")
    for dtype in ([] if args.brainpy_only else args.dtypes.split(",")):
        print(f"\n## INa_Ba2002 inside one jitted lax.scan, {dtype}: ns per neuron-step")
        wide = dtype == "float32"
        print("| N | ionc op (scan) | ionc run (fused) | jax.numpy (scan) | jax.numpy / ionc op |"
              + (" jax.numpy in float64 (scan) | its ratio |" if wide else ""))
        print("|---|---|---|---|---|" + ("---|---|" if wide else ""))
        for n in sizes:
            steps = int(np.clip(args.steps * 1e6 // n, 4, 2000)) if n < 1e6 else args.steps // 5
            t = {k: median_time(f, args.repeats) / (n * steps) * 1e9
                 for k, f in scan_contenders(n, dtype, steps).items()}
            op = t["ionc op (scan)"]
            extra = (f" {t['jax.numpy in float64 (scan)']:.3g} | "
                     f"{t['jax.numpy in float64 (scan)'] / op:.2f}x |" if wide else "")
            print(f"| {n:.0e} | {op:.3g} | {t['ionc run (fused)']:.3g} | "
                  f"{t['jax.numpy (scan)']:.3g} | {t['jax.numpy (scan)'] / op:.2f}x |" + extra,
                  flush=True)
        acc = rates_accuracy(dtype)
        print(f"\nworst ulp of alpha_p, beta_p, alpha_q, beta_q over [-200, 200] mV against "
              f"50-digit mpmath: jax.numpy {acc['jax.numpy']}, ionc {acc['ionc']}")
        o = overhead(dtype, 2000, args.repeats)
        same = o["empty, the step's buffers"]
        print(f"\nper call inside scan at N = 1: ionc step {o['ionc step']:.0f} ns; an empty "
              f"custom call {o['empty custom call']:.0f} ns with one buffer "
              f"({o['ionc step'] / o['empty custom call']:.2f}x), {same:.0f} ns with the "
              f"step's six ({o['ionc step'] / same:.2f}x)")
    for dtype in ([] if args.no_brainpy else args.dtypes.split(",")):
        # after every INa table: BrainPy leaves the process in a state that slows
        # later XLA timings (one float32 size measured 1.9x slower after it)
        print(f"\n## BrainPy CondNeuGroup (HH), {dtype}, bm.for_loop: ns per neuron-step")
        names = ("BrainPy channels", "ionc.brainpy channels", "ionc.brainpy CondNeuGroup",
                 "ionc.jax neuron op (scan)", "ionc.jax neuron run")
        print("| N | " + " | ".join(names) + " | spikes (same order) |")
        print("|---|---|---|---|---|---|---|")
        for n in (int(float(s)) for s in args.brainpy_sizes.split(",")):
            r = brainpy_network(n, dtype, 400 if n < 1e6 else 100, args.repeats)
            base = r[names[0]][0]
            cells = [f"{r[names[0]][0]:.2f}"] + [f"{r[k][0]:.2f} ({base / r[k][0]:.2f}x)"
                                                 for k in names[1:]]
            print(f"| {n:.0e} | " + " | ".join(cells) + " | "
                  + ", ".join(str(r[k][1]) for k in names) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
