"""Generate BrainPy golden data for INa_Ba2002 (run with the dev extra: brainpy + jax).

    make goldens      # or: python tests/golden/make_goldens.py

Writes ``ina_ba2002_float64.npz`` and ``ina_ba2002_float32.npz`` next to
this file: rates and steady states on a voltage grid through both singular
points, and a voltage-clamp trajectory of 6 neurons with heterogeneous V_sh.
"""
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent


def protocol(dtype):
    V_sh = np.array([-50.0, -50.0, -55.0, -45.5, -63.3, -50.0], dtype)
    levels = np.array([-37.0, -10.0, -42.0, -4.5, -23.3, 20.0], dtype)  # singular points included
    steps = 300
    trace = np.full((steps, V_sh.size), -80.0, dtype)
    trace[20:220] = levels
    trace[220:] = -60.0
    return V_sh, trace


def grid(dtype):
    centers = [-37.0, -10.0]
    offsets = [0.0] + [s * 10.0 ** k for k in range(-12, 1) for s in (-1, 1)]
    pts = [c + d for c in centers for d in offsets] + list(np.linspace(-120, 60, 181))
    return np.unique(np.array(pts, dtype))


def generate(x64: bool):
    import brainpy as bp
    import brainpy.math as bm
    import jax
    jax.config.update("jax_enable_x64", x64)
    dtype = np.float64 if x64 else np.float32
    V = grid(dtype)
    ch = bp.dyn.INa_Ba2002(V.size)
    rates = {name: np.asarray(getattr(ch, name)(bm.asarray(V)), dtype)
             for name in ("f_p_alpha", "f_p_beta", "f_q_alpha", "f_q_beta")}
    ch.reset_state(bm.asarray(V))
    p_inf, q_inf = np.asarray(ch.p.value, dtype), np.asarray(ch.q.value, dtype)

    V_sh, trace = protocol(dtype)
    dt = 0.05
    bm.set_dt(dt)
    ch = bp.dyn.INa_Ba2002(V_sh.size, V_sh=bm.asarray(V_sh), T=30.0)
    ch.reset_state(bm.asarray(trace[0]))
    p, q, I = [], [], []
    for k in range(trace.shape[0]):
        Vk = bm.asarray(trace[k])
        bp.share.save(t=k * dt, dt=dt)
        ch.update(Vk)
        p.append(np.asarray(ch.p.value, dtype))
        q.append(np.asarray(ch.q.value, dtype))
        I.append(np.asarray(ch.current(Vk), dtype))
    out = HERE / f"ina_ba2002_{dtype.__name__}.npz"
    np.savez_compressed(out, V=V, p_inf=p_inf, q_inf=q_inf, V_sh=V_sh, trace=trace, dt=dt,
                        T=30.0, p=np.array(p), q=np.array(q), I=np.array(I),
                        brainpy_version=bp.__version__, **rates)
    print("wrote", out)


#: channel -> (default V_sh, offsets of its singular points from V_sh, trajectory kwargs)
LIBRARY = {
    "IKDR_Ba2002": (-50.0, [15.0], {"T": 30.0}),
    "INa_HH1952": (-45.0, [5.0], {"phi": 1.5}),
    "IK_HH1952": (-45.0, [-10.0], {"phi": 0.7}),
    "INa_TM1991": (-63.0, [13.0, 40.0], {}),
    "IK_TM1991": (-60.0, [15.0], {}),
}


def generate_library(x64: bool):
    """Rates, steady states and a heterogeneous clamp trajectory for more channels."""
    import brainpy as bp
    import brainpy.math as bm
    import jax
    jax.config.update("jax_enable_x64", x64)
    dtype = np.float64 if x64 else np.float32
    data = {}
    offsets = [0.0] + [s * 10.0 ** k for k in range(-12, 1) for s in (-1, 1)]
    for name, (V_sh, singular, kwargs) in LIBRARY.items():
        cls = getattr(bp.dyn, name)
        pts = [V_sh + c + d for c in singular for d in offsets] + list(np.linspace(-120, 60, 91))
        V = np.unique(np.array(pts, dtype))
        ch = cls(V.size)
        data[f"{name}.V"] = V
        for gate in ("p", "q"):
            for role in ("alpha", "beta"):
                fn = getattr(ch, f"f_{gate}_{role}", None)
                if fn is not None:
                    data[f"{name}.f_{gate}_{role}"] = np.asarray(fn(bm.asarray(V)), dtype)
        ch.reset_state(bm.asarray(V))
        gates = [g for g in ("p", "q") if hasattr(ch, g)]
        for g in gates:
            data[f"{name}.{g}_inf"] = np.asarray(getattr(ch, g).value, dtype)
        shifts = np.array([0.0, -5.0, 4.5, -13.3], dtype)
        trace = np.full((150, shifts.size), -80.0, dtype)
        trace[10:110] = V_sh + singular[0] + shifts   # each neuron clamped at its singular point
        trace[110:] = -20.0
        dt = 0.05
        bm.set_dt(dt)
        ch = cls(shifts.size, V_sh=bm.asarray(V_sh + shifts), **kwargs)
        ch.reset_state(bm.asarray(trace[0]))
        rec = {g: [] for g in gates}
        for k in range(trace.shape[0]):
            bp.share.save(t=k * dt, dt=dt)
            ch.update(bm.asarray(trace[k]))
            for g in gates:
                rec[g].append(np.asarray(getattr(ch, g).value, dtype))
        data[f"{name}.trace"] = trace
        data[f"{name}.V_sh"] = (V_sh + shifts).astype(dtype)
        for g in gates:
            data[f"{name}.traj_{g}"] = np.array(rec[g])
    data.update(generate_steady_state_channels(dtype))
    V = np.linspace(-120, 60, 37).astype(dtype)
    g_max = np.linspace(0.05, 0.5, 37).astype(dtype)
    data["IL.V"], data["IL.g_max"] = V, g_max
    data["IL.I"] = np.asarray(bp.dyn.IL(V.size, g_max=bm.asarray(g_max)).current(bm.asarray(V)),
                              dtype)
    out = HERE / f"library_{dtype.__name__}.npz"
    np.savez_compressed(out, dt=0.05, brainpy_version=bp.__version__, **data)
    print("wrote", out)


#: inf/tau channels -> (points the grid must pass through, heterogeneous parameters of
#: the 4-neuron trajectory, the clamp level of each neuron, extra call arguments)
STEADY_STATE = {
    "Ih_HM1992": ([-75.0], {"phi": [1.0, 0.5, 2.0, 1.3], "g_max": [10.0, 5.0, 1.0, 2.5]},
                  [-90.0, -75.0, -60.0, -110.0], ()),
    "IKA1_HM1992": ([-63.0, -68.0, -58.5], {"V_sh": [0.0, -5.0, 4.5, -13.3],
                                           "phi_q": [1.0, 2.0, 0.5, 1.0]},
                    [-63.0, -68.0, -40.0, -76.3], ()),
    "ICaT_HM1992": ([-83.0, -80.0, -85.0, -71.0], {"V_sh": [-3.0, 0.0, -5.0, 9.0],
                                                   "T": [36.0, 30.0, 24.0, 33.0]},
                    [-83.0, -80.0, -60.0, -71.0], (1e-4, 120.0)),
}


def generate_steady_state_channels(dtype):
    """Steady states, time constants, and a clamp trajectory through each piecewise
    boundary (where BrainPy's ``bm.where`` switches), for the inf/tau channels."""
    import brainpy as bp
    import brainpy.math as bm
    data = {}
    offsets = [0.0] + [s * 10.0 ** k for k in range(-12, 1, 3) for s in (-1, 1)]
    for name, (points, params, levels, extra) in STEADY_STATE.items():
        cls = getattr(bp.dyn, name)
        pts = [c + d for c in points for d in offsets] + list(np.linspace(-140, 60, 101))
        V = np.unique(np.array(pts, dtype))
        ch = cls(V.size)
        data[f"{name}.V"] = V
        gates = [g for g in ("p", "q") if hasattr(ch, g)]
        for g in gates:
            for role in ("inf", "tau"):
                data[f"{name}.f_{g}_{role}"] = np.asarray(
                    getattr(ch, f"f_{g}_{role}")(bm.asarray(V)), dtype)
        steps, dt = 200, 0.1
        trace = np.full((steps, len(levels)), -70.0, dtype)
        trace[20:120] = np.array(levels, dtype)
        trace[120:] = -30.0
        bm.set_dt(dt)
        kwargs = {k: bm.asarray(np.array(v, dtype)) for k, v in params.items()}
        ch = cls(len(levels), **kwargs)
        ch.reset_state(bm.asarray(trace[0]), *extra)
        rec = {g: [] for g in gates}
        current = []
        for k in range(steps):
            bp.share.save(t=k * dt, dt=dt)
            Vk = bm.asarray(trace[k])
            ch.update(Vk, *extra)
            for g in gates:
                rec[g].append(np.asarray(getattr(ch, g).value, dtype))
            current.append(np.asarray(ch.current(Vk, *extra), dtype))
        data[f"{name}.trace"] = trace
        data[f"{name}.traj_I"] = np.array(current)
        for k, v in params.items():
            data[f"{name}.param_{k}"] = np.array(v, dtype)
        for g in gates:
            data[f"{name}.traj_{g}"] = np.array(rec[g])
    return data


#: neuron -> constant input current of each neuron (uA/cm^2), for 100 ms at dt = 0.01 ms
NEURONS = {"HH": [0.0, 2.0, 5.0, 6.5, 10.0, 20.0],
           "TC": [0.0, 0.5, 1.0, 3.0, 8.0, -2.0]}
TC_LEAK = [0.05, 0.05, 0.03, 0.05, 0.08, 0.02]


def generate_neurons(x64: bool):
    """Spike steps and V of BrainPy's HH and of a Ba2002 thalamocortical cell
    (CondNeuGroup with INa_Ba2002 + IKDR_Ba2002 + IL), 100 ms at dt = 0.01 ms."""
    import brainpy as bp
    import brainpy.math as bm
    import jax
    jax.config.update("jax_enable_x64", x64)
    dtype = np.float64 if x64 else np.float32
    dt, steps = 0.01, 10000
    bm.set_dt(dt)
    data = {"dt": dt, "steps": steps, "TC.IL_g_max": np.array(TC_LEAK, dtype)}
    for name, currents in NEURONS.items():
        n = len(currents)
        V0 = bp.init.Constant(-65.0)
        if name == "HH":
            neu = bp.dyn.HH(n, V_initializer=V0)
        else:
            neu = bp.dyn.CondNeuGroup(
                n, C=1.0, A=1e-3, V_th=0.0, V_initializer=V0,
                INa=bp.dyn.INa_Ba2002(n), IK=bp.dyn.IKDR_Ba2002(n),
                IL=bp.dyn.IL(n, g_max=bm.asarray(np.array(TC_LEAK, dtype)), E=-70.0))
        x = bm.asarray(np.array(currents, dtype))

        def step(k, neu=neu, x=x, name=name):
            bp.share.save(t=k * dt, dt=dt, i=k)
            spike = neu.update(x)
            if name != "HH":
                neu.clear_input()
            return neu.V.value, spike

        V, spikes = bm.for_loop(step, np.arange(steps), jit=True)
        Vs = np.asarray(V, dtype)[9::10]
        spikes = np.asarray(spikes, bool)
        data[f"{name}.I_ext"] = np.array(currents, dtype)
        data[f"{name}.V_every10"] = Vs
        data[f"{name}.spikes"] = spikes
    out = HERE / f"neurons_{dtype.__name__}.npz"
    np.savez_compressed(out, brainpy_version=bp.__version__, **data)
    print("wrote", out)


if __name__ == "__main__":
    x64 = (sys.argv[1:] == ["float64"]) if sys.argv[1:] else True
    generate(x64)
    generate_library(x64)
    generate_neurons(x64)
