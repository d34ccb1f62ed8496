"""PNG figures: a channel's steady states and time constants, and the demo's clamp family.

matplotlib is optional (``pip install ionc[plot]``); without it these
functions raise :class:`PlotUnavailable` with that instruction.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np


class PlotUnavailable(RuntimeError):
    """matplotlib is not installed."""


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise PlotUnavailable("plots need matplotlib: pip install 'ionc[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def gate_curves(channel_cls, V: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{gate: (steady state, time constant in ms)}`` of a channel class over ``V``.

    Time constants include the temperature factor: ``1/(phi (alpha + beta))``
    or ``tau/phi``, at the default parameters.
    """
    ch = channel_cls(V.size)
    ch.reset_state(V)
    curves = {}
    for gate in ch.spec.gates:
        inf = getattr(ch, gate.name).copy()
        # d(gate)/dt at gate = inf + 1 is -1/tau for a gate linear in itself
        slope = getattr(ch, f"d{gate.name}")(inf + 1.0, 0.0, V) - getattr(ch, f"d{gate.name}")(
            inf, 0.0, V)
        with np.errstate(divide="ignore"):
            curves[gate.name] = (inf, -1.0 / slope)
    return curves


def plot_channel(channel_cls, path: str | Path, V_range=(-120.0, 60.0)) -> Path:
    """Steady states and time constants of every gate against V, written as a PNG."""
    plt = _pyplot()
    V = np.linspace(*V_range, 721)
    curves = gate_curves(channel_cls, V)
    name = channel_cls.spec.name
    fig, (ax_inf, ax_tau) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for gate, (inf, tau) in curves.items():
        ax_inf.plot(V, inf, lw=2, label=f"{gate}$_\\infty$")
        ax_tau.plot(V, tau, lw=2, label=f"$\\tau_{{{gate}}}$")
    ax_inf.set(xlabel="V (mV)", ylabel="steady state", title=f"{name}: steady states")
    ax_tau.set(xlabel="V (mV)", ylabel="ms", title=f"{name}: time constants", yscale="log")
    for ax in (ax_inf, ax_tau):
        ax.grid(alpha=0.3)
        ax.legend()
    return _save(fig, plt, path)


def plot_clamp(times: np.ndarray, currents: np.ndarray, gates: dict[str, np.ndarray],
               levels, title: str, path: str | Path) -> Path:
    """The clamp family: current and each gate against time, one line per step level."""
    plt = _pyplot()
    fig, axes = plt.subplots(1 + len(gates), 1, figsize=(9, 3 + 2.2 * len(gates)),
                             sharex=True, constrained_layout=True)
    colors = plt.cm.viridis(np.linspace(0, 1, len(levels)))
    for k, level in enumerate(levels):
        axes[0].plot(times, currents[:, k], color=colors[k], lw=1.3, label=f"{level:g} mV")
        for ax, values in zip(axes[1:], gates.values()):
            ax.plot(times, values[:, k], color=colors[k], lw=1.3)
    axes[0].set(ylabel="I (uA/cm$^2$)", title=title)
    axes[0].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="step")
    for ax, name in zip(axes[1:], gates):
        ax.set(ylabel=f"gate {name}")
    axes[-1].set(xlabel="t (ms)")
    for ax in axes:
        ax.grid(alpha=0.3)
    return _save(fig, plt, path)


def _save(fig, plt, path) -> Path:
    """Render ``fig`` to PNG bytes, then write them: a failed write (a full disk,
    ``/dev/full``) is an OSError, never a silent truncation.  The folder must exist."""
    import io
    path = Path(path)
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, dpi=110, format="png")
    finally:
        plt.close(fig)
    with open(path, "wb") as f:
        f.write(buffer.getvalue())
    return path
