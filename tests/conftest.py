"""Shared fixtures: a private compilation cache for the whole test session, a
simulated GPU, ``target``: every target a channel runs on (see targets.py), and
JAX's 64-bit mode for a module."""
import os
import sys

import pytest

from targets import TARGETS, fake_cupy


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    if "IONC_CACHE_DIR" not in os.environ:
        os.environ["IONC_CACHE_DIR"] = str(tmp_path_factory.mktemp("ionc-cache"))
    yield


@pytest.fixture
def simulated_gpu(monkeypatch):
    """CuPy replaced by the host stand-in (one device, 2 SMs), fresh for each test."""
    from ionc.build import cuda_module
    fake = fake_cupy()
    monkeypatch.setattr(fake, "DEVICE_COUNT", 1)
    monkeypatch.setattr(fake, "PROPERTIES", dict(fake.PROPERTIES))
    monkeypatch.setattr(fake, "LAUNCHES", [])
    monkeypatch.setitem(sys.modules, "cupy", fake)
    monkeypatch.setattr(cuda_module, "_MODULES", {})
    return fake


@pytest.fixture(params=TARGETS)
def target(request):
    """The target name to pass to a channel; ``cuda-sim`` installs the simulated GPU."""
    if request.param == "cuda-sim":
        request.getfixturevalue("simulated_gpu")
        return "cuda"
    return request.param


@pytest.fixture(scope="module")
def jax_x64():
    """JAX's 64-bit mode for a module's tests (importing another library may have set
    it), restored afterwards."""
    import jax
    before = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", before)
