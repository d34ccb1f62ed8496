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
import os
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


#: Steps of the clamp protocol, and the float arrays of that many rows the demo holds.
STEPS = 480
ROWS = STEPS + 40 + 8


def neuron_count(text: str) -> int:
    """A neuron count from the command line: ``100000``, ``100_000`` or ``1e5``."""
    try:
        value = float(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value.is_integer() or value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {text!r}")
    return int(value)


def available_memory() -> int | None:
    """Bytes of memory available now (Linux ``MemAvailable``), or None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(neurons: int, dtype: str) -> None:
    """A ValueError, before anything is allocated, when the demo would not fit in memory."""
    need = neurons * ROWS * np.dtype(dtype).itemsize
    free = available_memory()
    if free is not None and need > 0.8 * free:
        raise ValueError(f"{neurons} neurons need about {need / 2**30:.1f} GiB for the "
                         f"{STEPS}-step clamp ({dtype}); {free / 2**30:.1f} GiB is available: "
                         f"use fewer neurons (--neurons)")


def main(argv=None) -> int:
    """Run the demo; returns the exit status (2 with one line on standard error for a
    request that cannot run)."""
    try:
        return _main(argv)
    except (ValueError, MemoryError) as exc:
        print(f"ionc demo: error: {exc or 'out of memory'}", file=sys.stderr)
        return 2


def _main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ionc.demo", description=__doc__.split("\n")[0])
    parser.add_argument("--neurons", type=neuron_count, default=100_000)
    parser.add_argument("--dtype", default="float64", choices=("float32", "float64"))
    parser.add_argument("--target", default="cpu", choices=("cpu", "cuda", "auto"))
    parser.add_argument("--out", default="ionc-output")
    parser.add_argument("--no-plot", action="store_true", help="skip the PNG")
    args = parser.parse_args(argv)
    if args.neurons < len(LEVELS):
        parser.error(f"--neurons must be at least {len(LEVELS)} (one per step level)")
    check_memory(args.neurons, args.dtype)

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
