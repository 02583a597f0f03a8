"""The `minidl` command (also `python -m minidl`).

    minidl train                      # the small BN CNN on the bundled MNIST sample, ~97.5%
    minidl train --model mlp-bn --epochs 10 --output-dir runs/mlp
    minidl evaluate runs/mlp/checkpoint.safetensors
    minidl info                       # versions, threads, kernel set, kernel cache

`minidl train` prints one line per epoch (a progress bar on a terminal with tqdm installed)
and ends with the test accuracy on a line of its own. With --output-dir it writes there:
    history.csv              one row per epoch (History.to_csv)
    curves.png               loss and accuracy curves (needs matplotlib: pip install minidl[plot])
    checkpoint.safetensors   the final training state: model, optimizer, scheduler, settings
    summary.json             test accuracy, wall time, epochs, settings, versions

Usage mistakes exit with status 2, unreadable data or checkpoints and diverged training (a NaN
or infinite loss, or a loss that exploded: see `fit`'s explosion_factor; such a run stops after
that epoch, and still writes its outputs) with status 1; each with one line on stderr. A run
that ends at chance accuracy exits 0 with a warning line on stderr.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import sys
import time
import warnings

import numba
import numpy as np
import scipy

from . import __version__, models
from ._files import write_atomically
from .backend import current_kernels, use_kernels
from .threads import show_config
from .data import MNIST, DataLoader, FashionMNIST, transforms
from .nn import CrossEntropyLoss
from .optim import SGD, Adagrad, Adam, AdamW
from .optim.lr_scheduler import CosineAnnealingLR, ReduceLROnPlateau, StepLR
from .random import manual_seed
from .serialization import load, save
from .train import (Callback, Checkpoint, DivergenceWarning, History, NotLearningWarning,
                    TrainingDiverged, evaluate, fit, training_state)
from .train.checkpoint import read_training_state

# class, and the mean and standard deviation of the training pixels scaled to [0, 1]
DATASETS = {"mnist": (MNIST, 0.1307, 0.3081), "fashion-mnist": (FashionMNIST, 0.2860, 0.3530)}
# the defaults that depend on the optimizer: (lr, momentum, weight decay)
OPTIMIZER_DEFAULTS = {"sgd": (0.01, 0.9, 5e-4), "adam": (1e-3, None, 0.0),
                      "adamw": (1e-3, None, 1e-2), "adagrad": (1e-2, None, 0.0)}
SCHEDULERS = ("none", "step", "cosine", "plateau")
EVAL_BATCH_SIZE = 1000
FILES = {"history": "history.csv", "curves": "curves.png", "checkpoint": "checkpoint.safetensors",
         "summary": "summary.json"}


class CommandError(Exception):
    """A problem with the user's files or data: one line on stderr, exit status 1."""


# ======================================== parsing =============================================
class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors on one line (exit status 2)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _nonnegative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def _number(low: float, strict: bool):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and (value > low if strict else value >= low)):
            bound = f"> {low:g}" if strict else f">= {low:g}"
            raise argparse.ArgumentTypeError(f"expected a number {bound}, got {text!r}")
        return value
    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="minidl", description="minidl: train and evaluate small models on "
                     "the CPU with Numba kernels.")
    parser.add_argument("--version", action="version", version=f"minidl {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    train = commands.add_parser(
        "train", help="train a model and report its test accuracy",
        description="Train a model on MNIST (the bundled 5,000-image sample by default) or "
                    "Fashion-MNIST and report its accuracy on the 10,000 test images. The "
                    "defaults (the small BN CNN, SGD lr 0.01 momentum 0.9 weight decay 5e-4, "
                    "batch 64, StepLR 3 epochs x0.2, 8 epochs, seed 0) reach about 97.5%.")
    train.add_argument("--model", choices=models.names(), default="cnn-bn",
                       help="the network (default: cnn-bn). mlp-bn is Ioffe & Szegedy's "
                            "784-100-100-100-10 sigmoid MLP with BatchNorm; mlp, the same "
                            "without it, learns slowly at these rates: it is the baseline that "
                            "shows what BatchNorm buys")
    _add_data_options(train)
    train.add_argument("--epochs", type=_positive_int, default=8, help="default: 8")
    train.add_argument("--batch-size", type=_positive_int, default=64, help="default: 64")
    train.add_argument("--optimizer", choices=tuple(OPTIMIZER_DEFAULTS), default="sgd",
                       help="default: sgd")
    train.add_argument("--lr", type=_number(0, strict=True), default=None,
                       help="learning rate (default: 0.01 for sgd and adagrad, 0.001 for adam "
                            "and adamw)")
    train.add_argument("--momentum", type=_number(0, strict=False), default=None,
                       help="SGD momentum (default: 0.9; sgd only)")
    train.add_argument("--weight-decay", type=_number(0, strict=False), default=None,
                       help="default: 5e-4 for sgd, 0.01 for adamw, 0 for adam and adagrad")
    train.add_argument("--scheduler", choices=SCHEDULERS, default="step",
                       help="learning-rate schedule, stepped once per epoch: step (x gamma "
                            "every --step-size epochs), cosine (annealed to 0 over the run), "
                            "plateau (x gamma after two epochs without a lower training loss) "
                            "or none (default: step)")
    train.add_argument("--step-size", type=_positive_int, default=3,
                       help="epochs between steps of the step schedule (default: 3)")
    train.add_argument("--gamma", type=_number(0, strict=True), default=0.2,
                       help="factor of the step and plateau schedules (default: 0.2)")
    train.add_argument("--seed", type=_nonnegative_int, default=0,
                       help="seeds the initial weights and the shuffling (default: 0)")
    _add_compute_options(train)
    train.add_argument("--output-dir", default=None,
                       help="write history.csv, curves.png, checkpoint.safetensors and "
                            "summary.json here (created if missing)")
    train.add_argument("--checkpoint-every", type=_positive_int, default=None, metavar="N",
                       help="also save a resumable checkpoint every N epochs in "
                            "OUTPUT_DIR/checkpoints")
    train.add_argument("--progress", choices=("auto", "bar", "lines", "none"), default="auto",
                       help="a tqdm bar on a terminal if tqdm is installed, else one line per "
                            "epoch (default: auto)")
    train.add_argument("--log-every", type=_positive_int, default=None, metavar="N",
                       help="with plain lines, also print one every N steps")

    evaluate_ = commands.add_parser(
        "evaluate", help="evaluate a checkpoint on the test set",
        description="Rebuild the model a `minidl train` checkpoint names, load its weights and "
                    "report its accuracy on the test set. A file of bare weights "
                    "(minidl.save(model.state_dict(), path)) needs --model.")
    evaluate_.add_argument("checkpoint", help="a checkpoint.safetensors from minidl train")
    evaluate_.add_argument("--model", choices=models.names(), default=None,
                           help="the network (default: the one the checkpoint names)")
    _add_data_options(evaluate_, default_dataset=None)
    _add_compute_options(evaluate_)

    commands.add_parser("info", help="versions, threads, kernel set and kernel cache",
                        description="Print the versions of minidl, Python, NumPy, Numba and "
                                    "SciPy, the threads and threading layer, the kernel set "
                                    "and where compiled kernels are cached.")
    return parser


def _add_data_options(parser, default_dataset="mnist") -> None:
    parser.add_argument("--dataset", choices=tuple(DATASETS), default=default_dataset,
                        help="default: " + (default_dataset or "the checkpoint's") +
                             " (mnist without --data-dir: the copy bundled with minidl)")
    parser.add_argument("--data-dir", default=None,
                        help="a directory with the four official IDX .gz files (the full "
                             "60,000-image training set); needed for fashion-mnist")
    parser.add_argument("--download", action="store_true",
                        help="fetch the files missing from --data-dir")


def _add_compute_options(parser) -> None:
    parser.add_argument("--kernels", choices=("numba", "numpy"), default=None,
                        help="kernel set (default: MINIDL_KERNELS or numba)")
    parser.add_argument("--threads", type=_positive_int, default=None,
                        help=f"Numba threads, 1 to NUMBA_NUM_THREADS "
                             f"({numba.config.NUMBA_NUM_THREADS} here) (default: what the "
                             f"machine or job allows)")


def _check_arguments(parser, args) -> None:
    sub = f"minidl {args.command}"
    if args.command in ("train", "evaluate"):
        limit = numba.config.NUMBA_NUM_THREADS
        if args.threads is not None and args.threads > limit:
            _usage(parser, sub, f"argument --threads: expected 1 to {limit} (Numba's pool size, "
                                f"set by NUMBA_NUM_THREADS at start-up), got {args.threads}")
        if args.download and args.data_dir is None:
            _usage(parser, sub, "argument --download: needs --data-dir, the directory to save "
                                "the files in")
    if args.command == "train":
        if args.dataset == "fashion-mnist" and args.data_dir is None:
            _usage(parser, sub, "--dataset fashion-mnist needs --data-dir (minidl bundles only "
                                "an MNIST sample); add --download to fetch the files")
        if args.momentum is not None and args.optimizer != "sgd":
            _usage(parser, sub, f"argument --momentum: only for --optimizer sgd, not "
                                f"{args.optimizer}")
        if args.scheduler == "plateau" and args.gamma >= 1:
            _usage(parser, sub, "--scheduler plateau needs --gamma below 1 (the factor that "
                                "lowers the learning rate)")
        if args.checkpoint_every is not None and args.output_dir is None:
            _usage(parser, sub, "argument --checkpoint-every: needs --output-dir")


def _usage(parser, prog: str, message: str):
    parser.exit(2, f"{prog}: error: {message} (see {prog} --help)\n")


# ======================================== helpers =============================================
def versions() -> dict:
    return {"minidl": __version__, "python": platform.python_version(),
            "numpy": np.__version__, "numba": numba.__version__, "scipy": scipy.__version__}


def _threading_layer() -> str | None:
    try:
        return numba.threading_layer()
    except ValueError:  # no parallel kernel has run in this process
        return None


class _Compute:
    """Use the chosen kernel set and thread count inside the block; put both back after."""

    def __init__(self, kernels: str | None, threads: int | None):
        self.kernels, self.threads = kernels or current_kernels(), threads

    def __enter__(self):
        self._kernels = use_kernels(self.kernels)
        self._threads = numba.get_num_threads()
        if self.threads is not None:
            _set_threads(self.threads)
        return self

    def __exit__(self, *exc_info):
        if self.threads is not None:
            _set_threads(self._threads)
        self._kernels.__exit__(*exc_info)


def _set_threads(count: int) -> None:
    try:
        from .threads import set_num_threads  # also limits NumPy's BLAS to the same count
    except ImportError:
        set_num_threads = numba.set_num_threads
    set_num_threads(count)


def _dataset(name: str, data_dir, train: bool, download: bool):
    cls, mean, std = DATASETS[name]
    transform = transforms.Compose([transforms.ToFloat(), transforms.Normalize([mean], [std])])
    try:
        return cls(data_dir, train=train, download=download, transform=transform)
    except (OSError, ValueError) as error:
        hint = ("; with --data-dir DIR, --download fetches them" if
                isinstance(error, FileNotFoundError) and not download else "")
        raise CommandError(f"cannot read the {name} {'training' if train else 'test'} data: "
                           f"{error}{hint}") from None


def _accuracy_line(accuracy: float, count: int) -> str:
    return f"test accuracy: {accuracy:.4f} ({round(accuracy * count)} of {count} images)"


def _make_optimizer(name: str, params, lr: float, momentum, weight_decay: float):
    if name == "sgd":
        return SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    return {"adam": Adam, "adamw": AdamW, "adagrad": Adagrad}[name](
        params, lr=lr, weight_decay=weight_decay)


def _make_scheduler(name: str, optimizer, epochs: int, step_size: int, gamma: float):
    if name == "step":
        return StepLR(optimizer, step_size=step_size, gamma=gamma)
    if name == "cosine":
        return CosineAnnealingLR(optimizer, T_max=epochs)
    if name == "plateau":
        return ReduceLROnPlateau(optimizer, factor=gamma, patience=1)
    return None


# ======================================== commands ============================================
def train_command(args, out=None) -> int:
    out = out or sys.stdout
    start = time.perf_counter()
    lr, momentum, weight_decay = OPTIMIZER_DEFAULTS[args.optimizer]
    lr = args.lr if args.lr is not None else lr
    momentum = args.momentum if args.momentum is not None else momentum
    weight_decay = args.weight_decay if args.weight_decay is not None else weight_decay
    output_dir = args.output_dir
    if output_dir is not None:
        try:
            os.makedirs(output_dir, exist_ok=True)
        except OSError as error:
            raise CommandError(f"cannot create the output directory {output_dir!r}: "
                               f"{error.strerror or error}") from None
        if not os.access(output_dir, os.W_OK):
            raise CommandError(f"cannot write to the output directory {output_dir!r}")

    with _Compute(args.kernels, args.threads) as compute:
        settings = {"model": args.model, "dataset": args.dataset, "data_dir": args.data_dir,
                    "epochs": args.epochs, "batch_size": args.batch_size,
                    "optimizer": args.optimizer, "lr": lr, "momentum": momentum,
                    "weight_decay": weight_decay, "scheduler": args.scheduler,
                    "step_size": args.step_size, "gamma": args.gamma, "seed": args.seed,
                    "kernels": compute.kernels, "threads": numba.get_num_threads()}
        manual_seed(args.seed)
        train_set = _dataset(args.dataset, args.data_dir, True, args.download)
        test_set = _dataset(args.dataset, args.data_dir, False, args.download)
        train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True,
                                  seed=args.seed)
        test_loader = DataLoader(test_set, batch_size=EVAL_BATCH_SIZE)
        model = models.get_model(args.model)
        optimizer = _make_optimizer(args.optimizer, model.parameters(), lr, momentum,
                                    weight_decay)
        scheduler = _make_scheduler(args.scheduler, optimizer, args.epochs, args.step_size,
                                    args.gamma)
        loss_fn = CrossEntropyLoss()
        config = {"model": args.model, "dataset": args.dataset, "settings": settings,
                  "versions": versions()}
        source = "bundled sample" if args.data_dir is None else args.data_dir
        hyper = f"lr {lr:g}" + (f", momentum {momentum:g}" if momentum is not None else "") \
            + f", weight decay {weight_decay:g}"
        epochs = f"{args.epochs} epoch" + ("s" if args.epochs != 1 else "")
        print(f"training {args.model} on {args.dataset} ({len(train_set)} images, {source}) "
              f"for {epochs}: {args.optimizer} {hyper}, batch {args.batch_size}, "
              f"{args.scheduler} schedule, seed {args.seed}; {compute.kernels} kernels, "
              f"{numba.get_num_threads()} threads", file=out, flush=True)
        callbacks = []
        if args.checkpoint_every is not None:
            callbacks.append(Checkpoint(os.path.join(output_dir, "checkpoints"),
                                        every=args.checkpoint_every, config=config))
        history = _fit(model, loss_fn, optimizer, train_loader, scheduler, callbacks, args, lr,
                       out)
        test = evaluate(model, test_loader, loss_fn)
        layer = _threading_layer()

    wall = time.perf_counter() - start
    if output_dir is not None:
        state = training_state(model, optimizer, scheduler, train_loader, len(history), history,
                               callbacks, config)
        _write_outputs(output_dir, history, state, {
            "test_accuracy": test.accuracy, "test_loss": test.loss,
            "test_images": len(test_set), "epochs": len(history),
            "wall_seconds": round(wall, 3),
            "train_seconds": round(sum(history["seconds"]), 3),
            "final_train_loss": history.last["train_loss"],
            "diverged": history.diverged, "not_learning": history.not_learning,
            "model": args.model, "dataset": args.dataset, "settings": settings,
            "versions": versions(), "threading_layer": layer,
            "command": ["minidl", *args.argv],
        }, out)
    print(f"done in {wall:.1f} s", file=out)
    print(_accuracy_line(test.accuracy, len(test_set)), file=out, flush=True)
    if history.diverged is not None:
        raise CommandError(_diverged_line(f"training diverged: {history.diverged}", lr))
    if history.not_learning is not None:
        print(f"minidl train: warning: {history.not_learning}; try another --lr (this run "
              f"used {lr:g})", file=sys.stderr)
    return 0


class _StopWhenDiverged(Callback):
    """Ends a run after the epoch in which its loss exploded: training on only costs time."""

    def on_epoch_end(self, run) -> None:
        if run.history.diverged is not None:
            run.stop_training = True


def _fit(model, loss_fn, optimizer, train_loader, scheduler, callbacks, args, lr,
         out) -> History:
    """fit, with its problems told the CLI's way: TrainingDiverged becomes one error line with
    a hint about --lr, and fit's warnings are silenced because train_command reports what the
    History recorded (one line each, not Python's two-line warnings)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DivergenceWarning)
        warnings.simplefilter("ignore", NotLearningWarning)
        try:
            return fit(model, loss_fn, optimizer, train_loader, args.epochs,
                       scheduler=scheduler, callbacks=[_StopWhenDiverged(), *callbacks],
                       progress=args.progress, log_every=args.log_every, file=out)
        except TrainingDiverged as error:
            what = f"training diverged at epoch {error.epoch}, step {error.step}: {error.reason}"
            raise CommandError(_diverged_line(what, lr, error.bad_input)) from None


def _diverged_line(what: str, lr: float, bad_input: bool = False) -> str:
    if bad_input:
        return f"{what}; the training data holds NaN or infinite values"
    return f"{what}; try a lower --lr (this run used {lr:g}, e.g. --lr {lr / 10:g})"


def _write_outputs(directory: str, history: History, state: dict, summary: dict, out) -> None:
    paths = {key: os.path.join(directory, name) for key, name in FILES.items()}
    notes = []
    try:
        history.to_csv(paths["history"])
        save(state, paths["checkpoint"])
        try:
            history.plot(paths["curves"], title=f"{summary['model']} on {summary['dataset']}")
        except ImportError:
            paths["curves"] = None
            notes.append("curves.png not written: matplotlib is not installed "
                         "(pip install minidl[plot])")
        summary["files"] = {key: os.path.basename(path) if path else None
                            for key, path in paths.items()}
        summary["notes"] = notes
        text = json.dumps(summary, indent=2, allow_nan=True) + "\n"
        write_atomically(paths["summary"], lambda file: file.write(text), "minidl train",
                         binary=False)
    except (OSError, ValueError) as error:  # ValueError: a path that is not a regular file
        raise CommandError(f"cannot write the outputs to {directory!r}: {error}") from None
    for note in notes:
        print(f"note: {note}", file=out)
    written = ", ".join(os.path.basename(p) for p in paths.values() if p)
    print(f"wrote {written} to {directory}", file=out)


def evaluate_command(args, out=None) -> int:
    out = out or sys.stdout
    path = args.checkpoint
    try:
        content = load(path)  # refuses directories, FIFOs and devices (never blocks on one)
    except OSError as error:
        raise CommandError(f"cannot read {path!r}: {error.strerror or error}") from None
    except ValueError as error:
        raise CommandError(str(error)) from None
    config, weights = {}, content
    if isinstance(content, dict) and "format" in content:
        try:
            state = read_training_state(content)
        except ValueError as error:
            raise CommandError(f"{path!r}: {error}") from None
        config = _evaluation_config(state.get("config"), path)
        weights = state["model"]
    name = args.model or config.get("model")
    if name is None:
        raise CommandError(f"{path!r} does not say which model it holds (it is not a "
                           f"checkpoint from `minidl train`): pass --model")
    if name not in models.MODELS:
        raise CommandError(f"{path!r} names the model {name!r}, which this minidl does not "
                           f"have (it has {', '.join(models.names())})")
    dataset = args.dataset or config.get("dataset") or "mnist"
    if dataset not in DATASETS:
        raise CommandError(f"{path!r} names the data set {dataset!r}; pass --dataset")
    data_dir = args.data_dir if args.data_dir is not None else config.get("data_dir")
    if dataset == "fashion-mnist" and data_dir is None:
        raise CommandError("fashion-mnist needs --data-dir (minidl bundles only MNIST)")
    with _Compute(args.kernels, args.threads):
        model = models.get_model(name)
        try:
            if not isinstance(weights, dict):
                raise ValueError("it holds no dict of weights")
            model.load_state_dict(weights)
        except (TypeError, ValueError) as error:
            raise CommandError(f"{path!r} does not fit the {name} model: {error}") from None
        test_set = _dataset(dataset, data_dir, False, args.download)
        result = evaluate(model, DataLoader(test_set, batch_size=EVAL_BATCH_SIZE))
    print(f"{name} from {path} on the {dataset} test set", file=out)
    print(_accuracy_line(result.accuracy, len(test_set)), file=out, flush=True)
    return 0


def _evaluation_config(config, path: str) -> dict:
    """What `evaluate` reads from a training checkpoint's config: {'model', 'dataset',
    'data_dir'}, each a str or None. `minidl train` writes a dict of strings there; a config of
    another type (Checkpoint(config=...) takes anything) names nothing, and a value of the
    wrong type is one error line rather than a traceback."""
    if not isinstance(config, dict):
        return {}
    settings = config.get("settings")
    found = {"model": config.get("model"), "dataset": config.get("dataset"),
             "data_dir": settings.get("data_dir") if isinstance(settings, dict) else None}
    for key, value in found.items():
        if value is not None and not isinstance(value, str):
            raise CommandError(f"{path!r}: expected the config's {key!r} to be a string, got "
                               f"{type(value).__name__} {str(value)[:60]}")
    return found


def info_command(args, out=None) -> int:
    out = out or sys.stdout
    show_config(file=out)
    extras = []
    for module, extra in (("tqdm", "progress"), ("matplotlib", "plot")):
        if importlib.util.find_spec(module) is None:
            extras.append(f"{module} not installed (pip install minidl[{extra}])")
        else:
            try:
                extras.append(f"{module} {importlib.metadata.version(module)}")
            except importlib.metadata.PackageNotFoundError:
                extras.append(f"{module} (version unknown)")
    print("optional: " + ", ".join(extras), file=out)
    return 0


COMMANDS = {"train": train_command, "evaluate": evaluate_command, "info": info_command}


def main(argv=None) -> int:
    """Run the `minidl` command with `argv` (default: sys.argv[1:]); returns the exit status."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.argv = argv
    _check_arguments(parser, args)
    prog = f"minidl {args.command}"
    try:
        return COMMANDS[args.command](args, out=sys.stdout)
    except (CommandError, TrainingDiverged) as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
