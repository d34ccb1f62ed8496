"""Speed of a Hodgkin-Huxley population, ionc against BrainPy, NumPy and two floors.

    python benchmarks/bench_hh.py [--sizes 1e5,1e6] [--steps 400] [--repeats 3]
                                  [--brainpy-python PATH] [--csv hh.csv]

Every contender integrates BrainPy's ``HH`` (the library's INa_HH1952, IK_HH1952 and a
leak; exp_auto, dt = 0.025 ms) for ``--steps`` steps with a constant input that
differs per neuron (0 .. 20 uA/cm^2, so that some fire and some do not), from
V = -65 mV with the gates at rest.  Reported: ns per neuron per step (median of
``--repeats``, each after an untimed warm-up run), the ratio to ionc's fused ``run``
on all threads, and the number of spikes, which must agree (printed beside).

- ionc: ``HH.run(I, steps=k)`` (one fused kernel over all steps, the input held) on
  all threads and on one (1T).
- BrainPy: ``bp.dyn.HH`` stepped by ``bm.for_loop`` inside ``bm.jit`` (compiled once,
  the compile untimed), in the interpreter
  given by ``--brainpy-python`` (or ``$IONC_BRAINPY_PYTHON``; BrainPy is not one of
  ionc's dependencies): ``make goldens`` creates one (``.venv-dev``).  Skipped with a
  line saying so when there is none.
- NumPy: the same exp_auto step written with array functions (N <= 1e5 only).
- NEURON (float64, N <= 1e5, when the ``neuron`` package is installed): n single
  compartments with NEURON's ``hh`` (its own parameters, not BrainPy's) under an IClamp
  of the same current density, its fixed step on one thread, spikes by NetCon; beside it
  ionc's ``CondNeuGroup(method="neuron")`` of the ``hh.mod`` NEURON installs, whose
  spikes must equal NEURON's (a pair of its own: NEURON's model fires differently from
  BrainPy's ``HH``).
- Floors: memory, the bytes of the input trace (8 per neuron-step in float64) at the
  bandwidth of a NumPy triad; exp, the range reductions of one HH step times the time
  of ionc's inline expm1 per element on all threads.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_update import _cpu_name, _exp_runner, arguments, sizes_of, write_csv  # noqa: E402

import ionc  # noqa: E402
from ionc.codegen.neuron import lower_neuron  # noqa: E402
from ionc.codegen.exponentials import reductions  # noqa: E402

DT = 0.025


def inputs(n: int, dtype: str) -> np.ndarray:
    """The per-neuron input current: 0 .. 20 uA/cm^2."""
    return np.linspace(0.0, 20.0, n).astype(dtype)


def reductions_per_step() -> int:
    """Range reductions in one HH step: every channel's update, plus the membrane's."""
    hh = ionc.HH(1)
    model = lower_neuron(hh.spec)
    total = len(reductions(model.membrane.expressions))
    for m in model.channels.values():
        total += m.functions["update"].reductions
    return total


def ionc_contenders(n: int, dtype: str, steps: int) -> dict:
    held = inputs(n, dtype)             # one input per neuron, held: no trace is built
    state = {}

    def run(threads: int | None):
        def go():
            hh = ionc.HH(n, dt=DT, dtype=dtype) if "hh" not in state else state["hh"]
            state["hh"] = hh
            hh.reset_state()
            t = time.perf_counter()
            if threads is None:
                out = hh.run(held, record=(), steps=steps)
            else:
                with ionc.num_threads(threads):
                    out = hh.run(held, record=(), steps=steps)
            return time.perf_counter() - t, int(out["spike_count"].sum())
        return go
    return {"ionc run": run(None), "ionc run 1T": run(1)}


def numpy_contender(n: int, dtype: str, steps: int):
    """The exp_auto HH step with NumPy array functions (BrainPy's formulas)."""
    f = np.dtype(dtype).type
    I_ext = inputs(n, dtype)

    def exprelr(u):
        with np.errstate(all="ignore"):
            return np.where(u == 0, f(1), u / np.expm1(u))

    def rates(V):
        x = V + f(45.0)
        am = exprelr((f(5.0) - x) / f(10.0))
        bm = f(4.0) * np.exp(-(x + f(20.0)) / f(18.0))
        ah = f(0.07) * np.exp(-(x + f(20.0)) / f(20.0))
        bh = f(1.0) / (f(1.0) + np.exp(-(x - f(10.0)) / f(10.0)))
        an = f(0.1) * exprelr(-(x + f(10.0)) / f(10.0))
        bn = f(0.125) * np.exp(-(x + f(20.0)) / f(80.0))
        return am, bm, ah, bh, an, bn

    def go():
        V = np.full(n, -65.0, dtype)
        am, bm, ah, bh, an, bn = rates(V)
        m, h, p = am / (am + bm), ah / (ah + bh), an / (an + bn)
        spikes = 0
        t = time.perf_counter()
        for _ in range(steps):
            am, bm, ah, bh, an, bn = rates(V)
            gna, gk = f(120.0) * m**3 * h, f(36.0) * p**4
            I = gna * (f(50.0) - V) + gk * (f(-77.0) - V) + f(0.03) * (f(-54.387) - V)
            G = gna + gk + f(0.03)
            Vn = V + DT * (I_ext + I) * (np.expm1(-G * DT) / (-G * DT))
            for g, a, b in ((0, am, bm), (1, ah, bh), (2, an, bn)):
                s = a + b
                new = [m, h, p][g] - (a / s - [m, h, p][g]) * np.expm1(-DT * s)
                if g == 0:
                    m = new
                elif g == 1:
                    h = new
                else:
                    p = new
            spikes += int(np.count_nonzero((V < 20.0) & (Vn >= 20.0)))
            V = Vn
        return time.perf_counter() - t, spikes
    return go


def neuron_contenders(n: int, steps: int) -> dict:
    """NEURON's hh cells and ionc's CondNeuGroup of hh.mod with method='neuron' ({} without
    the neuron package)."""
    try:
        import neuron
        from neuron import h
    except ImportError:
        return {}
    h.load_file("stdrun.hoc")
    h.celsius, h.dt = 6.3, DT
    h.usetable_hh = 0
    amps = inputs(n, "float64")
    cells, spikes = [], h.Vector()
    for a in amps:
        sec = h.Section()
        sec.L = sec.diam = float(np.sqrt(100 / np.pi))
        sec.insert("hh")
        stim = h.IClamp(sec(0.5))
        stim.delay, stim.dur = 0, 1e9
        stim.amp = float(a) * sec(0.5).area() / 1e5       # uA/cm2 -> nA
        nc = h.NetCon(sec(0.5)._ref_v, None, sec=sec)
        nc.threshold = 0.0
        nc.record(spikes)
        cells.append((sec, stim, nc))
    hh_mod = next(Path(neuron.__file__).parent.joinpath(".data", "share").rglob("hh.mod"))
    HH = ionc.from_nmodl(hh_mod)
    group = ionc.CondNeuGroup(n, method="neuron", dt=DT, V_th=0.0, V_initializer=-65.0,
                              hh=HH(n))
    current = np.array([float(c[1].amp) * 1e5 / c[0](0.5).area() for c in cells])

    def nrn():
        h.finitialize(-65.0)
        spikes.resize(0)
        t = time.perf_counter()
        for _ in range(steps):
            h.fadvance()
        return time.perf_counter() - t, int(spikes.size())

    nrn.cells = cells           # the sections live as long as the contender (then go away)

    def ours():
        group.reset_state()
        t = time.perf_counter()
        out = group.run(current, steps=steps, record=("spike",))
        return time.perf_counter() - t, int(out["spike"].sum())
    return {"NEURON 1T (its hh)": nrn, "ionc hh.mod method=neuron": ours}


BRAINPY = textwrap.dedent("""
    import json, sys, time
    import numpy as np
    import jax
    n, steps, dtype = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    repeats, dt = int(sys.argv[4]), float(sys.argv[5])
    jax.config.update("jax_enable_x64", dtype == "float64")
    import brainpy as bp, brainpy.math as bm
    bm.set_dt(dt)
    x = bm.asarray(np.linspace(0.0, 20.0, n).astype(dtype))
    times, spikes = [], 0
    neu = bp.dyn.HH(n, V_initializer=bp.init.Constant(-65.0))
    def step(k):
        bp.share.save(t=k * dt, dt=dt, i=k)
        return neu.update(x)
    # compiled once: bm.for_loop alone retraces and recompiles on every call
    run = bm.jit(lambda: bm.for_loop(step, np.arange(steps)))
    for r in range(repeats + 1):                  # the first run compiles, untimed
        neu.reset_state()
        t = time.perf_counter()
        out = jax.block_until_ready(run())
        if r:
            times.append(time.perf_counter() - t)
        spikes = int(np.asarray(out).sum())
    print(json.dumps({"seconds": float(np.median(times)), "spikes": spikes,
                      "version": bp.__version__, "jax": jax.__version__}))
""")


def brainpy_contender(python: str, n: int, dtype: str, steps: int, repeats: int):
    """BrainPy in its own interpreter: ``(seconds, spikes, versions)`` or None."""
    r = subprocess.run([python, "-c", BRAINPY, str(n), str(steps), dtype, str(repeats),
                        str(DT)], capture_output=True, text=True, timeout=3600)
    if r.returncode:
        print(f"# BrainPy failed: {r.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    return json.loads(r.stdout.strip().splitlines()[-1])


def floors(n: int, dtype: str) -> dict:
    a, b, c = (np.ones(n * 5, dtype) for _ in range(3))
    expm1 = _exp_runner(dtype, n)
    t_triad, t_exp = [], []
    for _ in range(5):
        np.add(a, b * 2.0, out=c)
        t = time.perf_counter()
        np.add(a, b * 2.0, out=c)
        t_triad.append(time.perf_counter() - t)
        expm1()
        t = time.perf_counter()
        expm1()
        t_exp.append(time.perf_counter() - t)
    bandwidth = 5 * a.nbytes / float(np.median(t_triad))
    return {"memory floor": np.dtype(dtype).itemsize / bandwidth * 1e9,
            "exp floor": reductions_per_step() * float(np.median(t_exp)) / n * 1e9}


def main(argv=None) -> int:
    parser = arguments(__doc__.split("\n")[0], "1e5,1e6")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--brainpy-python", default=os.environ.get("IONC_BRAINPY_PYTHON", ""))
    parser.add_argument("--dtypes", default="float64,float32")
    parser.add_argument("--no-neuron", action="store_true", help="skip NEURON's contenders")
    args = parser.parse_args(argv)
    steps = args.steps
    print(f"# HH population, {steps} steps of {DT} ms; {_cpu_name()}, {os.cpu_count()} cores, "
          f"{time.strftime('%Y-%m-%d')}; ns per neuron per step (median of {args.repeats}); "
          f"ratio = time / ionc run; spikes in brackets")
    if not args.brainpy_python:
        print("# BrainPy: not measured (no --brainpy-python / IONC_BRAINPY_PYTHON)")
    names = ["ionc run", "ionc run 1T", "brainpy for_loop", "numpy", "NEURON 1T (its hh)",
             "ionc hh.mod method=neuron", "memory floor", "exp floor"]
    print("| dtype | N | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 2) + "|")
    rows = []
    for dtype in args.dtypes.split(","):
        for n in sizes_of(args.sizes):
            contenders = ionc_contenders(n, dtype, steps)
            if n <= 100_000:
                contenders["numpy"] = numpy_contender(n, dtype, steps)
                if dtype == "float64" and not args.no_neuron:
                    contenders.update(neuron_contenders(n, steps))
            result, spikes = {}, {}
            for name, fn in contenders.items():
                fn()                                         # warm-up
                runs = [fn() for _ in range(args.repeats)]
                result[name] = float(np.median([s for s, _ in runs])) / (n * steps) * 1e9
                spikes[name] = runs[-1][1]
            if args.brainpy_python:
                bp = brainpy_contender(args.brainpy_python, n, dtype, steps, args.repeats)
                if bp is not None:
                    result["brainpy for_loop"] = bp["seconds"] / (n * steps) * 1e9
                    spikes["brainpy for_loop"] = bp["spikes"]
            result.update(floors(n, dtype))
            base = result["ionc run"]
            cells = []
            for name in names:
                if name not in result:
                    cells.append("-")
                    continue
                text = f"{result[name]:.2f}"
                if name != "ionc run" and "floor" not in name:
                    text += f" ({result[name] / base:.1f}x)"
                if name in spikes:
                    text += f" [{spikes[name]}]"
                cells.append(text)
            print(f"| {dtype} | {n:.0e} | " + " | ".join(cells) + " |", flush=True)
            rows.append({"dtype": dtype, "N": n, **result,
                         **{f"spikes {k}": v for k, v in spikes.items()}})
    if args.csv:
        write_csv(rows, args.csv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
