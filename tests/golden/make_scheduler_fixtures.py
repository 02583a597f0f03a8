"""Write tests/golden/lr_schedules.json: learning-rate sequences from PyTorch's schedulers.

    pip install torch==2.13.0; python tests/golden/make_scheduler_fixtures.py

Two parameter groups (lr 0.1 and 0.05), 25 epochs; ReduceLROnPlateau gets a fixed metric list.
"""
import json
import pathlib

import torch


def run(make, steps=25, metrics=None):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([{"params": [p]}, {"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.05}], lr=0.1, momentum=0.9)
    sched = make(opt)
    seq = []
    for i in range(steps):
        opt.step()
        if metrics is None: sched.step()
        else: sched.step(metrics[i])
        seq.append(sched.get_last_lr())
    return seq
S = torch.optim.lr_scheduler
metrics = [1.0, 0.9, 0.9, 0.95, 0.91, 0.9, 0.89, 0.9, 0.9, 0.9, 0.9, 0.9, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
cases = {
 "StepLR(step_size=3, gamma=0.5)": run(lambda o: S.StepLR(o, step_size=3, gamma=0.5)),
 "MultiStepLR(milestones=[2, 5, 5, 9], gamma=0.3)": run(lambda o: S.MultiStepLR(o, milestones=[2, 5, 5, 9], gamma=0.3)),
 "ExponentialLR(gamma=0.9)": run(lambda o: S.ExponentialLR(o, gamma=0.9)),
 "CosineAnnealingLR(T_max=10)": run(lambda o: S.CosineAnnealingLR(o, T_max=10)),
 "CosineAnnealingLR(T_max=7, eta_min=0.01)": run(lambda o: S.CosineAnnealingLR(o, T_max=7, eta_min=0.01)),
 "ReduceLROnPlateau(patience=2, factor=0.5)": run(lambda o: S.ReduceLROnPlateau(o, patience=2, factor=0.5), metrics=metrics),
 "ReduceLROnPlateau(mode='max', patience=1, threshold=0.05, threshold_mode='abs', cooldown=2, min_lr=0.02)": run(lambda o: S.ReduceLROnPlateau(o, mode="max", patience=1, threshold=0.05, threshold_mode="abs", cooldown=2, min_lr=0.02), metrics=metrics),
}
json.dump({"torch": torch.__version__, "metrics": metrics, "cases": cases}, open(pathlib.Path(__file__).with_name("lr_schedules.json"), "w"), indent=1)
print("ok")
