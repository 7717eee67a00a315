"""Measuring on a shared machine: repeated timings with medians, the machine's ceiling, FLOPs, memory and load."""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode


@dataclass
class Timing:
    median_ms: float
    p90_ms: float
    samples: int

    def as_dict(self) -> dict:
        return {"median_ms": round(self.median_ms, 4), "p90_ms": round(self.p90_ms, 4), "samples": self.samples}


def time_call(fn: Callable[[], object], warmup: int = 3, min_samples: int = 10, min_seconds: float = 1.0,
              max_samples: int = 1000, device: torch.device | None = None) -> Timing:
    """Call `fn` `warmup` times, then time it at least `min_samples` times and for at least `min_seconds`.

    On CUDA each call is timed with CUDA events (the GPU's own clock); on the CPU with perf_counter.
    """
    cuda = device is not None and device.type == "cuda"
    for _ in range(warmup):
        fn()
    samples: list[float] = []
    started = time.perf_counter()
    while len(samples) < max_samples and (len(samples) < min_samples or time.perf_counter() - started < min_seconds):
        if cuda:
            begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            begin.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            samples.append(begin.elapsed_time(end))
        else:
            begin = time.perf_counter()
            fn()
            samples.append((time.perf_counter() - begin) * 1000)
    return Timing(float(np.median(samples)), float(np.percentile(samples, 90)), len(samples))


def matmul_ceiling(dtype: torch.dtype, size: int = 2048, device: torch.device | str = "cpu") -> float:
    """GFLOP/s of a large square matrix product: what this machine's BLAS reaches, the roof for dense layers."""
    device = torch.device(device)
    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)
    timing = time_call(lambda: a @ b, warmup=2, min_samples=5, min_seconds=1.0, device=device)
    return 2 * size**3 / (timing.median_ms / 1000) / 1e9


def onnxruntime_matmul_ceiling(size: int = 2048, threads: int | None = None) -> float:
    """GFLOP/s of the same float32 product in ONNX Runtime, whose own kernels (MLAS) can beat torch's BLAS on a
    given CPU (here MKL on an AMD EPYC): the fp32 roof is the faster of the two."""
    import onnxruntime
    from onnx import TensorProto, helper

    inputs = [helper.make_tensor_value_info(name, TensorProto.FLOAT, [size, size]) for name in ("a", "b")]
    output = helper.make_tensor_value_info("c", TensorProto.FLOAT, [size, size])
    graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "matmul", inputs, [output])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    session = onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    feeds = {name: np.random.default_rng(0).standard_normal((size, size), dtype=np.float32) for name in ("a", "b")}
    timing = time_call(lambda: session.run(None, feeds), warmup=2, min_samples=5, min_seconds=1.0)
    return 2 * size**3 / (timing.median_ms / 1000) / 1e9


def flops_per_image(generator: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> float:
    """FLOPs of one generated image (matmuls and convolutions, by torch.utils.flop_counter), from a batch."""
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        generator(*inputs)
    return counter.get_total_flops() / len(inputs[0])


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class LoadMeter:
    """CPU time used by every process on the machine except this one (and its children) while it runs, in cores."""

    def __enter__(self):
        self.start_busy, self.start_own, self.start_wall = self._busy(), self._own(), time.perf_counter()
        self.loadavg_before = os.getloadavg()
        return self

    def __exit__(self, *_) -> None:
        wall = time.perf_counter() - self.start_wall
        others = (self._busy() - self.start_busy) - (self._own() - self.start_own)
        self.other_cores = max(0.0, others / max(wall, 1e-9))
        self.loadavg_after = os.getloadavg()

    @staticmethod
    def _busy() -> float:
        """Seconds of non-idle CPU time on all cores since boot (/proc/stat); 0 where there is no /proc."""
        try:
            with open("/proc/stat") as handle:
                fields = [float(x) for x in handle.readline().split()[1:]]
        except OSError:
            return 0.0
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _own() -> float:
        times = os.times()
        return times.user + times.system + times.children_user + times.children_system

    def as_dict(self) -> dict:
        return {"other_processes_cores": round(self.other_cores, 2),
                "loadavg_before": [round(x, 2) for x in self.loadavg_before],
                "loadavg_after": [round(x, 2) for x in self.loadavg_after]}
