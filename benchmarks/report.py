"""Turn a pytest-benchmark JSON of the minidl suites into a Markdown report (and a PNG chart).

    python -m benchmarks.report benchmarks/results/run.json                    # Markdown to stdout
    python -m benchmarks.report run.json --output report.md --png report.png
    python -m benchmarks.report run.json rerun.json -o report.md     # merge re-run groups

Per group: the median time of minidl (Numba kernels), of the NumPy reference and of PyTorch,
the ratios minidl/NumPy and minidl/PyTorch (below 1: minidl is faster), and for memory-bound
groups minidl's time as a multiple of the copy probe (or, for linear layers, of the bare BLAS
products). Then thread scaling, start-up, compile time, peak memory, and the project's targets
with the measured value and whether each is met. All ratios are of medians from the same run.

The PNG needs matplotlib; without it the Markdown is still written and the command says so
(exit status 1 when --png was asked for).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from collections import OrderedDict

FAMILY_ORDER = ["batchnorm", "conv2d", "linear", "pooling", "activations", "losses", "optim",
                "end-to-end"]
FAMILY_TITLES = {
    "batchnorm": "BatchNorm", "conv2d": "Conv2d", "linear": "Linear", "pooling": "Pooling",
    "activations": "Activations", "losses": "Softmax + cross-entropy",
    "optim": "Optimizer step", "end-to-end": "End-to-end training step",
}
BOUND_COLUMNS = ("copy", "blas")


# ----- loading --------------------------------------------------------------------------------

def load(path: str) -> dict:
    with open(path) as handle:
        return json.load(handle)


def collect(data) -> "OrderedDict[str, dict]":
    """{group: {"family", "columns": {column: benchmark dict}, "run": index}} in run order.

    `data` is one JSON document or a list of them (a run and re-runs of some groups): a group
    found in several is taken whole (all its columns) from the run where it was least
    disturbed by other processes (see `noise`), so its ratios stay within one run.
    """
    documents = data if isinstance(data, list) else [data]
    groups: OrderedDict = OrderedDict()
    for index, document in enumerate(documents):
        found: OrderedDict = OrderedDict()
        for bench in document.get("benchmarks", []):
            info = bench.get("extra_info", {})
            group = bench.get("group") or bench["name"]
            entry = found.setdefault(group, {"family": info.get("family", "other"),
                                             "columns": {}, "run": index})
            entry["columns"][info.get("column", bench["name"])] = bench
        for group, entry in found.items():
            if group not in groups or noise(entry) < noise(groups[group]):
                groups[group] = entry
    return groups


def noise(entry) -> float:
    """How much other processes disturbed a group: the worst over its columns of the CPU
    pressure during the timing plus the others' CPU share just before."""
    worst = 0.0
    for bench in entry["columns"].values():
        info = bench.get("extra_info", {})
        worst = max(worst, (info.get("cpu_pressure_during") or 0.0)
                    + (info.get("others_busy_before") or 0.0))
    return worst


def median(bench) -> float | None:
    return None if bench is None else bench["stats"]["median"]


def column_median(entry, column) -> float | None:
    return median(entry["columns"].get(column))


# A group is flagged as noisy when, during one of its columns, some task waited for a CPU more
# than this fraction of the time, or other processes kept the CPUs this busy just before.
NOISY_PRESSURE = 0.10
NOISY_BUSY = 0.15


def noisy(entry) -> bool:
    for bench in entry["columns"].values():
        info = bench.get("extra_info", {})
        if (info.get("cpu_pressure_during") or 0) > NOISY_PRESSURE or \
                (info.get("others_busy_before") or 0) > NOISY_BUSY:
            return True
    return False


def group_label(group, entry) -> str:
    label = f"{group} (noisy)" if noisy(entry) else group
    return label + (f" [run {entry['run'] + 1}]" if entry.get("run") else "")


def ratio(a, b) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


# ----- formatting -----------------------------------------------------------------------------

def fmt_time(seconds) -> str:
    if seconds is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)):
        if seconds >= scale or unit == "ns":
            value = seconds / scale
            return f"{value:.3g} {unit}" if value < 100 else f"{value:.0f} {unit}"
    return "-"


def fmt_ratio(value) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}x" if value < 0.1 else f"{value:.2f}x"


def table(headers, rows) -> str:
    lines = ["| " + " | ".join(headers) + " |",
             "|" + "|".join("---" if i == 0 else "---:" for i in range(len(headers))) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


# ----- sections -------------------------------------------------------------------------------

def header_section(documents: list, names: list) -> str:
    data = documents[0]
    info = data.get("machine_info", {}).get("minidl_bench", {})
    versions = info.get("versions", {})
    blas = info.get("numpy_blas", {})
    blas_text = (f"{blas.get('name')} {blas.get('version')}" if isinstance(blas, dict)
                 else str(blas))
    lines = [
        "# minidl benchmark report",
        "",
        f"Run of {data.get('datetime', '?')}; commit "
        f"{data.get('commit_info', {}).get('id', '?')[:10]}"
        f"{' (dirty)' if data.get('commit_info', {}).get('dirty') else ''}.",
        "",
        f"- CPU: {info.get('cpu_model', '?')} ({', '.join(info.get('cpu_flags', []))}), "
        f"{info.get('cpus_available', '?')} CPUs available",
        f"- threads: {info.get('threads', '?')} for every column (minidl/Numba "
        f"{info.get('minidl_threads', '?')}, threading layer "
        f"{info.get('numba_threading_layer', '?')}; PyTorch {info.get('torch_threads', '-')})",
        f"- BLAS: NumPy {blas_text}; PyTorch {info.get('torch_blas', '-')}",
        f"- versions: " + ", ".join(f"{name} {version}" for name, version in versions.items()
                                     if version),
        f"- allocator (all columns): {info.get('allocator', '?')}",
        f"- load average at start: {info.get('loadavg_at_start', '?')}",
        _worktree_line(info.get("worktree")),
        "",
        "Times are medians. Ratios are minidl's time divided by the other column's "
        "(below 1: minidl is faster). `bound` is the copy probe (a parallel copy of an array "
        "as large as the op's input, into a fresh output) for memory-bound ops, or the bare "
        "BLAS products for linear layers. `(noisy)` marks a group during one of whose "
        f"columns tasks waited for a CPU more than {NOISY_PRESSURE:.0%} of the time "
        f"(/proc/pressure/cpu), or other processes used more than {NOISY_BUSY:.0%} of the "
        "CPUs just before (the suite waits for a quiet machine, but only so long).",
    ]
    if len(documents) > 1:
        lines += ["", "Runs: " + "; ".join(f"run {i + 1} = `{name}` ({doc.get('datetime', '?')})"
                                          for i, (name, doc) in enumerate(zip(names, documents)))
                  + ". A group measured in several runs is shown from the run least disturbed "
                  "by other processes, all its columns from that run (marked `[run N]` when "
                  "not run 1)."]
    return "\n".join(lines)


def _worktree_line(worktree) -> str:
    if not worktree:
        return "- code: not recorded"
    uncommitted = worktree.get("uncommitted") or {}
    text = f"- code: HEAD {str(worktree.get('head'))[:10]}"
    if uncommitted:
        text += (f" plus uncommitted changes to {', '.join(sorted(uncommitted))}")
    if worktree.get("changed_during_run"):
        text += " (**the working tree changed during the run**)"
    return text


def family_section(family: str, groups) -> str | None:
    rows = []
    for group, entry in groups.items():
        if entry["family"] != family:
            continue
        minidl = column_median(entry, "minidl")
        numpy_time = column_median(entry, "numpy")
        torch_time = column_median(entry, "torch")
        bound_name = next((name for name in BOUND_COLUMNS if name in entry["columns"]), None)
        bound = column_median(entry, bound_name) if bound_name else None
        rows.append([group_label(group, entry), fmt_time(minidl), fmt_time(numpy_time),
                     fmt_time(torch_time),
                     fmt_ratio(ratio(minidl, numpy_time)), fmt_ratio(ratio(minidl, torch_time)),
                     f"{bound_name} {fmt_time(bound)}" if bound_name else "-",
                     fmt_ratio(ratio(minidl, bound)) if bound_name else "-"])
    if not rows:
        return None
    headers = ["group", "minidl", "NumPy", "PyTorch", "minidl/NumPy", "minidl/PyTorch",
               "bound", "minidl/bound"]
    return f"## {FAMILY_TITLES.get(family, family)}\n\n" + table(headers, rows)


def scaling_section(groups) -> str | None:
    runs = {}
    for entry in groups.values():
        if entry["family"] != "scaling":
            continue
        for column, bench in entry["columns"].items():
            info = bench["extra_info"]
            runs.setdefault(info["op"], {}).setdefault(info["scaling_threads"], {})[column] = \
                median(bench)
    if not runs:
        return None
    rows = []
    for op, by_threads in runs.items():
        one = by_threads.get(1, {})
        for threads in sorted(by_threads):
            times = by_threads[threads]
            minidl, torch_time = times.get("minidl"), times.get("torch")
            rows.append([op, threads, fmt_time(minidl), fmt_time(torch_time),
                         fmt_ratio(ratio(one.get("minidl"), minidl)),
                         fmt_ratio(ratio(one.get("torch"), torch_time)),
                         fmt_ratio(ratio(minidl, torch_time))])
    return "## Thread scaling\n\n" + table(
        ["op", "threads", "minidl", "PyTorch", "minidl speed-up vs 1 thread",
         "PyTorch speed-up vs 1 thread", "minidl/PyTorch"], rows)


def startup_section(groups) -> str | None:
    for group, entry in groups.items():
        if entry["family"] != "startup":
            continue
        minidl = column_median(entry, "minidl")
        torch_time = column_median(entry, "torch")
        numpy_time = column_median(entry, "numpy")
        rounds = entry["columns"].get("minidl", {}).get("stats", {}).get("rounds", "?")
        return (f"## Start-up\n\n{group}; wall time of the subprocess, median of {rounds} "
                f"rounds, minidl with a warm kernel cache.\n\n" + table(
                    ["minidl", "minidl (NumPy kernels)", "PyTorch", "minidl/PyTorch"],
                    [[fmt_time(minidl), fmt_time(numpy_time), fmt_time(torch_time),
                      fmt_ratio(ratio(minidl, torch_time))]]))
    return None


def compile_section(groups) -> str | None:
    rows = []
    for entry in groups.values():
        if entry["family"] != "compile":
            continue
        for column in ("cold", "warm"):
            bench = entry["columns"].get(column)
            if bench is None:
                continue
            info = bench["extra_info"]
            cases = ", ".join(f"{key[:-2]} {info[key]:.2f} s" for key in info
                              if key.endswith("_s") and key not in
                              ("import_s", "kernels_s", "total_s"))
            rows.append([column, fmt_time(median(bench)), fmt_time(info.get("import_s")),
                         fmt_time(info.get("kernels_s")), cases])
    if not rows:
        return None
    return ("## Compile time\n\nA fresh process imports minidl and takes one training step and "
            "one eval forward of each end-to-end case: `cold` with an empty NUMBA_CACHE_DIR "
            "(every kernel compiles), `warm` with that cache filled (kernels load).\n\n"
            + table(["cache", "process wall time", "import", "first steps (all cases)",
                     "per case"], rows))


def memory_section(groups) -> str | None:
    rows = []
    for group, entry in groups.items():
        if entry["family"] != "memory":
            continue
        info = {column: bench["extra_info"] for column, bench in entry["columns"].items()}
        m, t = info.get("minidl", {}), info.get("torch", {})

        def mb(values, key):
            return f"{values[key]:.0f} MB" if key in values else "-"
        rows.append([group.removeprefix("memory "), mb(m, "peak_rss_mb"), mb(t, "peak_rss_mb"),
                     fmt_ratio(ratio(m.get("peak_rss_mb"), t.get("peak_rss_mb"))),
                     mb(m, "rss_after_import_mb"), mb(t, "rss_after_import_mb"),
                     mb(m, "train_peak_increase_mb"), mb(t, "train_peak_increase_mb")])
    if not rows:
        return None
    steps = next((bench["extra_info"].get("steps") for entry in groups.values()
                  if entry["family"] == "memory" for bench in entry["columns"].values()), "?")
    return (f"## Peak memory of a training run\n\n{steps} training steps in a fresh process per "
            "framework; peak RSS is the process's VmHWM, `after import` its RSS once the "
            "framework is imported, `training` the peak minus that.\n\n"
            + table(["case", "minidl peak", "PyTorch peak", "minidl/PyTorch",
                     "minidl after import", "PyTorch after import", "minidl training",
                     "PyTorch training"], rows))


# ----- targets --------------------------------------------------------------------------------

def _targets():
    """(description, group, numerator column, denominator column, comparison, threshold,
    how to show the value). 'le': numerator/denominator <= threshold; 'ge': denominator /
    numerator >= threshold (a speed-up)."""
    targets = []
    for shape in ("(64,64,32,32)", "(128,256,14,14)"):
        group = f"batchnorm2d fwd+bwd {shape}"
        targets.append((f"BN2d train fwd+bwd {shape} <= 0.35x PyTorch", group, "minidl",
                        "torch", "le", 0.35))
        targets.append((f"BN2d train fwd+bwd {shape} >= 8x faster than NumPy", group, "minidl",
                        "numpy", "ge", 8.0))
    for shape in ("(64,64,32,32)", "(128,256,14,14)", "(256,32,28,28)"):
        targets.append((f"BN2d train forward {shape} within 2x of the copy",
                        f"batchnorm2d train-fwd {shape}", "minidl", "copy", "le", 2.0))
    for shape in ("(64,64,32,32)", "(128,256,14,14)", "(256,32,28,28)"):
        targets.append((f"BN+ReLU fwd+bwd {shape} <= 0.3x PyTorch BN then ReLU",
                        f"batchnorm2d bn+relu fwd+bwd {shape}", "minidl", "torch", "le", 0.3))
    for conv in ("(64,32,16,16)->64 k3 s1 p1", "(64,3,32,32)->32 k3 s1 p1"):
        targets.append((f"Conv2d fwd+bwd {conv} <= 1.2x PyTorch", f"conv2d fwd+bwd {conv}",
                        "minidl", "torch", "le", 1.2))
        targets.append((f"Conv2d forward {conv} >= 10x faster than NumPy", f"conv2d fwd {conv}",
                        "minidl", "numpy", "ge", 10.0))
    for layer in ("(60,784)->100", "(60,100)->100", "(60,100)->10", "(64,1568)->10",
                  "(512,1024)->1024"):
        targets.append((f"Linear fwd+bwd {layer} within 1.2x of its BLAS products",
                        f"linear fwd+bwd {layer}", "minidl", "blas", "le", 1.2))
    for case, title, limit in (
            ("mlp", "(a) MLP 784-100-100-100-10 sigmoid, batch 60", 0.6),
            ("mlp-bn", "(a) MLP 784-100-100-100-10 BN+sigmoid, batch 60", 0.6),
            ("cnn-bn", "(b) CNN conv-BN-ReLU-pool x2 + linear, 1x28x28, batch 64", 1.2),
            ("resnet", "(c) ResNet basic blocks 16-16-32, 3x32x32, batch 64", 1.2)):
        targets.append((f"End-to-end step {case} <= {limit}x PyTorch",
                        f"end-to-end step {title}", "minidl", "torch", "le", limit))
    targets.append(("Start-up (import, build (a), one step) <= 0.6x PyTorch", "startup:",
                    "minidl", "torch", "le", 0.6))
    return targets


def _find_group(groups, name):
    if name in groups:
        return groups[name]
    matches = [entry for group, entry in groups.items() if group.startswith(name)]
    return matches[0] if matches else None


def interleaved_ratio(entry, numerator, denominator) -> tuple[float | None, int | None]:
    """time(numerator)/time(denominator) from the interleaved re-measurement, if any."""
    bench = entry["columns"].get(numerator) if entry else None
    info = (bench or {}).get("extra_info", {}).get("interleaved")
    if not info:
        return None, None
    return info["ratio"].get(f"{numerator}/{denominator}"), info.get("rounds")


def evaluate_targets(groups) -> list[dict]:
    """Each target on the pytest-benchmark medians and, where measured, on the interleaved
    re-measurement: met if both meet it, missed if both miss it, borderline otherwise."""
    results = []
    for description, group, numerator, denominator, comparison, threshold in _targets():
        entry = _find_group(groups, group)
        a = column_median(entry, numerator) if entry else None
        b = column_median(entry, denominator) if entry else None
        if a is None or b is None:
            results.append({"target": description, "value": None, "met": None,
                            "interleaved": None, "detail": "not measured"})
            continue
        mixed, rounds = interleaved_ratio(entry, numerator, denominator)
        if comparison == "le":
            value = a / b
            verdicts = [value <= threshold]
            shown = f"{value:.2f}x ({fmt_time(a)} vs {fmt_time(b)})"
            if mixed is not None:
                verdicts.append(mixed <= threshold)
                shown += f"; interleaved {mixed:.2f}x ({rounds} rounds)"
        else:
            value = b / a
            verdicts = [value >= threshold]
            shown = f"{value:.1f}x faster ({fmt_time(b)} vs {fmt_time(a)})"
            if mixed is not None:
                verdicts.append(1 / mixed >= threshold)
                shown += f"; interleaved {1 / mixed:.1f}x ({rounds} rounds)"
        if noisy(entry):
            shown += " (noisy)"
        met = True if all(verdicts) else False if not any(verdicts) else "borderline"
        results.append({"target": description, "value": value, "met": met,
                        "interleaved": mixed, "detail": shown})
    cold = None
    for entry in groups.values():
        if entry["family"] == "compile" and "cold" in entry["columns"]:
            cold = entry["columns"]["cold"]["extra_info"].get("kernels_s")
    results.append({"target": "Cold compile of every kernel of the end-to-end cases < 60 s",
                    "value": cold, "met": None if cold is None else cold < 60,
                    "detail": "not measured" if cold is None else f"{cold:.1f} s"})
    return results


def targets_section(groups) -> str:
    rows = []
    for result in evaluate_targets(groups):
        verdict = {True: "met", False: "**missed**", None: "n/a",
                   "borderline": "borderline"}[result["met"]]
        rows.append([result["target"], result["detail"], verdict])
    return ("## Targets (ratios of medians in this run)\n\nFirst the ratio of the "
            "pytest-benchmark medians (the columns measured one after another), then, where "
            "measured, the median ratio of an interleaved re-measurement (the columns of the "
            "group alternating round by round, so that load from other processes hits them "
            "alike). Verdict: met if both meet the target, missed if both miss it, "
            "borderline if they disagree.\n\n" + table(["target", "measured", "verdict"], rows))


def markdown(documents: list, names: list | None = None) -> str:
    names = names or [f"file {i + 1}" for i in range(len(documents))]
    groups = collect(documents)
    sections = [header_section(documents, names), targets_section(groups)]
    for family in FAMILY_ORDER:
        section = family_section(family, groups)
        if section:
            sections.append(section)
    for maker in (scaling_section, startup_section, compile_section, memory_section):
        section = maker(groups)
        if section:
            sections.append(section)
    return "\n\n".join(sections) + "\n"


# ----- chart ----------------------------------------------------------------------------------

def bar_chart(documents: list, path: str) -> None:
    """Horizontal bars per group: minidl/PyTorch and minidl/NumPy time ratios (log scale)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = documents[0]
    groups = collect(documents)
    labels, versus_torch, versus_numpy = [], [], []
    for family in FAMILY_ORDER:
        for group, entry in groups.items():
            if entry["family"] != family:
                continue
            minidl = column_median(entry, "minidl")
            labels.append(group)
            versus_torch.append(ratio(minidl, column_median(entry, "torch")))
            versus_numpy.append(ratio(minidl, column_median(entry, "numpy")))
    if not labels:
        raise ValueError("no group with a minidl column in this file")
    height = max(4.0, 0.19 * len(labels) + 1.5)
    figure, axes = plt.subplots(1, 2, figsize=(15, height), sharey=True)
    positions = list(range(len(labels)))
    for axis, values, title in ((axes[0], versus_torch, "minidl time / PyTorch time"),
                                (axes[1], versus_numpy, "minidl time / NumPy reference time")):
        shown = [v if v is not None else math.nan for v in values]
        colours = ["#2a9d4b" if (v is not None and v <= 1) else "#c8423b" for v in values]
        axis.barh(positions, shown, color=colours, height=0.7)
        axis.axvline(1.0, color="black", linewidth=0.8)
        axis.set_xscale("log")
        axis.set_title(title + " (log scale; < 1: minidl faster)", fontsize=10)
        axis.grid(axis="x", which="both", alpha=0.3)
    axes[0].set_yticks(positions)
    axes[0].set_yticklabels(labels, fontsize=6.5)
    axes[0].invert_yaxis()
    info = data.get("machine_info", {}).get("minidl_bench", {})
    figure.suptitle(f"minidl benchmarks: {info.get('cpu_model', '?')}, "
                    f"{info.get('threads', '?')} threads, medians", fontsize=11)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("json", nargs="+", help="a file written by pytest --benchmark-json; "
                        "more files (re-runs of some groups) are merged group by group")
    parser.add_argument("--output", "-o", help="write the Markdown here (default: stdout)")
    parser.add_argument("--png", help="also draw a bar chart of the ratios (needs matplotlib)")
    args = parser.parse_args(argv)
    documents = [load(path) for path in args.json]
    text = markdown(documents, args.json)
    if args.output:
        with open(args.output, "w") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)
    if args.png:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print("report: matplotlib is not installed, so no PNG was drawn "
                  "(pip install matplotlib, or minidl's `plot` extra); the Markdown is complete",
                  file=sys.stderr)
            return 1
        bar_chart(documents, args.png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
