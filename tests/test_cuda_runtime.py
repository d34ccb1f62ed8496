"""The CUDA target's runtime: device arrays in and out, launch configuration from the
device, clear errors without CuPy or a GPU, moves between host and device.  Runs on
the simulated GPU (tests/cuda/fake_cupy.py) in CI and on a real one where present."""
import sys

import numpy as np
import pytest

import ionc
from ionc import INa_Ba2002
from ionc.build import CudaUnavailableError, cuda_module
from targets import GPU, host


def _channel(n=10, **kw):
    ch = INa_Ba2002(n, target="cuda", **kw)
    ch.reset_state(np.linspace(-80, 0, n))
    return ch


def _cpu_twin(n=10, **kw):
    ch = INa_Ba2002(n, target="cpu", **kw)
    ch.reset_state(np.linspace(-80, 0, n))
    return ch


def _launch_args(gpu, kernel_suffix):
    return [args for name, _, _, args in gpu.LAUNCHES if name.endswith(kernel_suffix)][-1]


def test_missing_cupy_is_a_clear_error_and_auto_falls_back_to_the_cpu(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)        # import cupy -> ImportError
    with pytest.raises(CudaUnavailableError, match=r"needs CuPy.*ionc\[cuda\]"):
        INa_Ba2002(3, target="cuda")
    ch = INa_Ba2002(3, target="auto")
    assert ch.target == "cpu" and isinstance(ch.p, np.ndarray)
    with pytest.raises(CudaUnavailableError, match="needs CuPy"):
        INa_Ba2002(3).to("cuda")


def test_missing_gpu_is_a_clear_error_and_auto_falls_back(simulated_gpu, monkeypatch):
    monkeypatch.setattr(simulated_gpu, "DEVICE_COUNT", 0)
    with pytest.raises(CudaUnavailableError, match="no CUDA GPU is usable"):
        INa_Ba2002(3, target="cuda")
    assert INa_Ba2002(3, target="auto").target == "cpu"


def test_auto_picks_the_gpu_and_states_live_there(simulated_gpu):
    ch = INa_Ba2002(10, target="auto")
    assert ch.target == "cuda"
    ch.reset_state(-65.0)
    V = np.linspace(-60, 20, 10)
    ch.update(V)
    for value in (ch.p, ch.q, ch.current(V), ch.f_p_alpha(V), ch.dp(ch.p, 0.0, V),
                  *ch.run(np.tile(V, (4, 1))).values(), *ch.state_dict().values()):
        assert isinstance(value, simulated_gpu.ndarray) and value.device.id == 0


def test_device_arrays_are_used_in_place_and_host_arrays_copied(simulated_gpu):
    gpu = simulated_gpu
    V = np.linspace(-60, 20, 10)
    ref = _channel()
    ref.update(gpu.asarray(V))
    ref = host(ref.p)

    class Foreign:                       # another library's GPU array, seen through CAI
        def __init__(self, a):
            self.a, self.__cuda_array_interface__ = a, a.__cuda_array_interface__

    class ForeignDLPack:                 # ... or through DLPack only
        def __init__(self, a):
            self.a = a

        def __dlpack__(self, **kw):
            return self.a.__dlpack__(**kw)

        def __dlpack_device__(self):
            return self.a.__dlpack_device__()

    d = gpu.asarray(V)
    address = d.__cuda_array_interface__["data"][0]
    for given, in_place in [(d, True), (Foreign(d), True), (ForeignDLPack(d), True),
                            (V, False), (list(V), False)]:
        ch = _channel()
        ch.update(given)
        names = list(ch._generated.kernels["update"].names)
        passed = _launch_args(gpu, "update_kernel")[names.index("V")]
        assert (passed.__cuda_array_interface__["data"][0] == address) == in_place, given
        np.testing.assert_array_equal(host(ch.p), ref)
    ch = _channel()
    ch.update(gpu.asarray(V.astype(np.float32)))           # converted on the device
    np.testing.assert_allclose(host(ch.p), ref, rtol=1e-6)


def test_bad_device_input_is_refused_and_states_kept(simulated_gpu, monkeypatch):
    gpu = simulated_gpu
    monkeypatch.setattr(gpu, "DEVICE_COUNT", 2)
    ch = _channel()
    before = {g: a.get() for g, a in ch.state_dict().items()}
    V = np.full(10, -30.0)
    V[4] = np.nan
    bad = [(gpu.ndarray(np.zeros(10), device_id=1), ValueError, "GPU 1.*GPU 0"),
           (gpu.asarray(V), ValueError, "1 non-finite"),
           (gpu.zeros(9), ValueError, r"shape \(9,\)"),
           (gpu.asarray(np.zeros(10, complex)), TypeError, "real numbers")]
    for value, error, match in bad:
        with pytest.raises(error, match=match):
            ch.update(value)
        for g, a in before.items():
            np.testing.assert_array_equal(host(getattr(ch, g)), a)
    with pytest.raises(ValueError, match="CuPy on GPU 0"):
        ch.current(np.zeros(10), out=np.empty(10))


def test_launch_configuration_follows_the_device(simulated_gpu, monkeypatch):
    gpu = simulated_gpu
    gpu.PROPERTIES.update(multiProcessorCount=3, maxThreadsPerMultiProcessor=1024)
    n = 6000
    V = np.random.default_rng(2).uniform(-90, 40, n)
    ch, ref = _channel(n), _cpu_twin(n)
    ch.update(V)
    ref.update(V)
    name, grid, block, _ = gpu.LAUNCHES[-1]
    # 3 SMs x (1024 // 256) blocks resident; the grid-stride loop covers the rest
    assert name.endswith("update_kernel") and grid == (12,) and block == (256,)
    np.testing.assert_allclose(host(ch.p), ref.p, rtol=0, atol=8 * np.finfo(float).eps)
    _channel(100).update(V[:100])
    assert gpu.LAUNCHES[-1][1:3] == ((1,), (256,))
    # a kernel whose registers allow fewer threads per block gets them
    monkeypatch.setattr(gpu.RawKernel, "max_threads_per_block", 100)
    monkeypatch.setattr(cuda_module, "_MODULES", {})
    small = _channel(n)
    small.update(V)
    assert gpu.LAUNCHES[-1][1:3] == ((30,), (96,))            # whole warps; 3 x (1024 // 96)
    np.testing.assert_array_equal(host(small.p), host(ch.p))   # same values, any grid


def test_modules_are_compiled_once_per_source_and_device(simulated_gpu):
    a, b = _channel(), _channel()
    c = _channel(dtype="float32")
    assert a._kernels.module is b._kernels.module
    assert c._kernels.module is not a._kernels.module
    assert len(cuda_module._MODULES) == 2
    assert "RawModule" in a.build_info and "sm_90" in a.build_info


def test_states_move_between_host_and_device_exactly(simulated_gpu):
    V = np.linspace(-60, 20, 10)
    ch = _cpu_twin()
    ch.update(V)
    p = ch.p.copy()
    assert ch.cuda() is ch and ch.target == "cuda"
    np.testing.assert_array_equal(host(ch.p), p)
    ch.update(V)
    ref = _cpu_twin()
    ref.update(V)
    ref.update(V)
    np.testing.assert_array_equal(host(ch.p), ref.p)
    ch.to("cpu")
    assert ch.target == "cpu" and isinstance(ch.p, np.ndarray)
    np.testing.assert_array_equal(ch.p, ref.p)
    with pytest.raises(ValueError, match="use 'cpu' or 'cuda'"):
        ch.to("tpu")


def test_source_accessor_gives_the_cuda_text(simulated_gpu):
    ch = _channel(dtype="float32", V_sh=np.full(10, -50.0))
    cu = ch.source()
    assert cu == ch.source("cuda") and "__global__" in cu and "blockIdx.x" in cu
    assert "typedef float real;" in cu and "const real *IONC_RESTRICT u_V_sh" in cu
    assert "__global__" not in ch.source("cpu")
    assert "const real *IONC_RESTRICT V_sh" not in ionc.emit("INa_Ba2002", "cuda", "float32")


def test_files_and_state_dicts_cross_devices(simulated_gpu, tmp_path):
    ch = _channel()
    ch.update(np.linspace(-60, 20, 10))
    ch.save_states(str(tmp_path / "s.npz"))
    cpu = _cpu_twin()
    cpu.load_states(str(tmp_path / "s.npz"))
    np.testing.assert_array_equal(cpu.p, host(ch.p))
    back = _channel()
    back.load_state_dict(cpu.state_dict())               # host arrays into device states
    np.testing.assert_array_equal(host(back.q), cpu.q)


def test_the_simulated_gpu_catches_wrongly_typed_kernel_arguments(simulated_gpu):
    # what the stand-in promises: a scalar whose width differs from the parameter's
    # would be misread on a real GPU, so the launch fails here
    ch = _channel(dtype="float32")
    kernel = ch._kernels.module.kernels[ch._generated.kernels["update"].name]
    good = _launch_args(simulated_gpu, "steady_state_kernel")
    V, p, q = simulated_gpu.zeros(10, np.float32), ch.p, ch.q
    args = (np.int64(10), np.float32(0.1), np.float32(36), np.float32(50), np.float32(90),
            np.float32(-50), V, p, q)
    assert len(good) == 8
    kernel((1,), (32,), args)
    with pytest.raises(TypeError, match="misread"):
        kernel((1,), (32,), (args[0], 0.1, *args[2:]))          # a Python float: 8 bytes
    with pytest.raises(TypeError, match="float"):
        kernel((1,), (32,), (*args[:6], simulated_gpu.zeros(10), p, q))   # float64 array


@pytest.mark.parametrize("target", [GPU])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_real_gpu_matches_the_cpu_target(target, dtype):
    n = 100_000
    rng = np.random.default_rng(9)
    V_sh = rng.uniform(-60, -40, n)
    trace = rng.uniform(-90, 40, (20, n)).astype(dtype)
    a = INa_Ba2002(n, V_sh=V_sh, dtype=dtype, target="cuda")
    b = INa_Ba2002(n, V_sh=V_sh, dtype=dtype, target="cpu")
    out_a, out_b = a.run(trace, dt=0.05), b.run(trace, dt=0.05)
    eps = np.finfo(dtype).eps
    for k in out_a:
        np.testing.assert_allclose(host(out_a[k]), out_b[k], rtol=64 * eps, atol=64 * eps,
                                   err_msg=k)


def test_cuda_benchmark_script_runs_end_to_end(simulated_gpu, monkeypatch, capsys):
    # the script's plumbing only (on the simulated GPU its timings mean nothing)
    from pathlib import Path
    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "benchmarks"))
    import bench_cuda
    assert bench_cuda.main(["--sizes", "1e3", "--repeats", "1"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines()
            if line.startswith(("| float64", "| float32"))]
    assert len(rows) == 2
    for row in rows:
        cells = [c.split()[0] for c in row.strip("|").split("|")[2:]]
        assert all(float(c) >= 0 for c in cells) and float(cells[0]) > 0, row


def test_a_failed_move_leaves_the_channel_on_its_target(simulated_gpu, monkeypatch):
    ch = _cpu_twin()
    p = ch.p.copy()

    def broken(*args, **kwargs):
        raise simulated_gpu.CompileException("ionc.cu(1): error: simulated")
    monkeypatch.setattr(simulated_gpu, "RawModule", broken)
    with pytest.raises(simulated_gpu.CompileException, match="simulated"):
        ch.to("cuda")
    assert ch.target == "cpu" and isinstance(ch.p, np.ndarray)
    np.testing.assert_array_equal(ch.p, p)
    ch.update(np.zeros(10))


def test_demo_runs_on_the_gpu_and_writes_the_cuda_source(simulated_gpu, tmp_path, capsys):
    from ionc.cli import main
    assert main(["demo", "--neurons", "26", "--target", "cuda", "--out", str(tmp_path),
                 "--no-plot"]) == 0
    out = capsys.readouterr().out
    assert "target='cuda'" in out and "RawModule" in out and "NaN or Inf anywhere: False" in out
    assert "__global__" in (tmp_path / "INa_Ba2002_float64.cu").read_text()
    assert main(["demo", "--neurons", "26", "--out", str(tmp_path), "--no-plot"]) == 0
    cpu_rows = [line for line in capsys.readouterr().out.splitlines() if "   -10.0 " in line]
    gpu_rows = [line for line in out.splitlines() if "   -10.0 " in line]
    assert gpu_rows and gpu_rows == cpu_rows          # same peak currents to 4 decimals


def test_cli_reports_a_missing_gpu_in_one_line(simulated_gpu, monkeypatch, capsys):
    from ionc.cli import main
    monkeypatch.setattr(simulated_gpu, "DEVICE_COUNT", 0)
    assert main(["demo", "--neurons", "26", "--target", "cuda", "--no-plot"]) == 2
    assert "ionc: error: CuPy is installed but no CUDA GPU is usable" in capsys.readouterr().err
