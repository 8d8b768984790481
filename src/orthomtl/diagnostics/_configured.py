"""The diagnostics callbacks a config's ``diagnostics`` section asks for."""

from orthomtl.config import DiagnosticsConfig
from orthomtl.diagnostics._gradient_conflict import GradientConflictCallback
from orthomtl.diagnostics._neural_collapse import NeuralCollapseCallback
from orthomtl.engine import Callback


def configured_callbacks(config: DiagnosticsConfig) -> list[Callback]:
    """``NeuralCollapseCallback`` and ``GradientConflictCallback`` at the configured intervals
    (an interval of 0 leaves that one out)."""
    callbacks: list[Callback] = []
    if config.neural_collapse_every_n_epochs:
        callbacks.append(
            NeuralCollapseCallback(
                config.neural_collapse_every_n_epochs, config.neural_collapse_fraction
            )
        )
    if config.gradient_conflict_every_n_steps:
        callbacks.append(GradientConflictCallback(config.gradient_conflict_every_n_steps))
    return callbacks
