"""The symbol table: any user name compiles on every target and gives the same numbers.

Names are mangled (``u_<name>``) in generated code, so keywords of C, C++, CUDA
and Python, macros, C library names and the names the generated code uses for
itself are all valid gate, parameter and intermediate names.
"""
import keyword
import random
import warnings

import numpy as np
import pytest
import sympy as sp

from ionc import Channel
from ionc.codegen import ChannelSpec, Gate, SpecError, V, lower_channel, render_kernels, symbol
from targets import host

C_KEYWORDS = """auto break case char const continue default do double else enum extern float
for goto if inline int long register restrict return short signed sizeof static struct switch
typedef union unsigned void volatile while _Bool _Complex _Imaginary _Alignas _Alignof _Atomic
_Generic _Noreturn _Static_assert _Thread_local""".split()
CPP_KEYWORDS = """alignas alignof and and_eq asm bitand bitor bool catch char16_t char32_t
char8_t class compl concept consteval constexpr constinit const_cast co_await co_return
co_yield decltype delete dynamic_cast explicit export false friend mutable namespace new
noexcept not not_eq nullptr operator or or_eq private protected public reinterpret_cast
requires static_assert static_cast template this thread_local throw true try typeid typename
using virtual wchar_t xor xor_eq""".split()
CUDA_NAMES = """threadIdx blockIdx blockDim gridDim warpSize __global__ __device__ __host__
__shared__ __constant__ __restrict__ __forceinline__ atomicAdd __syncthreads""".split()
LIBC_AND_MACROS = """NAN INFINITY HUGE_VAL errno EOF NULL M_PI FLT_MIN DBL_MIN DBL_MAX exp
expm1 expf log fma pow sqrt sin cos floor malloc free printf stdin int64_t int32_t uint64_t
size_t u_int u_char u_short u_long quad_t assert offsetof inf nan""".split()
PYTHON_NAMES = keyword.kwlist + keyword.softkwlist + """print len range abs float int exec
eval object id min max sum np numpy DTYPE RATE_MAX _exprelr _capped_rate""".split()
#: Every name the generated code uses for itself (kernels, element functions, locals).
GENERATED = """n i I G dt steps every count real local k kb p q r2 x h m tmp0 tmp1 cse0 x0
out_I out_p rec_I rec_p rec_u_p alpha_p beta_p inf_p tau_p alpha_u_p u_p u_x dp du_p spike
spike_count I_ext C V_th ionc_phi ionc_phi_u_p ionc_exp0 ionc_wide ionc_bits ionc_pun ionc_t
ionc_r ionc_s ionc_j ionc_i0 ionc_m ionc_b_u_p ionc_g_u_p ionc_window ionc_left ionc_Vn
ionc_I ionc_G ionc_I0 ionc_f_update ionc_f_current ionc_update_kernel ionc_run_kernel
ionc_count_nonfinite ionc_exprelr ionc_exp ionc_expm1 ionc_capped_rate c0_u_p IONC_RESTRICT IONC_FN
IONC_RATE_MAX IONC_MADD IONC_BLOCK IONC_CUDA IONC_WIDE update run current reset_state name
mode dtype target states parameters method size keep_size""".split()
POOL = sorted(set(C_KEYWORDS + CPP_KEYWORDS + CUDA_NAMES + LIBC_AND_MACROS + PYTHON_NAMES
                  + GENERATED) - {"V"})
PLAIN = ["gm", "E", "Vh", "k", "c"]


def _spec(gate1: str, gate2: str, inter: str, params: list[str], name: str) -> ChannelSpec:
    """Two gates (a parameter-slope removable singularity, a Boltzmann), an
    intermediate, and a current that uses every parameter."""
    g1, g2, y = symbol(gate1), symbol(gate2), symbol(inter)
    gm, E, Vh, k, *extra = (symbol(p) for p in params)
    return ChannelSpec(
        name=name,
        parameters={params[0]: 10.0, params[1]: -80.0, params[2]: -55.0, params[3]: 10.0,
                    **{p: 1e-3 * (j + 1) for j, p in enumerate(params[4:])}},
        intermediates={inter: V - Vh},
        gates=(Gate(gate1, power=4, alpha=0.01 * y / (1 - sp.exp(-y / k)),
                    beta=0.125 * sp.exp(-(V + 65) / 80)),
               Gate(gate2, inf=1 / (1 + sp.exp(-y / k)), tau=1 + 4 / (1 + sp.exp(V / 10)))),
        current=gm * g1**4 * g2 * (E - V) + sum(c * V for c in extra))


def _run(spec: ChannelSpec, target: str, dtype="float64"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)      # names hidden from attributes
        cls = type(spec.name, (Channel,), {"spec": spec})
    ch = cls(7, target=target, dtype=dtype)
    vh = ch.parameters[list(spec.parameters)[2]]
    V0 = np.array([-80.0, -60.0, vh, vh + 1e-9, -20.0, 0.0, 30.0])
    ch.reset_state(V0)
    ch.update(V0[::-1].copy(), dt=0.05)
    ch.update(V0, dt=0.05)
    states = [host(ch.states[g.name]) for g in spec.gates]
    return states, host(ch.current(V0)), host(ch.run(np.tile(V0, (3, 1)), dt=0.1)["I"])


def _batches(seed: int, per_batch: int):
    rng = random.Random(seed)
    pool = POOL[:]
    rng.shuffle(pool)
    for start in range(0, len(pool), per_batch):
        names = pool[start:start + per_batch]
        if len(names) < 8:
            names += [f"extra{j}" for j in range(8 - len(names))]
        yield names


@pytest.mark.parametrize("target", ["cpu", "numpy", "cuda-sim"])
def test_every_keyword_and_generated_name_compiles_and_matches_plain_names(target, request):
    if target == "cuda-sim":
        request.getfixturevalue("simulated_gpu")
    runtime_target = "cuda" if target == "cuda-sim" else target
    batches = list(_batches(seed=12, per_batch=125))
    if target == "cuda-sim":     # the host build of CUDA source is slow: 125 of the names
        batches = batches[1:2]
    for b, names in enumerate(batches):
        gate1, gate2, inter, *params = names
        odd = _spec(gate1, gate2, inter, params, f"Odd{b}")
        plain = _spec("n", "h", "y", PLAIN[:4] + [f"c{j}" for j in range(len(params) - 4)],
                      f"Plain{len(params)}")   # one build per length
        got, want = _run(odd, runtime_target), _run(plain, runtime_target)
        for a, w in zip(got[0], want[0]):
            np.testing.assert_allclose(a, w, rtol=1e-13, atol=0)
        np.testing.assert_allclose(got[1], want[1], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(got[2], want[2], rtol=1e-12, atol=1e-12)


def test_the_issue_channel_matches_an_independent_exponential_euler(target):
    """Gate n, gate real, parameters int, steps, beta_n, k: a parameter-slope removable
    singularity (alpha_n) and a parameter-slope Boltzmann (inf of real)."""
    spec = _spec("n", "real", "x", ["int", "steps", "beta_n", "k"], "IssueChannel")
    with warnings.catch_warnings():
        warnings.simplefilter("error")                   # these names hide nothing
        cls = type("IssueChannel", (Channel,), {"spec": spec})
    k = np.array([10.0, 7.0, -9.0, 12.5, 10.0, 3.0])     # a negative slope too
    vh = np.array([-55.0, -40.0, -60.0, -55.0, -30.0, -55.0])
    ch = cls(6, target=target, int=20.0, steps=-77.0, beta_n=vh, k=k)
    V = np.array([-55.0, -40.0, -60.0 + 1e-7, -70.0, -30.0 - 1e-12, 20.0])   # at / near singular
    dt = 0.025

    def rates(V):
        w = (V - vh) / k
        with np.errstate(all="ignore"):
            a = np.where(w == 0, 0.01 * k, 0.01 * k * w / -np.expm1(-w))
        return a, 0.125 * np.exp(-(V + 65) / 80), 1 / (1 + np.exp(-w)), \
            1 + 4 / (1 + np.exp(V / 10))

    a, b, inf, tau = rates(V)
    n, r = a / (a + b), inf.copy()
    ch.reset_state(V)
    np.testing.assert_allclose(host(ch.n), n, rtol=1e-12)
    np.testing.assert_allclose(host(ch.real), r, rtol=1e-12)
    rng = np.random.default_rng(3)
    for step in range(50):
        Vs = V if step % 5 == 0 else rng.uniform(-90, 40, 6)
        a, b, inf, tau = rates(Vs)
        n = a / (a + b) + (n - a / (a + b)) * np.exp(-dt * (a + b))
        r = inf + (r - inf) * np.exp(-dt / tau)
        ch.update(Vs, dt=dt)
    np.testing.assert_allclose(host(ch.n), n, rtol=1e-12)
    np.testing.assert_allclose(host(ch.real), r, rtol=1e-12)
    I = 20.0 * n**4 * r * (-77.0 - V)
    np.testing.assert_allclose(host(ch.current(V)), I, rtol=1e-12)


def test_names_that_would_shadow_the_api_warn_once_and_stay_reachable():
    spec = ChannelSpec("Shadow", {"name": 1.0, "dtype": 2.0, "g": 1.0},
                       (Gate("run", inf=1 / (1 + sp.exp(-V)), tau=sp.Integer(1)),
                        Gate("update", inf=1 / (1 + sp.exp(V)), tau=sp.Integer(2))),
                       current=symbol("g") * symbol("run") * symbol("update") * (symbol("name")
                                                                                   - V))
    with pytest.warns(UserWarning) as record:
        cls = type("Shadow", (Channel,), {"spec": spec})
    assert len(record) == 1
    text = str(record[0].message)
    assert "'run' (reach it as ch.states['run'])" in text and "'update'" in text
    assert "parameters={...}" in text and "'dtype'" in text and "'name'" in text
    ch = cls(3, name="mine", dtype="float32", parameters={"name": 5.0, "dtype": 0.5})
    assert ch.name == "mine" and ch.dtype == np.float32          # the keywords kept their meaning
    assert ch.parameters == {"name": 5.0, "dtype": 0.5, "g": 1.0}
    ch.reset_state(np.zeros(3))
    np.testing.assert_allclose(ch.states["run"], 0.5)
    ch.update(np.zeros(3), dt=0.1)                               # the method, not a state
    assert callable(ch.run) and callable(ch.update)
    with pytest.raises(TypeError, match="given twice"):
        cls(3, parameters={"g": 1.0}, g=2.0)


def test_emitted_source_never_prints_a_user_name_verbatim():
    spec = _spec("int", "double", "return", ["const", "NAN", "errno", "real", "i"], "Raw")
    for target in ("c", "cuda", "numpy"):
        src = render_kernels(spec, target, "float64").source
        for name in ("int", "double", "return", "const", "NAN", "errno", "real", "i"):
            assert f"u_{name}" in src
        assert "real u_i" in src or target == "numpy"
        assert "NAN" not in src.replace("u_NAN", "")                 # no bare user name
    decl = render_kernels(spec, "c", "float64").declarations
    assert "double u_real" in decl and "ionc_run_kernel" in decl   # no text replacement


def test_overflowing_constants_are_a_spec_error_naming_the_expression():
    big = ChannelSpec("Big", {"g": 1.0}, (Gate("m", alpha=sp.Float("1e39") * sp.exp(V / 100),
                                               beta=sp.Integer(1)),),
                      current=symbol("g") * symbol("m") * V)
    render_kernels(big, "c", "float64")                           # fine in double
    with pytest.raises(SpecError, match=r"alpha_m.*1e\+39 overflows float32.*exp\(V/100\)"):
        render_kernels(big, "c", "float32")
    huge = ChannelSpec("Huge", {"inf": 1.0}, (Gate("m", alpha=sp.Integer(10)**400 * V**2,
                                                   beta=sp.Integer(1)),),
                       current=symbol("inf") * symbol("m") * V)
    for target in ("c", "numpy"):
        with pytest.raises(SpecError, match="overflows float64"):
            render_kernels(huge, target, "float64")


def test_the_model_shows_user_names_and_keeps_them_for_the_runtime():
    spec = _spec("n", "real", "x", ["int", "steps", "beta_n", "k"], "Show")
    model = lower_channel(spec)
    shown = str(model.display(model.rates["alpha_n"]))
    assert shown == "k*exprelr(-x/k)/100"
    gen = render_kernels(spec, "c", "float64")
    update = gen.kernels["update"]
    keys = {(p.role, p.key) for p in update.parameters}
    assert {("state", "n"), ("state", "real"), ("parameter", "int"), ("input", "V"),
            ("dt", "dt")} <= keys
    assert update.parameter("parameter", "beta_n").name == "u_beta_n"
