"""The ``ionc`` command line: emit, inspect, demo, plot, bench, cache.

Errors are one line on stderr and exit status 2; ``--help`` everywhere.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .build import (BuildError, CacheError, CompilerNotFoundError, CudaUnavailableError,
                    cache_dir, cached_artifacts, remove_artifacts)
from .codegen import LIBRARY, SpecError, get_backend, get_channel, lower_channel, render_kernels
from .codegen.nmodl import parse_nmodl, read_source
from .codegen.tables import build_table
from .inputs import check_dt
from .demo import neuron_count


class CliError(Exception):
    """A user error: printed as one line, exit status 2."""


def _nmodl(name: str):
    """The front end's result for a .mod path (or ``neuron:<name>``), or None for a
    library name."""
    from .nmodl import EXAMPLE_PREFIX, is_mod_name, neuron_example
    if not is_mod_name(name):
        return None
    try:
        path = neuron_example(name) if name.startswith(EXAMPLE_PREFIX) else name
        text = read_source(path)
    except OSError as exc:
        raise CliError(str(exc)) from None
    try:
        return parse_nmodl(text, path=path)
    except SpecError as exc:
        raise CliError(f"{name}: {exc}") from None


def _spec(name: str):
    info = _nmodl(name)
    if info is not None:
        return info.spec
    try:
        return get_channel(name)
    except KeyError:
        known = ", ".join(sorted(LIBRARY))
        raise CliError(f"unknown channel {name!r}; known channels: {known}") from None


def _method(args) -> str:
    """``--method``, or the .mod file's own (cnexp on a nonlinear gate, derivimplicit)."""
    if args.method is not None:
        return args.method
    info = _nmodl(args.channel)
    return info.method if info is not None else "exp_auto"


def _emit(args) -> None:
    spec = _spec(args.channel)
    args.method = _method(args)
    try:
        backend = get_backend(args.target)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    text = render_kernels(spec, backend.name, args.dtype, args.method).source
    if args.output in (None, "-"):
        sys.stdout.write(text)
        return
    path = Path(args.output)
    try:
        path.write_text(text)
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror}") from None
    print(f"wrote {path} ({len(text.splitlines())} lines)")


def _inspect(args) -> None:
    spec = _spec(args.channel)
    args.method = _method(args)
    model = lower_channel(spec, args.method)
    print(f"{spec.name}: {spec.doc}")
    info = _nmodl(args.channel)
    if info is not None:
        print(f"NMODL: SUFFIX {info.suffix}, SOLVE METHOD {info.solve} (ionc: {info.method}); "
              f"ions " + ", ".join(f"{ion} READ {' '.join(r) or '-'} WRITE {' '.join(w) or '-'}"
                                  for ion, (r, w) in info.ions.items()))
        for c, expr in info.currents.items():
            print(f"  {c} = {expr}   (mA/cm2, outward positive)")
        for note in info.notes:
            print(f"  note: {note}")
    print("parameters: " + ", ".join(f"{k} = {v}" for k, v in spec.parameters.items()))
    for sym, value in spec.intermediate_symbols.items():
        print(f"intermediate: {sym} = {value}")
    for line in _scheme_lines(spec, model):
        print(line)
    print("\nrates as written -> after the singularity rewrite:")
    for name, expr in spec.rates.items():
        print(f"  {name} = {expr}\n      -> {model.display(model.rates[name])}")
    for gate in spec.gates:
        if spec.scheme_of(gate.name) is not None:
            continue
        for role, expr in gate.rate_expressions().items():
            name = f"{role}_{gate.name}"
            if name in model.rates:
                print(f"  {name} = {expr}\n      -> {model.display(model.rates[name])}")
            else:
                print(f"  {name} = {expr}")
    print()
    print(model.singularities)
    if model.derived:
        for sym, value in model.derived.items():
            print(f"\n{model.display(sym)} = {model.display(value)}   (computed once per call "
                  f"when its inputs are scalars)")
    step = model.functions["update"]
    print(f"\n{args.method} update: {step.reductions} range reductions of exp/expm1 per "
          f"element ({step.reductions + step.powers} before strength reduction: "
          f"{step.powers} exponential(s) computed as powers of others)")
    carried = {c for c, _ in step.iteration.carried} if step.iteration else set()
    newton = [g for g, (_, e) in zip(model.gate_names, step.outputs)
              if e in carried and spec.scheme_of(g) is None]
    for gate, (_, expr) in zip(model.gate_names, step.outputs):
        if spec.scheme_of(gate) is None and gate not in newton:
            print(f"  {gate} <- {model.display(expr)}")
    if newton:
        print(f"  {', '.join(newton)} <- backward Euler solved together by Newton's iteration, "
              f"as NEURON's derivimplicit: F(x) = f(x) - (x - x_old)/dt = 0 from x_old; a "
              f"central-difference Jacobian, rebuilt while the relative change exceeds 0.05; "
              f"done when the change is <= 1e-6 and max|F| <= 1e-8, at most "
              f"{step.iteration.limit} passes ({len(step.iteration.body)} locals per pass)")
    if args.method == "table":
        print("\nwith method='table' (default parameters; the channel builds its own):")
        for dtype in ("float64", "float32"):
            try:
                table = build_table(spec, dtype, check_dt(args.dt), dict(spec.parameters))
            except (SpecError, ValueError) as exc:
                print(f"  {dtype}: no table: {exc}")
                continue
            print("  " + table.report().replace("\n", "\n  "))
    generated = render_kernels(spec, "c", "float64", args.method)
    print("\nC kernels (float64):")
    for line in generated.declarations.splitlines():
        print("  " + line)
    print(f"\nsource hash {generated.hash}; compiled modules are cached in {cache_dir('c')}")


def _scheme_lines(spec, model) -> list[str]:
    """``ionc inspect``'s account of each kinetic scheme: reactions, volumes, conservation
    laws, how reset_state sets it and how a step solves it."""
    lines = []
    step = model.functions["update"]
    for k, scheme in enumerate(spec.schemes):
        n = len(scheme.states)
        lines.append(f"\nkinetic scheme {scheme.name}: {n} states {', '.join(scheme.states)}")
        lines += [f"  {r}" for r in scheme.reactions]
        lines += [f"  COMPARTMENT {v} {{{s}}}" for s, v in scheme.volumes.items()]
        for terms, total in scheme.conserve:
            lhs = " + ".join(f"{c}*{s}" if c != 1 else s for s, c in terms)
            lines.append(f"  CONSERVE {lhs} = {total}   (replaces the equation of "
                         f"{terms[-1][0]})")
        if scheme.equations:
            lines.append(f"  reset_state: the {len(scheme.equations)} linear equations of "
                         f"INITIAL's LINEAR block, solved by elimination")
        elif scheme.steady:
            lines.append("  reset_state: STEADYSTATE sparse, one backward-Euler step of 1e9 ms "
                         "from INITIAL's values (as NEURON)")
        locals_ = sum(1 for s, _ in step.definitions if s.name.startswith(f"ionc_k{k}_"))
        carried = {c for c, _ in step.iteration.carried} if step.iteration else set()
        if any(e in carried for g, (_, e) in zip(model.gate_names, step.outputs)
               if g in scheme.states):
            lines.append(f"  step: backward Euler iterated as NEURON's sparse (its reactions "
                         f"multiply states): (I/dt - df/dx) delta = f(x) - (x - x_old)/dt, "
                         f"a {n}x{n} system solved by elimination each pass, states below 0 "
                         f"set to 0, done when sum |delta| <= 1e-6, at most "
                         f"{step.iteration.limit} passes ({len(step.iteration.body)} locals "
                         f"per pass)")
            continue
        lines.append(f"  step: backward Euler (NEURON's sparse), (I - dt J) x' = x + dt b, "
                     f"a {n}x{n} system solved by elimination unrolled at compile time "
                     f"({locals_} locals, no pivoting: the matrix is column diagonally "
                     f"dominant)")
    return lines


def _lint(args) -> None:
    from .nmodl import is_mod_name, lint_nmodl
    if not is_mod_name(args.file):
        raise CliError(f"lint reads .mod files, got {args.file!r}")
    _nmodl(args.file)                       # a clear error for a bad file
    print(lint_nmodl(args.file)[0])


def _cache(args) -> None:
    """List or remove the compiled modules ionc wrote (those its manifests list; any
    other file in the directory is left alone)."""
    for kind in ("c", "xla"):        # cffi modules; XLA handler libraries
        root = cache_dir(kind)
        if args.action == "list":
            total = 0
            entries = cached_artifacts(root)
            for p in entries:
                size = p.stat().st_size
                total += size
                print(f"{size / 1024:9.1f} KiB  {p.name}")
            print(f"{len(entries)} compiled module(s), {total / 1024:.1f} KiB in {root}")
        else:
            count, size = remove_artifacts(root)
            print(f"removed {count} compiled module(s), {size / 1024:.1f} KiB, from {root}")


def _demo(args) -> None:
    from .demo import LEVELS, check_memory
    from .demo import main as demo_main
    if args.neurons < len(LEVELS):
        raise CliError(f"--neurons must be at least {len(LEVELS)} (one per step level)")
    check_memory(args.neurons, args.dtype)
    _check_writable(Path(args.out))
    rc = demo_main(["--neurons", str(args.neurons), "--dtype", args.dtype, "--out", args.out,
                    "--target", args.target] + (["--no-plot"] if args.no_plot else []))
    if rc:
        raise CliError("demo failed")


def _check_writable(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / ".ionc-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise CliError(f"cannot write to {directory}: {exc.strerror}") from None


def _plot(args) -> None:
    from . import channels
    from .nmodl import from_nmodl, is_mod_name
    from .plots import PlotUnavailable, plot_channel
    spec = _spec(args.channel)
    cls = (from_nmodl(args.channel) if is_mod_name(args.channel)
           else getattr(channels, spec.name))
    path = Path(args.output or f"{spec.name}_gates.png")
    if not path.parent.is_dir():
        raise CliError(f"cannot write {path}: the folder {path.parent} does not exist")
    try:
        written = plot_channel(cls, path, (args.vmin, args.vmax))
    except PlotUnavailable as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror or exc}") from None
    print(f"wrote {written} (steady states and time constants of "
          f"{', '.join(g.name for g in spec.gates)} from {args.vmin:g} to {args.vmax:g} mV)")


def _bench(args) -> None:
    import runpy
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_update.py"
    if not script.is_file():
        raise CliError(f"the benchmark suite is not installed here ({script} is missing); "
                       f"run it from a source checkout of ionc") from None
    extra = args.args[1:] if args.args[:1] == ["--"] else args.args
    sys.argv = [str(script), *extra]
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as exc:
        if exc.code not in (None, 0):
            raise CliError(f"benchmark exited with status {exc.code}") from None


def _version() -> str:
    """ionc's installed version."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("ionc")
    except PackageNotFoundError:
        return "(not installed)"


def _positive_ms(text: str) -> float:
    """An argparse type: a time step in ms, finite and > 0."""
    try:
        return check_dt(float(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="ionc", description="ionc: an ion-channel compiler")
    parser.add_argument("--version", action="version", version=f"ionc {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    channel_help = ("a library channel (e.g. INa_Ba2002; see ionc inspect --help), the "
                    "path of a NEURON .mod file, or neuron:<name> for a file the neuron "
                    "package installs (neuron:hh)")

    p = sub.add_parser("emit", help="print or write the emitted kernel source")
    p.add_argument("channel", help=channel_help)
    p.add_argument("--target", default="c",
                   help="c (alias cpu), cuda, numpy, xla or xla-cuda (JAX's FFI handlers)")
    p.add_argument("--dtype", default="float64", choices=("float32", "float64"))
    p.add_argument("--method", default=None,
                   help="integration method (default: exp_auto, a .mod file's own)")
    p.add_argument("-o", "--output", help="file to write (default: standard output)")
    p.set_defaults(run=_emit)

    p = sub.add_parser("inspect", help="equations, singularities, update formula, kernels")
    p.add_argument("channel", help=channel_help)
    p.add_argument("--method", default=None,
                   help="integration method (default: exp_auto, a .mod file's own)")
    p.add_argument("--dt", type=_positive_ms, default=0.025,
                   help="step (ms, > 0; default 0.025) of the rate tables shown with "
                        "--method table")
    p.set_defaults(run=_inspect)

    p = sub.add_parser("lint", help="a .mod file's removable singularities: what the file "
                                     "does about each, its error in ulp against ionc's")
    p.add_argument("file", help="the path of a NEURON .mod file, or neuron:<name> (neuron:hh)")
    p.set_defaults(run=_lint)

    p = sub.add_parser("demo", help="the README's main job: a voltage-clamp family on the CPU")
    p.add_argument("--neurons", type=neuron_count, default=100_000,
                   help="how many neurons (default 100000)")
    p.add_argument("--dtype", default="float64", choices=("float32", "float64"))
    p.add_argument("--target", default="cpu", choices=("cpu", "cuda", "auto"),
                   help="where to run it (cuda: the GPU, through CuPy)")
    p.add_argument("--out", default="ionc-output", help="directory for the source and PNG")
    p.add_argument("--no-plot", action="store_true", help="skip the PNG")
    p.set_defaults(run=_demo)

    p = sub.add_parser("plot", help="steady states and time constants against V as a PNG")
    p.add_argument("channel", help=channel_help)
    p.add_argument("-o", "--output", help="PNG to write (default: CHANNEL_gates.png)")
    p.add_argument("--vmin", type=float, default=-120.0, help="lowest V (mV, default -120)")
    p.add_argument("--vmax", type=float, default=60.0, help="highest V (mV, default 60)")
    p.set_defaults(run=_plot)

    p = sub.add_parser("bench", help="the benchmark suite (benchmarks/bench_update.py)",
                       description="Runs benchmarks/bench_update.py; arguments after "
                                   "'--' go to it (e.g. ionc bench -- --sizes 1000,100000).")
    p.add_argument("args", nargs=argparse.REMAINDER)
    p.set_defaults(run=_bench)

    p = sub.add_parser("cache", help="list or clear the compiled-module cache")
    p.add_argument("action", choices=("list", "clear"),
                   help="list: ionc's compiled modules and their sizes; clear: remove them "
                        "(nothing else in the folder)")
    p.set_defaults(run=_cache)
    return parser


def main(argv=None) -> int:
    """Run the command line; 0 on success, 2 on a user error (one line on stderr)."""
    args = build_parser().parse_args(argv)
    subject = getattr(args, "channel", None) or getattr(args, "file", None)
    where = f"{subject}: " if subject else ""
    try:
        args.run(args)
    except CliError as exc:
        print(f"ionc: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:          # the reader went away (ionc cache list | head): fine
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (ValueError, OSError, CudaUnavailableError, CompilerNotFoundError, CacheError,
            BuildError) as exc:
        text = str(exc) if subject and subject in str(exc) else f"{where}{exc}"
        print(f"ionc: error: {text}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ionc: interrupted", file=sys.stderr)
        return 130
    except (MemoryError, RecursionError) as exc:
        print(f"ionc: error: {where}{type(exc).__name__}: the input is too large or nested "
              f"too deeply for ionc to analyse {exc or ''}".rstrip(), file=sys.stderr)
        return 2
    except Exception as exc:    # noqa: BLE001 - no traceback from the CLI, ever
        print(f"ionc: error: {where}{type(exc).__name__}: {exc} (this is a bug in ionc: "
              f"please report it with the input)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
