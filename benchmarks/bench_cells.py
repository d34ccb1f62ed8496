"""Speed of published cells with ions: ionc's fused cell kernel against NEURON.

    python benchmarks/bench_cells.py [--cells l5pc,allen,tc,hnn_l5] [--sizes 1e3,1e4]
                                     [--steps 400] [--repeats 3] [--neuron-max 1e4]
                                     [--csv cells.csv]

Each cell is the somatic mechanism set of a published model as the tests run it
(``tests/cells.py``: Hay et al.'s L5PC, the Allen perisomatic set with its kinetic NaV,
bluepyopt's thalamocortical cell, hnn-core's L5 soma; the ``.mod`` files from the pinned
downloads of ``tests/published.py``), N single compartments whose injected currents
cycle through the cell's test amplitudes, ``--steps`` fixed steps of 0.025 ms.

- ionc: ``CondNeuGroup(method="neuron")`` of the same files, ``run(I, steps=k)``: one
  fused kernel over all mechanisms, ions and steps, on all threads and on one (1T).
- NEURON: N sections with the mechanisms and an IClamp (files built by
  ``nrnivmodl -coreneuron``), ``finitialize`` then ``ParallelContext.psolve`` (its fixed
  step, one thread, cache-efficient layout), for N <= ``--neuron-max``.
- CoreNEURON: the same model handed to CoreNEURON (``coreneuron.enable = True``, the
  in-memory transfer NEURON does on each ``psolve``, included in its time), one thread.
- The spike counts of all are printed and must agree.

Reported: ns per cell per step (median of ``--repeats``, after an untimed warm-up), and
NEURON's time over ionc's.  Each cell runs in its own process (two models' files, say
``SK_E2.mod``, cannot be loaded into one NEURON).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
from bench_update import _cpu_name, arguments, sizes_of, write_csv  # noqa: E402


def _measure(fn, repeats: int) -> tuple[float, int]:
    fn()                                                     # warm-up
    runs = [fn() for _ in range(repeats)]
    return float(np.median([s for s, _ in runs])), runs[-1][1]


def one_cell(name: str, sizes, steps: int, repeats: int, neuron_max: int) -> list[dict]:
    """The rows of one cell (run in a process of its own)."""
    import cells
    import ionc
    from published import published_files
    cell = cells.CELLS[name]
    work = Path(tempfile.mkdtemp(prefix=f"ionc-bench-{name}-"))
    published_files([k for k in cell.files.values() if k], work)
    exe = shutil.which("nrnivmodl") or str(Path(sys.executable).parent / "nrnivmodl")
    build = subprocess.run([exe, "-coreneuron", "."], cwd=work, capture_output=True, text=True)
    core = build.returncode == 0
    if not core:                        # CoreNEURON refuses some files: NEURON alone then
        lines = (build.stdout + build.stderr).splitlines()
        why = next((x for x in lines if "Code Incompatibility" in x or "error:" in x), "")
        print(f"# {name}: nrnivmodl -coreneuron failed ({why.strip()[:160]}); NEURON only")
        shutil.rmtree(work / "x86_64", ignore_errors=True)
        subprocess.run([exe, "."], cwd=work, check=True, capture_output=True)
    os.chdir(work)                       # NEURON loads ./x86_64 (and CoreNEURON's) from here
    from neuron import coreneuron, h
    from neuron_reference import installed
    order = cells.neuron_setup(h, cell)
    classes = {m: ionc.from_nmodl(work / key.split("@")[0]) if key
               else ionc.from_nmodl(installed("passive.mod")) for m, key in cell.files.items()}
    # ionc first: CoreNEURON pins the process to one core once it has run
    results = {}
    for n in sizes:
        amps = np.resize(np.asarray(cell.amps, float), n)
        I = cells.current_density(amps)
        result, spikes = {}, {}
        group = ionc.CondNeuGroup(
            n, method="neuron", dt=cells.DT, V_initializer=cell.v_init, V_th=0.0,
            celsius=cell.celsius, ions=cell.ions,
            **{m: classes[m](n, **cell.params[m]) for m in order})
        for threads in (None, 1):
            def ours(threads=threads, group=group, I=I):
                group.reset_state()
                t = time.perf_counter()
                if threads is None:
                    out = group.run(I, steps=steps, record=("spike",))
                else:
                    with ionc.num_threads(threads):
                        out = group.run(I, steps=steps, record=("spike",))
                return time.perf_counter() - t, int(np.asarray(out["spike_count"]).sum())
            key = "ionc run" + (" 1T" if threads else "")
            result[key], spikes[key] = _measure(ours, repeats)
        results[n] = (result, spikes)
    for n in sizes:
        result, spikes = results[n]
        amps = np.resize(np.asarray(cell.amps, float), n)
        if n <= neuron_max:
            pc = h.ParallelContext()
            secs, counter, gids = [], h.Vector(), h.Vector()
            for gid, a in enumerate(amps):
                sec, stim = cells.neuron_compartment(h, cell, a)
                pc.set_gid2node(gid, pc.id())
                nc = h.NetCon(sec(0.5)._ref_v, None, sec=sec)
                nc.threshold = 0.0
                pc.cell(gid, nc)
                secs.append((sec, stim, nc))
            pc.spike_record(-1, counter, gids)
            h.CVode().cache_efficient(1)
            pc.set_maxstep(10)

            def nrn(core: bool, counter=counter, pc=pc):
                coreneuron.enable = core
                h.finitialize(cell.v_init)
                counter.resize(0)
                t = time.perf_counter()
                pc.psolve(steps * cells.DT)
                return time.perf_counter() - t, int(counter.size())
            result["NEURON 1T"], spikes["NEURON 1T"] = _measure(lambda: nrn(False), repeats)
            if core:
                result["CoreNEURON 1T"], spikes["CoreNEURON 1T"] = _measure(
                    lambda: nrn(True), repeats)
            coreneuron.enable = False
            pc.gid_clear()
            del secs, nrn
    rows = []
    for n in sizes:
        result, spikes = results[n]
        rows.append({"cell": name, "N": n, **{k: v / (n * steps) * 1e9
                                               for k, v in result.items()},
                     **{f"spikes {k}": v for k, v in spikes.items()}})
    return rows


def main(argv=None) -> int:
    parser = arguments(__doc__.split("\n")[0], "1e3,1e4")
    parser.add_argument("--cells", default="l5pc,allen,tc,hnn_l5")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--neuron-max", type=float, default=1e4,
                        help="largest N that NEURON runs")
    parser.add_argument("--cell", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.cell:                                  # the child: one cell, rows as JSON
        rows = one_cell(args.cell, sizes_of(args.sizes), args.steps, args.repeats,
                        int(args.neuron_max))
        print("ROWS " + json.dumps(rows))
        return 0
    print(f"# published cells (one compartment), {args.steps} steps of 0.025 ms; "
          f"{_cpu_name()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}; ns per cell "
          f"per step (median of {args.repeats}); NEURON's time / ionc's in brackets; spike "
          f"counts in square brackets")
    names = ["ionc run", "ionc run 1T", "NEURON 1T", "CoreNEURON 1T"]
    print("| cell | N | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 2) + "|")
    rows = []
    for name in args.cells.split(","):
        r = subprocess.run([sys.executable, __file__, "--cell", name, "--sizes", args.sizes,
                            "--steps", str(args.steps), "--repeats", str(args.repeats),
                            "--neuron-max", str(args.neuron_max)],
                           capture_output=True, text=True)
        for x in r.stdout.splitlines():
            if x.startswith("# "):
                print(x)
        line = next((x for x in r.stdout.splitlines() if x.startswith("ROWS ")), None)
        if r.returncode or line is None:
            print(f"# {name}: failed\n{r.stderr[-2000:]}")
            continue
        for row in json.loads(line[5:]):
            base = row["ionc run"]
            cells = []
            for k in names:
                if k not in row:
                    cells.append("-")
                    continue
                text = f"{row[k]:.1f}"
                if k != "ionc run":
                    text += f" ({row[k] / base:.1f}x)"
                cells.append(text + f" [{row[f'spikes {k}']}]")
            print(f"| {name} | {row['N']:.0e} | " + " | ".join(cells) + " |", flush=True)
            rows.append(row)
    if args.csv:
        write_csv(rows, args.csv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
