"""``NeuralCollapseCallback``: the neural-collapse metrics of a run's latent, epoch by epoch.

Every ``every_n_epochs`` epochs it encodes a seeded share of the training split with the method's
``encode`` (eval mode, no gradient), accumulates ``orthomtl.metrics.ClassStatistics`` (sums,
all-reduced, so N processes log what one would), and logs ``neural_collapse_metrics``: per class
task NC1 and NC2 of the class means, and, for a method with linear readouts
(``Method.linear_readouts``: HPS, STL, Domain Expansion's readouts), NC2 of the heads, NC3 and the
cross-task coherence of the heads; and the latent's effective rank. Keys are ``nc/<metric>``.
"""

import torch

from orthomtl.engine import Callback, Engine
from orthomtl.metrics import ClassStatistics, neural_collapse_metrics


class NeuralCollapseCallback(Callback):
    """Log neural-collapse metrics every ``every_n_epochs`` epochs; see the module docstring.

    Args:
        every_n_epochs: the interval, counted from the first epoch's end.
        fraction: the share of the training split encoded, in (0, 1].
    """

    def __init__(self, every_n_epochs: int = 5, fraction: float = 0.25) -> None:
        if every_n_epochs < 1:
            raise ValueError(f"every_n_epochs must be >= 1, got {every_n_epochs}.")
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {fraction}.")
        self.every_n_epochs, self.fraction = every_n_epochs, fraction

    @torch.no_grad()
    def on_epoch_end(self, engine: Engine) -> None:
        epoch = engine.progress.epoch
        if (epoch + 1) % self.every_n_epochs:
            return
        method = engine.method
        classes = [t for t in method.tasks if t.kind == "classification"]
        if not classes:
            return
        readouts = method.linear_readouts() or {}
        statistics: ClassStatistics | None = None
        method.network.eval()
        for batch in method.train_subset(self.fraction, epoch):
            if not len(batch):
                continue
            latent = method.encode(batch.x)
            statistics = statistics or ClassStatistics(classes, latent.shape[1])
            statistics.update(latent, batch.targets)
        method.network.train()
        if statistics is None:
            return
        statistics.reduce(lambda t: engine.fabric.all_reduce(t, reduce_op="sum"))
        heads = {name: weight for name, (weight, _) in readouts.items()}
        metrics = neural_collapse_metrics(statistics, heads)
        engine.log({f"nc/{key}": value for key, value in metrics.items()} | {"epoch": epoch})
