"""Speed of one INa_Ba2002 step, ionc against NumPy, JAX, Numba and two floors.

    python benchmarks/bench_update.py [--sizes 1e3,1e4,1e5,1e6,1e7] [--repeats 5]
                                      [--csv benchmarks/results.csv] [--png bench.png]

Every contender runs the same exponential-Euler step with V changing every
step; timings are interleaved (one repeat of each contender in turn) and the
median is reported in ns per neuron per step, with ratios to ionc's update on
all threads (each timed call follows an untimed one, so that thread pools are
awake and caches warm whatever ran before).  ionc is timed as ``update`` in a Python loop and as
the fused
``run``, on all threads and on one, and both again with ``method='table'`` (rate
tables at the default tolerance).  JAX (jit, steps inside ``lax.fori_loop``)
and Numba (``njit(parallel=True)``, no fastmath) are timed when installed.
Two floors: memory, 40 bytes (float64; 20 for float32) per neuron-step at the
bandwidth of a NumPy triad ``c = a + s*b`` measured in the same run; and
exp, the time of ionc's inline expm1 over N elements on all threads times the
number of range reductions in one step.
"""
from __future__ import annotations

import argparse
import csv
import os
import platform
import time

import numpy as np

from ionc import INa_Ba2002, get_channel, num_threads
from ionc.build import build_c_extension
from ionc.codegen.lowering import lower_channel
from ionc.codegen.exponentials import reductions
from ionc.codegen.render import math_header


def steps_for(n: int) -> int:
    """Steps per repeat: 20, fewer for big N (the traces are held in memory)."""
    return int(np.clip(2e7 // n, 4, 20))


def reductions_per_step() -> int:
    """Distinct exp/expm1/exprelr arguments of INa_Ba2002's update: one range reduction each."""
    update = lower_channel(get_channel("INa_Ba2002")).functions["update"]
    return len(reductions(update.expressions))


def numpy_step(dtype):
    """One exponential-Euler step written with array functions (NumPy's, or CuPy's on
    CuPy arrays through NumPy's dispatch)."""
    def step(V, p, q):
        x = V + dtype(50.0)
        u = (dtype(13.0) - x) / dtype(4.0)
        w = (x - dtype(40.0)) / dtype(5.0)
        with np.errstate(all="ignore"):
            ap = dtype(1.28) * np.where(u == 0, dtype(1), u / np.expm1(u))
            bp = dtype(1.4) * np.where(w == 0, dtype(1), w / np.expm1(w))
            aq = dtype(0.128) * np.exp((dtype(17.0) - x) / dtype(18.0))
            bq = dtype(4.0) / (dtype(1.0) + np.exp(-w))
        sp_, sq = ap + bp, aq + bq
        p = p - (ap / sp_ - p) * np.expm1(-dtype(0.1) * sp_)
        q = q - (aq / sq - q) * np.expm1(-dtype(0.1) * sq)
        return p, q
    return step


def jax_rates(V):
    """INa_Ba2002's alpha_p, beta_p, alpha_q, beta_q written in jax.numpy (V_sh = -50)."""
    import jax.numpy as jnp
    x = V + 50.0
    u, w = (13.0 - x) / 4.0, (x - 40.0) / 5.0
    ap = 1.28 * jnp.where(u == 0, 1.0, u / jnp.expm1(u))
    bp = 1.4 * jnp.where(w == 0, 1.0, w / jnp.expm1(w))
    aq = 0.128 * jnp.exp((17.0 - x) / 18.0)
    bq = 4.0 / (1.0 + jnp.exp(-w))
    return ap, bp, aq, bq


def jax_step(p, q, V, dt=0.1):
    """One exponential-Euler step of INa_Ba2002 written in jax.numpy."""
    import jax.numpy as jnp
    ap, bp, aq, bq = jax_rates(V)
    sp_, sq = ap + bp, aq + bq
    return p - (ap / sp_ - p) * jnp.expm1(-dt * sp_), q - (aq / sq - q) * jnp.expm1(-dt * sq)


def jax_runner(dtype, n, steps):
    """``steps`` steps of a jitted JAX loop on JAX's default device, or None without JAX."""
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)

    def body(k, state):
        p, q, V = state
        return (*jax_step(p, q, V + 0.001 * k), V)

    run = jax.jit(lambda p, q, V: jax.lax.fori_loop(0, steps, body, (p, q, V))[:2])
    V = jnp.asarray(np.linspace(-80, 40, n), dtype)
    p = jnp.zeros(n, dtype)
    q = jnp.zeros(n, dtype)
    run(p, q, V)[0].block_until_ready()
    return lambda: run(p, q, V)[0].block_until_ready()


def _numba_runner(dtype, trace):
    try:
        import math

        import numba
    except ImportError:
        return None

    @numba.njit(parallel=True)
    def run(p, q, trace):
        for s in range(trace.shape[0]):
            for i in numba.prange(p.size):
                x = trace[s, i] + 50.0
                u, w = (13.0 - x) / 4.0, (x - 40.0) / 5.0
                ap = 1.28 * (1.0 if u == 0 else u / math.expm1(u))
                bp = 1.4 * (1.0 if w == 0 else w / math.expm1(w))
                aq = 0.128 * math.exp((17.0 - x) / 18.0)
                bq = 4.0 / (1.0 + math.exp(-w))
                sp_, sq = ap + bp, aq + bq
                p[i] = p[i] - (ap / sp_ - p[i]) * math.expm1(-0.1 * sp_)
                q[i] = q[i] - (aq / sq - q[i]) * math.expm1(-0.1 * sq)

    p = np.full(trace.shape[1], 0.1, dtype)
    q = np.full(trace.shape[1], 0.9, dtype)
    run(p, q, trace[:1])
    return lambda: run(p, q, trace)


def _exp_runner(dtype: str, n: int):
    """ionc's inline expm1 over n elements on all threads (the exp floor)."""
    real = "double" if dtype == "float64" else "float"
    source = math_header(dtype) + (
        "void bench_expm1(int64_t n, const real *x, real *y)\n{\n"
        "    #pragma omp parallel for simd schedule(simd:static) if(n >= 512)\n"
        "    for (int64_t i = 0; i < n; ++i) y[i] = ionc_expm1(x[i]);\n}\n")
    ext = build_c_extension(source, f"void bench_expm1(int64_t n, const {real} *x, {real} *y);")
    x = np.random.default_rng(1).uniform(-10, 10, n).astype(dtype)
    y = np.empty_like(x)
    ctype = f"{real}[]"
    px, py = ext.ffi.from_buffer(ctype, x), ext.ffi.from_buffer(ctype, y)
    return lambda: ext.lib.bench_expm1(n, px, py)


def measure(n: int, dtype: str, repeats: int) -> dict[str, float]:
    """Median ns per neuron-step for every contender at size ``n``."""
    dt_ = np.dtype(dtype).type
    steps = steps_for(n)
    rng = np.random.default_rng(0)
    trace = rng.uniform(-80, 40, (steps, n)).astype(dtype)
    Vs = list(trace)
    ch = INa_Ba2002(n, dtype=dtype)
    ch.reset_state(Vs[0])
    tab = INa_Ba2002(n, dtype=dtype, method="table")      # rate tables, default tolerance
    tab.reset_state(Vs[0])
    tab.rate_table()                                      # built (and proven) before timing
    step = numpy_step(dt_)
    p = np.full(n, 0.1, dtype)
    q = np.full(n, 0.9, dtype)
    a, b, c = (np.ones(n * 5, dtype) for _ in range(3))

    def ionc_update():
        for V in Vs:
            ch.update(V)

    def ionc_run():
        ch.run(trace, dt=0.1, record=())

    def table_update():
        for V in Vs:
            tab.update(V)

    def table_run():
        tab.run(trace, dt=0.1, record=())

    def one_thread(fn):
        def timed():
            with num_threads(1):
                fn()
        return timed

    def numpy_update():
        pp, qq = p, q
        for V in Vs:
            pp, qq = step(V, pp, qq)

    contenders = {"ionc update": ionc_update, "ionc run": ionc_run,
                  "ionc update 1T": one_thread(ionc_update), "ionc run 1T": one_thread(ionc_run),
                  "ionc table update": table_update, "ionc table run": table_run,
                  "numpy": numpy_update}
    for name, make in (("jax fori_loop", lambda: jax_runner(dtype, n, steps)),
                       ("numba", lambda: _numba_runner(dtype, trace))):
        fn = make()
        if fn is not None:
            contenders[name] = fn
    floors = {"triad": lambda: np.add(a, b * 2.0, out=c), "expm1": _exp_runner(dtype, n)}
    times = {k: [] for k in [*contenders, *floors]}
    for _ in range(repeats):      # interleaved; each timing follows an untimed warm-up call
        for name, fn in contenders.items():
            fn()
            t = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - t) / (n * steps) * 1e9)
        for name, fn in floors.items():
            fn()
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    result = {k: float(np.median(v)) for k, v in times.items() if k in contenders}
    bytes_moved = 5 * a.nbytes  # b*2 makes a temporary: read b, write tmp; read a, tmp; write c
    bandwidth = bytes_moved / float(np.median(times["triad"]))
    result["memory floor"] = (5 * np.dtype(dtype).itemsize) / bandwidth * 1e9
    result["exp floor"] = reductions_per_step() * float(np.median(times["expm1"])) / n * 1e9
    result["bandwidth GB/s"] = bandwidth / 1e9
    return result


def arguments(description: str, sizes: str) -> argparse.ArgumentParser:
    """The options every benchmark script takes: --sizes, --repeats, --csv."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--sizes", default=sizes, help="comma-separated N, e.g. 1e3,1e6")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--csv", default="", help="also write the rows to this CSV file")
    return parser


def sizes_of(text: str) -> list[int]:
    """``'1e3,1e6'`` -> ``[1000, 1000000]``."""
    return [int(float(s)) for s in text.split(",")]


def write_csv(rows: list[dict], path: str) -> None:
    """The result rows as CSV (columns sorted by name)."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=sorted({k for r in rows for k in r}))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {path}")


def main(argv=None) -> int:
    parser = arguments(__doc__.split("\n")[0], "1e3,1e4,1e5,1e6")
    parser.add_argument("--png", default="", help="plot ns per neuron-step against N")
    args = parser.parse_args(argv)
    sizes = sizes_of(args.sizes)
    print(f"# {_cpu_name()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}; "
          f"ns per neuron per step (median of {args.repeats}); ratio = time / ionc update")
    rows = []
    for dtype in ("float64", "float32"):
        for n in sizes:
            r = measure(n, dtype, args.repeats)
            if not rows:
                names = [k for k in r if k != "bandwidth GB/s"]
                print("| dtype | N | " + " | ".join(names) + " | triad GB/s |")
                print("|---" * (len(names) + 3) + "|")
            rows.append({"dtype": dtype, "N": n, **r})
            cells = [f"{r[k]:.2f}" if k == "ionc update" else
                     f"{r[k]:.2f} ({r[k] / r['ionc update']:.1f}x)" for k in names if k in r]
            print(f"| {dtype} | {n:.0e} | " + " | ".join(cells)
                  + f" | {r['bandwidth GB/s']:.1f} |", flush=True)
    if args.csv:
        write_csv(rows, args.csv)
    if args.png:
        print(f"wrote {plot(rows, args.png)}")
    return 0


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def plot(rows: list[dict], path: str) -> str:
    """ns per neuron-step against N, one panel per dtype, log-log (needs matplotlib)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    dtypes = sorted({r["dtype"] for r in rows}, reverse=True)
    fig, axes = plt.subplots(1, len(dtypes), figsize=(5.5 * len(dtypes), 4), sharey=True,
                             constrained_layout=True, squeeze=False)
    for ax, dtype in zip(axes[0], dtypes):
        mine = [r for r in rows if r["dtype"] == dtype]
        names = [k for k in mine[0] if k not in ("dtype", "N", "bandwidth GB/s")]
        for name in names:
            ax.plot([r["N"] for r in mine], [r[name] for r in mine], marker="o", label=name,
                    ls="--" if name == "memory floor" else "-")
        ax.set(xscale="log", yscale="log", xlabel="neurons N", title=dtype)
        ax.grid(alpha=0.3, which="both")
    axes[0][0].set_ylabel("ns per neuron per step")
    axes[0][-1].legend()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


if __name__ == "__main__":
    raise SystemExit(main())
