"""A finished run's model, for inference: ``encode`` and ``predict`` on new inputs."""

from collections.abc import Sequence

import torch
from torch import Tensor

from orthomtl.engine._method import Method
from orthomtl.nn import check_input


class TrainedModel:
    """The last stage's method of a finished run, in eval mode, with checked inputs.

    Args:
        method: the trained method (its ``tasks`` are the model's tasks).
        input_shape: the shape of one input, as in training.
    """

    def __init__(self, method: Method, input_shape: Sequence[int]) -> None:
        self.method, self.input_shape = method, tuple(input_shape)
        self.tasks = list(method.tasks)
        self.method.network.eval()

    def _check(self, x: Tensor) -> Tensor:
        check_input(x, self.input_shape, "TrainedModel")
        if not torch.isfinite(x).all():
            raise ValueError(
                "TrainedModel: inputs contain NaN or inf; clean them before predicting."
            )
        return x

    @torch.no_grad()
    def encode(self, x: Tensor) -> Tensor:
        """Latent representation (B, D) of inputs shaped like the training data."""
        return self.method.encode(self._check(x))

    @torch.no_grad()
    def predict(self, x: Tensor) -> dict[str, Tensor]:
        """Per task: class indices, values, or angles in radians."""
        outputs = self.method.outputs(self._check(x))
        return {t.name: t.predict(outputs[t.name]) for t in self.tasks}
