"""Back ends: one class per target, each with its printer, template and spellings.

A back end turns a :class:`~.kernels.KernelSet` into source text.  It owns
everything that differs between targets: the SymPy printer, the Jinja2
template, how an operand (:class:`~.kernels.Ref`) is spelled inside a map or
a scan loop, how a call of an element function is written, and how a typed
kernel signature becomes a declaration.  :data:`BACKENDS` is the registry;
adding a target means adding one class here and one template.
"""
from __future__ import annotations

from typing import ClassVar

from .ffi import SCALARS, ffi_interface, handler_symbol, has_handler
from .kernels import (COUNT, COUNTS, EVERY, FLAGS, IN, INOUT, INPUT, INT, OUT, REAL, RECORD,
                      STEP, STEPS, STRIDE, TABLE, TRACE, Call, Crossing, Guard, KernelSignature,
                      Lookup, Ref, Store)
from .printing import CPrinter, CudaPrinter, NumPyArrayPrinter

MAP, SCAN = "map", "scan"


class Backend:
    """What every target provides; subclasses fill in the spellings."""

    name: ClassVar[str]
    template: ClassVar[str]
    printer_class: ClassVar[type]
    suffix: ClassVar[str]

    def printer(self, dtype: str):
        """A printer of element-function expressions for ``dtype``."""
        return self.printer_class(dtype)

    def spell(self, ref: Ref, context: str, write: bool = False) -> str:
        """The text of operand ``ref`` inside a ``map`` or ``scan`` loop."""
        raise NotImplementedError

    def call(self, stmt: Call, context: str) -> str:
        """One call of an element function."""
        raise NotImplementedError

    def store(self, stmt: Store, context: str) -> str:
        """``target = source``."""
        raise NotImplementedError

    def crossing(self, stmt: Crossing, context: str) -> str:
        """An upward threshold crossing, without a short circuit."""
        t, b, a, th = (self.spell(stmt.target, context, True), self.spell(stmt.before, context),
                       self.spell(stmt.after, context), self.spell(stmt.threshold, context))
        return f"{t} = ({b} < {th}) & ({a} >= {th}){self.end}"

    def lookup(self, stmt: Lookup, context: str) -> str:
        """The tabulated values at ``stmt.x`` (see the table helpers of the template)."""
        raise NotImplementedError

    def guard(self, guard: Guard, context: str) -> str:
        """True where the table applies (false for NaN), element-wise."""
        v = self.spell(guard.value, context)
        return (f"({v} >= {self.spell(guard.lo, context)}) & "
                f"({v} <= {self.spell(guard.hi, context)})")

    end: ClassVar[str] = ""

    def statement(self, stmt, context: str) -> str:
        """Any statement of the kernel IR as one line."""
        if isinstance(stmt, Call):
            return self.call(stmt, context)
        if isinstance(stmt, Store):
            return self.store(stmt, context)
        if isinstance(stmt, Crossing):
            return self.crossing(stmt, context)
        if isinstance(stmt, Lookup):
            return self.lookup(stmt, context)
        raise TypeError(f"unknown statement {stmt!r}")

    def declaration(self, signature: KernelSignature, real: str = "real",
                    restrict: str = "IONC_RESTRICT") -> str:
        """The C declaration of a kernel (``''`` for targets that are not C-like)."""
        return ""

    def cdefs(self, signatures, real: str) -> str:
        """Declarations for an FFI (``''`` when the target needs none)."""
        return ""

    def context(self, signatures: dict, dtype: str, thresholds: dict, extra=()) -> dict:
        """What the template needs beyond the kernels (nothing for most targets);
        ``thresholds`` holds each kernel's OpenMP threshold by task, ``extra`` the tasks
        beyond :data:`.ffi.TASKS` that get XLA handlers."""
        return {}


class CBackend(Backend):
    """C99 through cffi: OpenMP loops, scans over blocks of elements."""

    name = "c"
    template = "kernel.c.j2"
    printer_class = CPrinter
    suffix = ".c"
    end = ";"
    #: C type of each parameter kind (arrays: element type).
    TYPES = {COUNT: "int64_t", INT: "int64_t", REAL: "real", IN: "real", INOUT: "real",
             OUT: "real", FLAGS: "unsigned char", COUNTS: "int32_t", TABLE: "real"}

    def spell(self, ref: Ref, context: str, write: bool = False) -> str:
        name, where = ref.name, ref.where
        if where in ("scalar", "local"):
            return name
        if context == MAP:
            return f"{name}[i]"
        return {"element": f"{name}[ionc_i0 + ionc_j]", "state": f"ionc_b_{name}[ionc_j]",
                "trace": "ionc_t[ionc_j]",
                "record": f"{name}[ionc_r * n + ionc_i0 + ionc_j]"}[where]

    def call(self, stmt: Call, context: str) -> str:
        declare = "".join(f"real {o.name}; " for o in stmt.outputs if o.where == "local")
        args = [self.spell(r, context) for r in stmt.inputs]
        args += ["&" + self.spell(r, context, True) for r in stmt.outputs]
        return f"{declare}{stmt.function}({', '.join(args)});"

    def store(self, stmt: Store, context: str) -> str:
        return f"{self.spell(stmt.target, context, True)} = {self.spell(stmt.source, context)};"

    def lookup(self, stmt: Lookup, context: str) -> str:
        declare = "".join(f"real {o.name}; " for o in stmt.outputs)
        x = self.spell(stmt.x, context)
        row = (f"{{ const ionc_wide ionc_x = ionc_table_x({x}, ionc_table_lo, "
               "ionc_table_inv_h); const int ionc_k = ionc_table_row(ionc_x, ionc_table_last); "
               "const real ionc_tt = ionc_table_t(ionc_x, ionc_k); ")
        polys = "".join(f"{o.name} = ionc_table_poly(ionc_table, ionc_k, {j}, ionc_tt); "
                        for j, o in enumerate(stmt.outputs))
        return f"{declare}{row}{polys}}}"

    def declaration(self, signature: KernelSignature, real: str = "real",
                    restrict: str = "IONC_RESTRICT") -> str:
        parts = []
        for p in signature.parameters:
            ctype = self.TYPES[p.kind].replace("real", real)
            if not p.is_array:
                parts.append(f"{ctype} {p.name}")
                continue
            const = "const " if p.kind in (IN, TABLE) else ""
            qualifier = f"{restrict} " if restrict else ""
            parts.append(f"{const}{ctype} *{qualifier}{p.name}")
        return f"void {signature.name}({', '.join(parts)})"

    def cdefs(self, signatures, real: str) -> str:
        lines = [f"int64_t ionc_count_nonfinite(int64_t n, const {real} *V);"]
        lines += [self.declaration(s, real, restrict="") + ";" for s in signatures]
        return "\n".join(lines)


class CudaBackend(CBackend):
    """CUDA through CuPy (NVRTC): one element per thread, states in registers in scans."""

    name = "cuda"
    template = "kernel.cu.j2"
    printer_class = CudaPrinter
    suffix = ".cu"

    def spell(self, ref: Ref, context: str, write: bool = False) -> str:
        if context == MAP or ref.where in ("scalar", "local"):
            return super().spell(ref, context, write)
        return {"element": f"{ref.name}[i]", "state": f"ionc_g_{ref.name}",
                "trace": "ionc_t", "record": f"{ref.name}[ionc_r * n + i]"}[ref.where]

    def cdefs(self, signatures, real: str) -> str:
        return ""


class NumPyBackend(Backend):
    """NumPy: each kernel a function over whole arrays; the reference and the
    fallback without a C compiler."""

    name = "numpy"
    template = "kernel.py.j2"
    printer_class = NumPyArrayPrinter
    suffix = ".py"

    def spell(self, ref: Ref, context: str, write: bool = False) -> str:
        name, where = ref.name, ref.where
        if where == "trace":
            return "ionc_t"
        if where == "record":
            return f"{name}[ionc_r]"
        if write and where in ("element", "state"):
            return f"{name}[...]"
        return name

    def call(self, stmt: Call, context: str) -> str:
        ins = ", ".join(self.spell(r, context) for r in stmt.inputs)
        outs = "".join(self.spell(r, context, True) + ", " for r in stmt.outputs)
        return f"{outs}= {stmt.function}({ins})" if outs else f"{stmt.function}({ins})"

    def store(self, stmt: Store, context: str) -> str:
        return f"{self.spell(stmt.target, context, True)} = {self.spell(stmt.source, context)}"

    def lookup(self, stmt: Lookup, context: str) -> str:
        outs = "".join(f"{o.name}, " for o in stmt.outputs)
        return (f"{outs}= ionc_table_lookup(ionc_table, {self.spell(stmt.x, context)}, "
                "ionc_table_lo, ionc_table_inv_h, ionc_table_last)")


class XlaBackend(CBackend):
    """XLA's typed FFI (``jax.ffi``): a C++ handler for each kernel of the C target
    that ``ionc.jax`` calls (:func:`.ffi.has_handler`: the steps, the current, the rates
    and their Jacobians).

    The source is the handlers only: the kernels they call are the C target's,
    compiled from the C target's source with its flags and linked in, so a
    result inside JAX is the C target's to the bit.  Each handler takes the
    kernel's buffers as :func:`.ffi.ffi_interface` lays them out, checks their
    sizes, dt and (on request) the inputs' finiteness, then runs the kernel
    once per chunk (a batch member under ``jax.vmap``).
    """

    name = "xla"
    template = "kernel.xla.cc.j2"
    suffix = ".cc"
    FFI_TYPES = {"float32": "ffi::F32", "float64": "ffi::F64"}
    #: FFI and C element types of the integer results (a neuron's spikes).
    INTEGER_TYPES = {FLAGS: ("ffi::U8", "uint8_t"), COUNTS: ("ffi::S32", "int32_t")}

    def cdefs(self, signatures, real: str) -> str:
        return ""

    def context(self, signatures: dict, dtype: str, thresholds: dict, extra=()) -> dict:
        real = "float" if dtype == "float32" else "double"
        return dict(handlers=[self.handler(task, sig, real, self.FFI_TYPES[dtype],
                                           thresholds[task] // 2)
                              for task, sig in signatures.items() if has_handler(task, extra)])

    #: The handler's context: the thread pool (host) or the stream (device).
    CONTEXT = ("ffi::ThreadPool ionc_pool", "Ctx<ffi::ThreadPool>()")
    #: True when the kernels run on a device (launched on XLA's stream).
    device = False

    def handler(self, task: str, sig: KernelSignature, real: str, ffi_type: str,
                block: int) -> dict:
        """One handler's pieces: its C++ parameters and bindings, the size of each
        buffer per chunk, the checks, the copies of unaliased states and the
        kernel's arguments per block.

        On the host a one-pass kernel runs on blocks of ``block`` elements (under
        its OpenMP threshold, so it never starts a thread team from XLA's threads)
        spread over XLA's intra-op thread pool; a scan runs whole chunks, its steps
        amortising its own OpenMP team.  On a device each chunk is one launch of
        the kernel's twin, which reads the real scalars from device memory."""
        interface = ffi_interface(sig)
        buffer = f"ffi::Buffer<{ffi_type}>"
        params, bindings, sizes, arguments = [], [], [], []
        for p in interface.operands:
            params.append(f"{buffer} {p.name}")
            bindings.append(f"Arg<{buffer}>()")
        types = {p.name: self.INTEGER_TYPES.get(p.kind, (ffi_type, real))
                 for p in interface.results}          # (FFI type, C type) of each result
        for p in interface.results:
            out = f"{p.name}_out" if p.kind == INOUT else p.name
            params.append(f"ffi::ResultBuffer<{types[p.name][0]}> {out}")
            bindings.append(f"Ret<ffi::Buffer<{types[p.name][0]}>>()")
        for a in interface.attributes:
            params.append(f"int64_t ionc_{a}")
            bindings.append(f'Attr<int64_t>("{a}")')
        params.insert(0, self.CONTEXT[0])
        bindings.insert(0, self.CONTEXT[1])
        rows = "(ionc_steps / ionc_every * ionc_n)"        # a record's elements per chunk

        def result_rows(p) -> str:
            """A result's elements per chunk: a record's rows, else one per element."""
            return rows if p.role == RECORD else "ionc_n"

        scalars = [p.name for p in interface.scalars]
        for p in interface.operands:
            per_chunk = (str(len(scalars)) if p == SCALARS else
                         "ionc_steps * ionc_n" if p.role == TRACE else "ionc_n")
            sizes.append(dict(expr=f"{p.name}.element_count()", name=p.name, per_chunk=per_chunk,
                              optional=False))
        for p in interface.results:
            if p.kind != INOUT:
                sizes.append(dict(expr=f"{p.name}->element_count()", name=p.name,
                                  per_chunk=result_rows(p),
                                  optional=p.optional))
        scan = interface.is_scan
        whole = scan or self.device           # a call per chunk, not per block
        start = "ionc_k * ionc_n" if whole else "ionc_k * ionc_n + ionc_lo"
        pointers = []          # each buffer's data, taken once (the block loop copies them)
        for p in interface.operands:
            pointers.append(f"const {real} *const ionc_d_{p.name} = {p.name}.typed_data();")
        for p in interface.results:
            out = f"{p.name}_out" if p.kind == INOUT else p.name
            data = f"{out}->typed_data()"
            if p.optional:
                data = f"({out}->element_count() ? {data} : nullptr)"
            pointers.append(f"{types[p.name][1]} *const ionc_w_{p.name} = {data};")
        for p in sig.parameters:
            if p.kind == COUNT:
                arguments.append("ionc_n" if whole else "ionc_m")
            elif p.role == STRIDE:
                arguments.append("ionc_n")
            elif p.role == STEPS:
                arguments.append("ionc_steps")
            elif p.role == EVERY:
                arguments.append("ionc_every")
            elif p.kind == REAL and self.device:     # the twin takes them all at once
                if p.name == scalars[0]:
                    arguments.append(f"ionc_d_{SCALARS.name} + ionc_k * {len(scalars)}")
            elif p.kind == REAL:
                j = scalars.index(p.name)
                arguments.append(f"ionc_d_{SCALARS.name}[ionc_k * {len(scalars)} + {j}]")
            elif p.kind == IN:
                offset = "ionc_k * ionc_steps * ionc_n" if p.role == TRACE else start
                arguments.append(f"ionc_d_{p.name} + {offset}")
            elif p.optional:
                arguments.append(f"(ionc_w_{p.name} ? ionc_w_{p.name} + ionc_k * {result_rows(p)} "
                                 ": nullptr)")
            else:
                arguments.append(f"ionc_w_{p.name} + {start}")
        arrays = [p.name for p in interface.operands if p != SCALARS]
        if scalars:
            chunks = f"(int64_t){SCALARS.name}.element_count() / {len(scalars)}"
        elif arrays:
            chunks = f"(ionc_n > 0 ? (int64_t){arrays[0]}.element_count() / ionc_n : 1)"
        else:
            chunks = "1"
        return dict(
            task=task, symbol=handler_symbol(task), scan=scan, block=block,
            kernel=f"{sig.name}_xla" if self.device else sig.name,
            declaration=self.declaration(sig, real, restrict="") + ";",
            parameters=params, bindings=bindings, chunks=chunks, sizes=sizes,
            steps=[] if self.device else [
                f"ionc_d_{SCALARS.name}[ionc_k * {len(scalars)} + {scalars.index(p.name)}]"
                for p in interface.scalars if p.role == STEP],
            finite=[] if self.device else [
                p.name for p in interface.operands if p.role in (INPUT, TRACE)],
            states=[p.name for p in interface.operands if p.kind == INOUT],
            # counters the kernel adds to (a scan's spike totals) start at zero
            zeroed=[p.name for p in interface.results if p.kind == COUNTS],
            pointers=pointers, arguments=arguments)


class XlaCudaBackend(XlaBackend, CudaBackend):
    """XLA's typed FFI on CUDA GPUs: the CUDA target's kernels, launched on XLA's stream.

    The source is the CUDA target's (its loops shared through ``cuda_loops.j2``)
    plus, for each kernel ``ionc.jax`` calls, a twin that reads the real scalars
    from device memory (so they may be traced values) and the handler that
    launches it once per chunk.  dt and the finiteness of V are checked on the
    host target only: reading device memory from the handler would stall the
    stream.  Compiled with nvcc.
    """

    name = "xla-cuda"
    template = "kernel.xla.cu.j2"
    suffix = ".cu"
    CONTEXT = ("cudaStream_t ionc_stream", "Ctx<ffi::PlatformStream<cudaStream_t>>()")
    device = True

    def context(self, signatures: dict, dtype: str, thresholds: dict, extra=()) -> dict:
        real = "float" if dtype == "float32" else "double"
        out = super().context(signatures, dtype, thresholds, extra)
        out["twins"] = {sig.name: self.twin(sig, real)
                        for task, sig in signatures.items() if has_handler(task, extra)}
        return out

    def twin(self, sig: KernelSignature, real: str) -> dict:
        """The declaration of ``sig``'s twin (its real scalars replaced by one pointer,
        :data:`.ffi.SCALARS`) and the loads of its scalars."""
        scalars = [p.name for p in ffi_interface(sig).scalars]
        first = scalars[0] if scalars else None          # the pointer goes where it was
        params = [SCALARS if p.name == first else p for p in sig.parameters
                  if p.kind != REAL or p.name == first]
        loads = [f"const {real} {name} = {SCALARS.name}[{j}];" for j, name in enumerate(scalars)]
        twin = KernelSignature(f"{sig.name}_xla", tuple(params))
        return dict(name=twin.name, loads=loads, declaration=self.declaration(twin, real))


#: Every back end by target name: the one place target names are listed.
BACKENDS: dict[str, Backend] = {b.name: b for b in (CBackend(), CudaBackend(), NumPyBackend(),
                                                    XlaBackend(), XlaCudaBackend())}
#: Other names users give targets (the runtime's ``target='cpu'`` is the C back end).
ALIASES = {"cpu": "c"}


def get_backend(target: str) -> Backend:
    """The back end for ``target`` (``'c'``/``'cpu'``, ``'cuda'``, ``'numpy'``)."""
    try:
        return BACKENDS[ALIASES.get(target, target)]
    except (KeyError, TypeError):
        known = tuple(BACKENDS) + tuple(ALIASES)
        raise ValueError(f"unknown target {target!r}; known: {known}") from None
