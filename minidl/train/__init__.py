"""minidl.train: the training loop, its record, callbacks and resumable checkpoints.

    from minidl.train import fit, evaluate, BestWeights, EarlyStopping, Checkpoint

    history = fit(model, nn.CrossEntropyLoss(), optimizer, train_loader, epochs=8,
                  val_loader=val_loader, scheduler=scheduler,
                  callbacks=[BestWeights("val_accuracy"), Checkpoint("run", every=2)])
    history.to_csv("run/history.csv"); history.plot("run/curves.png")
    loss, accuracy = evaluate(model, test_loader, nn.CrossEntropyLoss())

    # after an interruption: the same call, from the last checkpoint
    history = fit(..., resume="run/epoch_004.safetensors")
"""
from .callbacks import BestWeights, Callback, Checkpoint, EarlyStopping
from .checkpoint import restore_training_state, training_state
from .divergence import DivergenceWarning, NotLearningWarning
from .history import History
from .loop import EvalResult, TrainingDiverged, TrainingRun, evaluate, fit

__all__ = ["fit", "evaluate", "EvalResult", "History", "TrainingDiverged", "DivergenceWarning",
           "NotLearningWarning", "TrainingRun", "Callback", "BestWeights", "EarlyStopping",
           "Checkpoint", "training_state", "restore_training_state"]
