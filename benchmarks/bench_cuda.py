"""Speed of INa_Ba2002 on a CUDA GPU: ionc against CuPy, JAX and the copy bandwidth.

    python benchmarks/bench_cuda.py [--sizes 1e5,1e6,1e7,1e8] [--repeats 5] [--csv out.csv]

Contenders, each with V changing every step and timed by wall clock between
device synchronisations (so launch and Python overheads count, as they do
for a user), median of ``--repeats`` interleaved repeats after a warm-up:

* ``ionc update``: ``update(V)`` in a Python loop with V already on the GPU,
  ``nan_policy='raise'`` (a NaN count and an 8-byte copy back per step) and
  ``'propagate'`` (no synchronisation);
* ``ionc run``: the fused kernel over a (steps, N) trace, nothing recorded;
* ``cupy``: the same step written with CuPy array functions (what one writes
  without a compiler: one kernel per operation);
* ``jax``: ``jax.jit`` of a ``fori_loop`` on JAX's default device, when JAX
  is installed (it runs on the GPU only with a CUDA build of jaxlib).

Floors, from a device-to-device copy measured in the same run (``copy GB/s``
counts bytes read plus written): ``update floor`` moves 5 values per
neuron-step (read V, p, q; write p, q), ``run floor`` 1 (read V; the gates
stay in registers).  ``eff GB/s`` is what ionc's update and run move at the
speed measured.
"""
from __future__ import annotations

import time

import numpy as np

from bench_update import arguments, jax_runner, numpy_step, sizes_of, write_csv
from ionc import INa_Ba2002


def steps_for(n: int) -> int:
    """Steps per repeat: 50, fewer for big N (every step's V is held on the GPU)."""
    return int(np.clip(5e8 // n, 4, 50))


def measure(cp, n: int, dtype: str, repeats: int) -> dict[str, float]:
    """Median ns per neuron-step for every contender at size ``n``, with the floors."""
    device = cp.cuda.Device()
    steps = steps_for(n)
    itemsize = np.dtype(dtype).itemsize
    trace = cp.asarray(np.random.default_rng(0).uniform(-80, 40, (steps, n)).astype(dtype))
    Vs = [trace[k] for k in range(steps)]
    checked = INa_Ba2002(n, dtype=dtype, target="cuda")
    free = INa_Ba2002(n, dtype=dtype, target="cuda", nan_policy="propagate")
    for ch in (checked, free):
        ch.reset_state(Vs[0])
    step = numpy_step(np.dtype(dtype).type)
    p, q = cp.full(n, 0.1, dtype), cp.full(n, 0.9, dtype)
    src, dst = cp.full(n * 8, 1.0, dtype), cp.empty(n * 8, dtype)

    def loop(ch):
        def run():
            for V in Vs:
                ch.update(V)
        return run

    def cupy_update():
        pp, qq = p, q
        for V in Vs:
            pp, qq = step(V, pp, qq)

    contenders = {"ionc update": loop(checked), "ionc update propagate": loop(free),
                  "ionc run": lambda: free.run(trace, dt=0.1, record=()),
                  "cupy": cupy_update}
    jax_fn = jax_runner(dtype, n, steps)
    if jax_fn is not None:
        contenders["jax"] = jax_fn
    copy = {"copy": lambda: cp.copyto(dst, src)}
    times = {k: [] for k in [*contenders, *copy]}
    for _ in range(repeats):
        for name, fn in {**contenders, **copy}.items():
            fn()
            device.synchronize()
            t = time.perf_counter()
            fn()
            device.synchronize()
            times[name].append(time.perf_counter() - t)
    result = {k: float(np.median(v)) / (n * steps) * 1e9 for k, v in times.items()
              if k in contenders}
    bandwidth = 2 * src.nbytes / float(np.median(times["copy"]))
    result["update floor"] = 5 * itemsize / bandwidth * 1e9
    result["run floor"] = itemsize / bandwidth * 1e9
    result["copy GB/s"] = bandwidth / 1e9
    result["update eff GB/s"] = 5 * itemsize / result["ionc update propagate"]
    result["run eff GB/s"] = itemsize / result["ionc run"]
    return result


def main(argv=None) -> int:
    args = arguments(__doc__.split("\n")[0], "1e5,1e6,1e7,1e8").parse_args(argv)
    import cupy as cp
    from ionc.build import cuda_device
    sizes = sizes_of(args.sizes)
    print(f"# {cuda_device().describe()}, {time.strftime('%Y-%m-%d')}; ns per neuron per step "
          f"(median of {args.repeats}); ratio = time / ionc update propagate")
    rows, names = [], None
    for dtype in ("float64", "float32"):
        for n in sizes:
            r = measure(cp, n, dtype, args.repeats)
            if names is None:
                names = [k for k in r if "GB/s" not in k]
                print("| dtype | N | " + " | ".join(names)
                      + " | update eff GB/s | run eff GB/s | copy GB/s |")
                print("|---" * (len(names) + 5) + "|")
            rows.append({"dtype": dtype, "N": n, **r})
            base = r["ionc update propagate"]
            cells = [f"{r[k]:.3f}" + ("" if k == "ionc update propagate" else
                                      f" ({r[k] / base:.2f}x)") for k in names if k in r]
            print(f"| {dtype} | {n:.0e} | " + " | ".join(cells)
                  + f" | {r['update eff GB/s']:.0f} | {r['run eff GB/s']:.0f} "
                  f"| {r['copy GB/s']:.0f} |", flush=True)
            cp.get_default_memory_pool().free_all_blocks()
    if args.csv:
        write_csv(rows, args.csv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
