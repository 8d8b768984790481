"""Callbacks: objects that observe the engine's loop (progress probes, timers, diagnostics).

As in Lightning, a callback subclasses ``Callback`` and overrides the hooks it needs; the others
stay no-ops. A method named ``on_...`` that is not one of the hooks below is refused when the
subclass is defined, so a misspelt hook is an error rather than a hook that never runs.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orthomtl.engine._loop import Engine


class Callback:
    """Observes the engine's loop; every hook does nothing unless overridden."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        hooks = {name for name in vars(Callback) if name.startswith("on_")}
        for name in vars(cls):
            if name.startswith("on_") and name not in hooks:
                raise TypeError(
                    f"{cls.__name__}.{name} is not a callback hook; the hooks are "
                    f"{', '.join(sorted(hooks))}."
                )

    def on_epoch_start(self, engine: "Engine") -> None:
        """Before each epoch's first batch, before the method's own ``on_epoch_start``."""

    def on_train_batch_end(self, engine: "Engine") -> None:
        """After each optimiser step."""

    def on_epoch_end(self, engine: "Engine") -> None:
        """After each epoch's last batch, after the method's own ``on_epoch_end``."""

    def on_validation_end(self, engine: "Engine", metrics: dict[str, float]) -> None:
        """After each validation, with its metrics (``val/<task>/<metric>``, ``val/loss``)."""
