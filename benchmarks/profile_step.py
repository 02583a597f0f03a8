"""Where the time of an end-to-end training step goes, in minidl and in PyTorch.

    python -m benchmarks.profile_step resnet            # or mlp, mlp-bn, cnn-bn
    python -m benchmarks.profile_step resnet --steps 30 --no-torch

minidl: every kernel of the registry is wrapped with a timer (forward and backward kernels,
optimizer), and every leaf module's forward with another; the rest of the step is the
framework's Python (graph, checks, allocation of small arrays, Tensor arithmetic).
PyTorch: torch.profiler's self CPU time per operator, and the same leaf-module forward timers
(forward hooks). Same case, weights, batch, threads and allocator as bench_end_to_end.py.
"""
from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict

from . import _env

_env.configure_allocator()


def _leaf_modules(model):
    return [(name, module) for name, module in model.named_modules()
            if name and not list(module.children())]


def _fmt_us(seconds: float) -> str:
    return f"{seconds * 1e6:9.0f} us"


def profile_minidl(case: str, steps: int, threads: int) -> str:
    import minidl
    from minidl import kernels

    from . import _models
    minidl.set_num_threads(threads)
    step, model = _models.minidl_step(case, "numba", _models.initial_state(case))
    for _ in range(3):  # compile / load kernels, fault pages in
        step()
    plain = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        plain.append(time.perf_counter() - start)

    kernel_time, kernel_calls = defaultdict(float), defaultdict(int)
    originals = {name: entry["numba"] for name, entry in kernels.REGISTRY.items()}

    def timed(name, function):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                kernel_time[name] += time.perf_counter() - start
                kernel_calls[name] += 1
        return wrapper

    module_time = defaultdict(float)
    leaves = _leaf_modules(model)
    for name, module in leaves:
        forward = module.forward

        def timed_forward(*args, _forward=forward, _name=name, **kwargs):
            start = time.perf_counter()
            try:
                return _forward(*args, **kwargs)
            finally:
                module_time[_name] += time.perf_counter() - start
        object.__setattr__(module, "forward", timed_forward)
    for name, function in originals.items():
        kernels.REGISTRY[name]["numba"] = timed(name, function)
    try:
        instrumented = []
        for _ in range(steps):
            start = time.perf_counter()
            step()
            instrumented.append(time.perf_counter() - start)
    finally:
        for name, function in originals.items():
            kernels.REGISTRY[name]["numba"] = function
        for name, module in leaves:
            object.__delattr__(module, "forward")

    step_time = statistics.median(plain)
    instrumented_time = sum(instrumented) / steps
    in_kernels = sum(kernel_time.values()) / steps
    lines = [f"minidl {case}: step {step_time * 1e3:.2f} ms (median of {steps}, {threads} "
             f"threads); instrumented mean {instrumented_time * 1e3:.2f} ms, of which kernels "
             f"{in_kernels * 1e3:.2f} ms ({in_kernels / instrumented_time:.0%}) and the rest "
             f"(Python: graph, checks, Tensor ops, small arrays) "
             f"{(instrumented_time - in_kernels) * 1e3:.2f} ms",
             "  kernels (per step):"]
    for name in sorted(kernel_time, key=kernel_time.get, reverse=True):
        per_step = kernel_time[name] / steps
        lines.append(f"    {name:32s} {kernel_calls[name] // steps:3d} calls {_fmt_us(per_step)}"
                     f"  {per_step / instrumented_time:5.1%}")
    lines.append("  leaf-module forwards (per step, kernels included):")
    for name, _ in leaves:
        lines.append(f"    {name:32s} {_fmt_us(module_time[name] / steps)}")
    return "\n".join(lines)


def profile_torch(case: str, steps: int, threads: int) -> str:
    import torch

    from . import _models
    torch.set_num_threads(threads)
    step, model = _models.torch_step(case, _models.initial_state(case))
    for _ in range(3):
        step()
    plain = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        plain.append(time.perf_counter() - start)
    module_time, starts = defaultdict(float), {}
    handles = []
    for name, module in _leaf_modules(model):
        handles.append(module.register_forward_pre_hook(
            lambda m, i, _name=name: starts.__setitem__(_name, time.perf_counter())))
        handles.append(module.register_forward_hook(
            lambda m, i, o, _name=name: module_time.__setitem__(
                _name, module_time[_name] + time.perf_counter() - starts[_name])))
    for _ in range(steps):
        step()
    for handle in handles:
        handle.remove()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profiler:
        for _ in range(steps):
            step()
    averages = sorted(profiler.key_averages(), key=lambda e: e.self_cpu_time_total,
                      reverse=True)
    step_time = statistics.median(plain)
    lines = [f"torch {case}: step {step_time * 1e3:.2f} ms (median of {steps}, {threads} "
             f"threads)", "  operators by self CPU time (per step, profiler on):"]
    for event in averages[:14]:
        lines.append(f"    {event.key[:40]:40s} {event.count // steps:3d} calls "
                     f"{_fmt_us(event.self_cpu_time_total / 1e6 / steps)}")
    lines.append("  leaf-module forwards (per step):")
    for name, _ in _leaf_modules(model):
        lines.append(f"    {name:32s} {_fmt_us(module_time[name] / steps)}")
    return "\n".join(lines)


def main(argv=None) -> None:
    from . import _models
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_step",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("case", choices=_models.CASES)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=_env.bench_threads())
    parser.add_argument("--no-torch", action="store_true", help="profile minidl only")
    args = parser.parse_args(argv)
    print(profile_minidl(args.case, args.steps, args.threads))
    if not args.no_torch:
        try:
            import torch  # noqa: F401
        except ImportError:
            print("torch is not installed: no PyTorch profile")
            return
        print(profile_torch(args.case, args.steps, args.threads))


if __name__ == "__main__":
    main()
