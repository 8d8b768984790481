"""Compile a module with ``torch.compile`` where that works, and run eagerly where it does not."""

import warnings

import torch
from torch import nn


def compile_if_possible(module: nn.Module, owner: str) -> bool:
    """Compile ``module`` in place (``nn.Module.compile``: its ``state_dict`` keys are unchanged)
    if ``torch.compile`` can build code here; otherwise warn, naming ``owner``, and leave it eager.

    The probe compiles a one-element function: on CPU, ``torch.compile`` needs a C++ compiler,
    and some platforms or Python versions have no support at all. Returns whether it compiled.
    """
    try:
        torch.compile(torch.sin)(torch.zeros(1))
    except Exception as error:  # any failure of the probe means: run eagerly
        warnings.warn(
            f"torch.compile does not work here ({type(error).__name__}: {error}); {owner} runs "
            "eagerly. Install a C++ compiler (e.g. Debian's g++) or set method.compile: false.",
            stacklevel=3,
        )
        return False
    module.compile()
    return True
