"""Write tests/golden/cnn.npz: a small conv-BN-ReLU-pool-linear network trained by PyTorch.

    pip install torch==2.13.0
    python tests/golden/make_cnn_fixtures.py

The network (Conv2d 1->4 3x3 pad 1, BatchNorm2d, ReLU, MaxPool2d 2, Conv2d 4->8 3x3, BatchNorm2d, ReLU, AvgPool2d 2, AdaptiveAvgPool2d 2, Flatten, Linear 32->5) takes five
training steps on fixed random batches (8, 1, 12, 12) with each optimizer setting in CASES,
then one eval-mode forward pass. Stored: the initial state_dict and batches (shared), and per
case the loss of each step, the final state_dict and the eval logits, under "<case>/<name>".
The convolutions have no bias: BatchNorm removes any per-channel constant, so a bias there gets
a gradient of rounding noise, which Adam's normalised steps would turn into +-lr moves whose
sign differs between any two implementations.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

HERE = Path(__file__).resolve().parent
STEPS, BATCH, CLASSES = 5, 8, 5
CASES = {
    "sgd_momentum": ("SGD", dict(lr=0.05, momentum=0.9)),
    "sgd_nesterov_weight_decay": ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True,
                                              weight_decay=1e-3)),
    "adam": ("Adam", dict(lr=1e-2)),
    "adam_amsgrad_weight_decay": ("Adam", dict(lr=1e-2, amsgrad=True, weight_decay=1e-2)),
    "adamw": ("AdamW", dict(lr=1e-2, weight_decay=0.1)),
    "adagrad": ("Adagrad", dict(lr=0.05, lr_decay=0.01, weight_decay=1e-3,
                                initial_accumulator_value=0.1)),
}


def network() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 8, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.AvgPool2d(2),
        nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(32, CLASSES))


def main() -> None:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    initial = {k: v.detach().numpy().copy() for k, v in network().state_dict().items()}
    images = rng.normal(0.5, 1.0, size=(STEPS + 1, BATCH, 1, 12, 12)).astype(np.float32)
    labels = rng.integers(0, CLASSES, size=(STEPS, BATCH))
    arrays = {"images": images, "labels": labels}
    arrays.update({f"initial/{k}": v for k, v in initial.items()})
    for case, (optimizer_name, options) in CASES.items():
        model = network()
        model.load_state_dict({k: torch.from_numpy(v) for k, v in initial.items()})
        optimizer = getattr(torch.optim, optimizer_name)(model.parameters(), **options)
        losses = []
        for step in range(STEPS):
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(torch.from_numpy(images[step])),
                                               torch.from_numpy(labels[step]))
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        model.eval()
        with torch.no_grad():
            arrays[f"{case}/eval_logits"] = model(torch.from_numpy(images[STEPS])).numpy()
        arrays[f"{case}/losses"] = np.array(losses)
        arrays[f"{case}/config"] = np.array(json.dumps([optimizer_name, options]))
        for key, value in model.state_dict().items():
            arrays[f"{case}/final/{key}"] = value.numpy().copy()
    np.savez_compressed(HERE / "cnn.npz", **arrays)


if __name__ == "__main__":
    main()
