"""``NeuralCollapseCallback``: the neural- and latent-collapse metrics of a run, epoch by epoch.

Every ``every_n_epochs`` epochs, and after the last one, it encodes a seeded share of the training
split with the method's ``encode`` (eval mode, no gradient) — the same rows with the same
augmentations every time (epoch 0's draw), so that the curves move with the model only — and
computes ``collapse_diagnostics``: the latent's effective rank and eigen-spectrum (for every run,
regression tasks included); per class task NC1, NC2 of the class means, and, for a method with
linear readouts (``Method.linear_readouts``: HPS, STL, Detaux's MTL stage, Domain Expansion's
readouts, the dual encoder's shared part), NC2 of the heads, NC3, NC4, the cross-task coherence
of the heads and the feature-sum alignment; the principal angles between the tasks' class-mean
subspaces. The statistics are sums, all-reduced, so N processes log what one would. Scalars are
logged as ``nc/<key>``; the spectrum, the coherence matrix and the angles go to
``diagnostics.json`` under ``neural_collapse``.
"""

import torch

from orthomtl.diagnostics._collapse import EncodedSample, collapse_diagnostics
from orthomtl.diagnostics._record import DiagnosticsLog
from orthomtl.engine import Callback, Engine, Method


@torch.no_grad()
def encode_subset(
    method: Method, fraction: float, epoch: int, device: torch.device
) -> EncodedSample:
    """This process's share of ``fraction`` of the training split (``epoch``'s draw and
    augmentations), encoded in eval mode, with its labels (no rows when the share is empty)."""
    network = method.network
    was_training = network.training
    network.eval()
    latents, targets = [], {t.name: [] for t in method.tasks}
    for batch in method.train_subset(fraction, epoch):
        if not len(batch):
            continue
        latents.append(method.encode(batch.x))
        for name in targets:
            targets[name].append(batch.targets[name])
    if not latents:  # an empty share still takes part in the all-reduces
        latents.append(method.encode(torch.zeros(1, *method.input_shape, device=device))[:0])
        for name in targets:
            targets[name].append(torch.zeros(0, dtype=torch.long, device=device))
    network.train(was_training)
    return EncodedSample(torch.cat(latents), {k: torch.cat(v) for k, v in targets.items()})


class NeuralCollapseCallback(Callback):
    """Log the collapse diagnostics every ``every_n_epochs`` epochs; see the module docstring.

    Args:
        every_n_epochs: the interval, counted from the first epoch's end; the last epoch is
            always measured.
        fraction: the share of the training split encoded, in (0, 1].
    """

    def __init__(self, every_n_epochs: int = 5, fraction: float = 0.25) -> None:
        if every_n_epochs < 1:
            raise ValueError(f"every_n_epochs must be >= 1, got {every_n_epochs}.")
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {fraction}.")
        self.every_n_epochs, self.fraction = every_n_epochs, fraction
        self.log = DiagnosticsLog("neural_collapse")

    def on_fit_start(self, engine: Engine) -> None:
        self.log.start(engine.run_dir, engine.progress.step, engine.fabric.is_global_zero)

    def on_epoch_end(self, engine: Engine) -> None:
        epoch = engine.progress.epoch
        last = epoch + 1 == engine.trainer.max_epochs
        method = engine.method
        if (epoch + 1) % self.every_n_epochs and not last:
            return
        sample = encode_subset(method, self.fraction, 0, engine.fabric.device)
        with torch.no_grad():
            metrics, record = collapse_diagnostics(
                sample,
                method.tasks,
                method.linear_readouts(),
                lambda t: engine.fabric.all_reduce(t, reduce_op="sum"),
            )
        engine.log({f"nc/{key}": value for key, value in metrics.items()} | {"epoch": epoch})
        self.log.append({"epoch": epoch, "step": engine.progress.step} | record)
