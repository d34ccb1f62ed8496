"""Speed of one INa_Ba2002 step, ionc against NumPy, JAX and the memory bound.

    python benchmarks/bench_update.py [--sizes 1e3,1e4,1e5,1e6,1e7] [--repeats 7]
                                      [--csv benchmarks/results.csv] [--png bench.png]

Every contender runs the same exponential-Euler step with V changing every
step; timings are interleaved (one repeat of each contender in turn) and the
median is reported in ns per neuron per step, with ratios to ionc.  JAX (jit,
steps inside ``lax.fori_loop``) is timed when it is installed.  The memory
floor is 40 bytes (float64; 20 for float32) per neuron-step at the bandwidth
of a NumPy triad ``c = a + s*b`` measured in the same run.
"""
from __future__ import annotations

import argparse
import csv
import os
import platform
import time

import numpy as np

from ionc import INa_Ba2002

STEPS = 20


def _numpy_step(dtype):
    def step(V, p, q):
        x = V + dtype(50.0)
        u = (dtype(13.0) - x) / dtype(4.0)
        w = (x - dtype(40.0)) / dtype(5.0)
        with np.errstate(all="ignore"):
            ap = dtype(1.28) * np.where(u == 0, dtype(1), u / np.expm1(u))
            bp = dtype(1.4) * np.where(w == 0, dtype(1), w / np.expm1(w))
            aq = dtype(0.128) * np.exp((dtype(17.0) - x) / dtype(18.0))
            bq = dtype(4.0) / (dtype(1.0) + np.exp(-w))
        sp, sq = ap + bp, aq + bq
        p = p - (ap / sp - p) * np.expm1(-dtype(0.1) * sp)
        q = q - (aq / sq - q) * np.expm1(-dtype(0.1) * sq)
        return p, q
    return step


def _jax_runner(dtype, n):
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)

    def body(k, state):
        p, q, V = state
        Vk = V + 0.001 * k
        x = Vk + 50.0
        u, w = (13.0 - x) / 4.0, (x - 40.0) / 5.0
        ap = 1.28 * jnp.where(u == 0, 1.0, u / jnp.expm1(u))
        bp = 1.4 * jnp.where(w == 0, 1.0, w / jnp.expm1(w))
        aq = 0.128 * jnp.exp((17.0 - x) / 18.0)
        bq = 4.0 / (1.0 + jnp.exp(-w))
        sp, sq = ap + bp, aq + bq
        return (p - (ap / sp - p) * jnp.expm1(-0.1 * sp),
                q - (aq / sq - q) * jnp.expm1(-0.1 * sq), V)

    run = jax.jit(lambda p, q, V: jax.lax.fori_loop(0, STEPS, body, (p, q, V))[:2])
    V = jnp.asarray(np.linspace(-80, 40, n), dtype)
    p = jnp.zeros(n, dtype)
    q = jnp.zeros(n, dtype)
    run(p, q, V)[0].block_until_ready()
    return lambda: run(p, q, V)[0].block_until_ready()


def measure(n: int, dtype: str, repeats: int) -> dict[str, float]:
    """Median ns per neuron-step for every contender at size ``n``."""
    dt_ = np.dtype(dtype).type
    rng = np.random.default_rng(0)
    Vs = [rng.uniform(-80, 40, n).astype(dtype) for _ in range(STEPS)]
    trace = np.stack(Vs)
    ch = INa_Ba2002(n, dtype=dtype)
    ch.reset_state(Vs[0])
    step = _numpy_step(dt_)
    p = np.full(n, 0.1, dtype)
    q = np.full(n, 0.9, dtype)
    a, b, c = (np.ones(n * 5, dtype) for _ in range(3))

    def ionc_update():
        for V in Vs:
            ch.update(V)

    def ionc_run():
        ch.run(trace, dt=0.1, record=())

    def numpy_update():
        pp, qq = p, q
        for V in Vs:
            pp, qq = step(V, pp, qq)

    def triad():
        np.add(a, b * 2.0, out=c)

    contenders = {"ionc update": ionc_update, "ionc run": ionc_run, "numpy": numpy_update}
    jax_run = _jax_runner(dtype, n)
    if jax_run is not None:
        contenders["jax fori_loop"] = jax_run
    times = {k: [] for k in [*contenders, "triad"]}
    for _ in range(repeats):
        for name, fn in contenders.items():
            t = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - t) / (n * STEPS) * 1e9)
        t = time.perf_counter()
        triad()
        times["triad"].append(time.perf_counter() - t)
    result = {k: float(np.median(v)) for k, v in times.items() if k != "triad"}
    bytes_moved = 5 * a.nbytes  # b*2 makes a temporary: read b, write tmp; read a, tmp; write c
    bandwidth = bytes_moved / float(np.median(times["triad"]))
    result["memory floor"] = (5 * np.dtype(dtype).itemsize) / bandwidth * 1e9
    result["bandwidth GB/s"] = bandwidth / 1e9
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1e3,1e4,1e5,1e6")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--csv", default="")
    parser.add_argument("--png", default="", help="plot ns per neuron-step against N")
    args = parser.parse_args(argv)
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"{time.strftime('%Y-%m-%d')}; ns per neuron per step (median of {args.repeats})")
    rows = []
    for dtype in ("float64", "float32"):
        for n in sizes:
            r = measure(n, dtype, args.repeats)
            rows.append({"dtype": dtype, "N": n, **r})
            others = "  ".join(f"{k} {v:7.2f} ({v / r['ionc update']:5.1f}x)"
                               for k, v in r.items() if k not in ("ionc update", "bandwidth GB/s"))
            print(f"{dtype} N={n:>9}: ionc update {r['ionc update']:7.2f}  {others}  "
                  f"[{r['bandwidth GB/s']:.1f} GB/s]")
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=sorted({k for r in rows for k in r}))
            writer.writeheader()
            writer.writerows(rows)
        print(f"wrote {args.csv}")
    if args.png:
        print(f"wrote {plot(rows, args.png)}")
    return 0


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
            ax.plot([r["N"] for r in mine], [r[name] for r in mine], "o-", label=name,
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
