"""Domain Expansion's options reach the parts they configure."""

import pytest

from orthomtl.config import ModelConfig
from orthomtl.methods import DomainExpansion
from orthomtl.tasks import Task

TASKS = [Task("digit", "classification", num_classes=10), Task("angle", "angle")]
MODEL = ModelConfig(encoder="convnet", latent_dim=16, encoder_options={"channels": [8, 16]})


def test_supcon_base_temperature_reaches_the_class_loss() -> None:
    method = DomainExpansion(TASKS, (1, 28, 28), MODEL, supcon_base_temperature=0.07)
    assert method.objective.losses["digit"].base_temperature == 0.07
    assert (
        DomainExpansion(TASKS, (1, 28, 28), MODEL).objective.losses["digit"].base_temperature
        is None
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"readout_lr": 0.0}, "method.readout_lr must be > 0"),
        ({"readout_weight_decay": -1.0}, "method.readout_weight_decay must be >= 0"),
        ({"composition": {"rcond": 1.5}}, r"method\.composition: rcond must be in \[0, 1\)"),
        ({"supcon_base_temperature": 0.0}, "temperature must be a finite number > 0"),
    ],
)
def test_bad_options_are_refused(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DomainExpansion(TASKS, (1, 28, 28), MODEL, **options)
