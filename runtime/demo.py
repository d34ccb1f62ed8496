"""The main job: build INa_Ba2002 for the CPU and run a voltage-clamp family.

``python -m ionc.demo [--neurons N] [--dtype float64] [--target cpu] [--out DIR]``:
every neuron is held at -80 mV, then stepped to one of the test levels (-70 ..
+40 mV in 10 mV steps, plus -37 and -10 mV, the two singular points of the
default channel); the script prints the peak inward current per level, the
time per neuron per step, the singularities the compiler removed and where
the emitted source was written.  ``--target cuda`` runs it on the GPU.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .build import import_cupy
from .channels import INa_Ba2002

LEVELS = (-70.0, -60.0, -50.0, -40.0, -37.0, -30.0, -20.0, -10.0, 0.0, 10.0, 20.0, 30.0, 40.0)


def voltage_clamp(ch: INa_Ba2002, levels, hold: float = -80.0, t_hold: float = 2.0,
                  t_step: float = 10.0, dt: float = 0.025, chunk: int = 40,
                  progress: bool = False):
    """Run the clamp family on ``ch`` with fused ``run`` calls of ``chunk`` steps.

    Returns the times, the currents (steps x neurons, on the host), each
    neuron's step level and the seconds spent in ``run`` (on the GPU: the trace
    is built there, the currents are copied back outside the timing).
    ``progress`` shows a bar on standard error.
    """
    n = ch.varshape[0]
    V_step = np.repeat(np.asarray(levels, ch.dtype), int(np.ceil(n / len(levels))))[:n]
    V_hold = np.full(n, hold, ch.dtype)
    ch.reset_state(V_hold)
    n_hold, n_step = int(round(t_hold / dt)), int(round(t_step / dt))
    currents = np.empty((n_hold + n_step, n), ch.dtype)
    gpu = ch.target == "cuda"
    xp = import_cupy() if gpu else np
    hold_, step_ = (xp.asarray(V_hold), xp.asarray(V_step)) if gpu else (V_hold, V_step)
    trace = ch._kernels.empty((chunk, n), ch.dtype)
    seconds = 0.0
    chunks = range(0, n_hold + n_step, chunk)
    for k0 in tqdm(chunks, desc="clamp", unit="chunk", disable=not progress, leave=False):
        k1 = min(k0 + chunk, n_hold + n_step)
        for k in range(k0, k1):
            trace[k - k0] = hold_ if k < n_hold else step_
        start = time.perf_counter()
        if gpu:
            rec = ch.run(trace[: k1 - k0], dt=dt, record=("I",))["I"]
            xp.cuda.Device(ch._kernels.device.id).synchronize()
            seconds += time.perf_counter() - start
            currents[k0:k1] = rec.get()
        else:
            ch.run(trace[: k1 - k0], dt=dt, record=("I",), out={"I": currents[k0:k1]})
            seconds += time.perf_counter() - start
    return np.arange(1, n_hold + n_step + 1) * dt, currents, V_step, seconds


def main(argv=None) -> int:
    """Run the demo; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m ionc.demo", description=__doc__.split("\n")[0])
    parser.add_argument("--neurons", type=int, default=100_000)
    parser.add_argument("--dtype", default="float64", choices=("float32", "float64"))
    parser.add_argument("--target", default="cpu", choices=("cpu", "cuda", "auto"))
    parser.add_argument("--out", default="ionc-output")
    parser.add_argument("--no-plot", action="store_true", help="skip the PNG")
    args = parser.parse_args(argv)
    if args.neurons < len(LEVELS):
        parser.error(f"--neurons must be at least {len(LEVELS)} (one per step level)")

    t0 = time.perf_counter()
    ch = INa_Ba2002(args.neurons, dtype=args.dtype, target=args.target)
    build_s = time.perf_counter() - t0
    print(f"ionc demo: {ch!r}")
    print(f"  compiled in {build_s:.2f} s -> {ch.build_info}")
    print(ch.singularities)

    times, I, V_step, seconds = voltage_clamp(ch, LEVELS, progress=sys.stderr.isatty())
    steps = len(times)
    print(f"\nvoltage clamp: {args.neurons} neurons x {steps} steps (dt = 0.025 ms, hold -80 mV "
          f"for 2 ms, step 10 ms) in fused run() calls: {seconds:.3f} s, "
          f"{seconds / steps / args.neurons * 1e9:.2f} ns per neuron per step (step + current)")
    print(f"  NaN or Inf anywhere: {not np.all(np.isfinite(I))}")
    print(f"\n  {'step (mV)':>10} {'peak I (uA/cm^2)':>18} {'t_peak (ms)':>12} {'I at 12 ms':>12}")
    for level in LEVELS:
        col = I[:, np.flatnonzero(V_step == np.asarray(level, ch.dtype))[0]]
        k = int(np.argmax(np.abs(col)))
        print(f"  {level:>10.1f} {col[k]:>18.4f} {times[k] - 2.0:>12.2f} {col[-1]:>12.4f}")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    suffix, language = (".cu", "CUDA") if ch.target == "cuda" else (".c", "C")
    path = out / f"INa_Ba2002_{args.dtype}{suffix}"
    path.write_text(ch.source())
    print(f"\nemitted {language} source: {path.resolve()}")
    if not args.no_plot:
        print(f"plot of currents and gates: {_plot(args.dtype, out)}")
    return 0


def _plot(dtype: str, out: Path) -> str:
    """One neuron per level, recording gates as well, drawn as a PNG."""
    from .plots import PlotUnavailable, plot_clamp
    small = INa_Ba2002(len(LEVELS), dtype=dtype)
    hold = np.full(len(LEVELS), -80.0, dtype)
    small.reset_state(hold)
    dt = 0.025
    trace = np.concatenate([np.repeat(hold[None], 80, axis=0),
                            np.repeat(np.asarray(LEVELS, dtype)[None], 400, axis=0)])
    rec = small.run(trace, dt=dt, record=("p", "q", "I"))
    try:
        path = plot_clamp(np.arange(1, len(trace) + 1) * dt, rec["I"],
                          {"p": rec["p"], "q": rec["q"]}, LEVELS,
                          f"INa_Ba2002 voltage clamp from -80 mV ({dtype})",
                          out / f"INa_Ba2002_{dtype}_clamp.png")
    except PlotUnavailable as exc:
        return f"skipped ({exc})"
    return str(path.resolve())


if __name__ == "__main__":
    raise SystemExit(main())
