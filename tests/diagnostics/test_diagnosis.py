"""The diagnosis's sentences on hand-made records whose verdicts are known, and ``Thresholds``."""

import math

import pytest

from orthomtl.diagnostics import Thresholds
from orthomtl.diagnostics._diagnosis import (
    auxiliary_tasks,
    basis_stability,
    class_collapse,
    effective_rank,
    gradient_conflict,
    head_coherence,
    sharing_gain,
)

DEFAULT = Thresholds()


def grad(share: float, tasks: tuple[str, ...] = ("digit", "angle"), step: int = 50) -> dict:
    return {"epoch": 0, "step": step, "tasks": list(tasks), "negative_share": share}


def nc(epoch: int, latent_dim: int = 64, **metrics: float) -> dict:
    return {"epoch": epoch, "step": 10 * epoch, "latent_dim": latent_dim, "metrics": metrics}


def test_a_share_of_negative_cosines_above_the_threshold_is_a_conflict() -> None:
    records = [grad(0.38, step=s) for s in (50, 100)] + [grad(math.nan, step=150)]
    finding = gradient_conflict(records, DEFAULT)
    assert finding is not None
    assert finding.sentence == "digit and angle gradients conflict on 38% of sampled steps"
    assert "over 2 samples (steps 50–100)" in finding.evidence  # the NaN record is left out
    calm = gradient_conflict([grad(0.0), grad(0.2 - 1e-9)], DEFAULT)
    assert calm is not None and "rarely conflict: negative on 10%" in calm.sentence


def test_the_conflict_sentence_says_how_strong_the_cosines_are() -> None:
    def with_cosine(share: float, cosine: float) -> dict:
        return grad(share) | {"cosine": [[1.0, cosine], [cosine, 1.0]]}

    weak = gradient_conflict([with_cosine(1.0, -0.02), with_cosine(0.0, 0.01)], DEFAULT)
    assert weak is not None
    assert weak.sentence == (
        "digit and angle gradients conflict on 50% of sampled steps, but they are nearly "
        "orthogonal (mean cos -0.005)"
    )
    assert "mean |cos| 0.015, nearly orthogonal at ≤ 0.1 (weak_cos)" in weak.evidence
    strong = gradient_conflict([with_cosine(1.0, -0.4), with_cosine(1.0, -0.2)], DEFAULT)
    assert strong is not None
    assert strong.sentence.endswith("conflict on 100% of sampled steps (mean cos -0.3)")


def test_three_tasks_conflict_is_stated_per_pair() -> None:
    finding = gradient_conflict([grad(2 / 3, ("a", "b", "c"))], DEFAULT)
    assert finding is not None
    assert (
        finding.sentence
        == "a, b and c gradients conflict: 67% of task pairs negative per sampled step"
    )


def test_effective_rank_over_the_latent_dimension_says_whether_it_collapsed() -> None:
    collapsed = effective_rank([nc(0, effective_rank=20.0), nc(4, effective_rank=3.1)], DEFAULT)
    assert collapsed is not None
    assert collapsed.sentence == "effective rank 3.1 of 64: the latent has collapsed"
    assert "epoch 4" in collapsed.evidence and "0.05" in collapsed.evidence
    spread = effective_rank([nc(0, effective_rank=12.3)], DEFAULT)
    assert spread is not None and spread.sentence.endswith("the latent is not collapsed")


@pytest.mark.parametrize(
    ("largest", "verdict"),
    [(0.04, "are orthogonal"), (0.3, "are partly aligned"), (0.62, "share directions")],
)
def test_head_coherence_verdicts(largest: float, verdict: str) -> None:
    record = nc(3, coherence_max=largest, coherence_mean=0.01)
    record["coherence"] = {"tasks": ["digit", "angle"], "offsets": [0, 10], "matrix": []}
    finding = head_coherence([record], DEFAULT)
    assert finding is not None
    assert finding.sentence == f"heads of digit and angle {verdict} (max |cos| {largest})"
    assert "mean |cos| 0.01" in finding.evidence


def test_nc1_over_training() -> None:
    records = [nc(0, **{"digit/nc1": 2.3, "shape/nc1": 0.5}), nc(9, **{"digit/nc1": 0.12})]
    records.append(nc(10, **{"shape/nc1": 0.9}))
    digit, shape = class_collapse(records, DEFAULT)
    assert digit.sentence == "digit: NC1 fell from 2.3 to 0.12 over training (converging geometry)"
    assert "2 records, epochs 0–9" in digit.evidence
    assert shape.sentence == "shape: NC1 rose from 0.5 to 0.9 over training (no collapse)"
    (collapsed,) = class_collapse(
        [nc(0, **{"digit/nc1": 2.3}), nc(5, **{"digit/nc1": 0.05})], DEFAULT
    )
    assert collapsed.sentence.endswith("(collapsed onto the class means)")
    middle = nc(4, **{"digit/nc1": 0.1})
    (flat,) = class_collapse(
        [nc(0, **{"digit/nc1": 120}), middle, nc(9, **{"digit/nc1": 110})], DEFAULT
    )
    assert flat.sentence == "digit: NC1 stayed near 110 (from 120) over training (no clear trend)"
    assert "lowest 0.1 at epoch 4" in flat.evidence


def test_domain_expansion_basis() -> None:
    first = {"axis0/cos_prev": 1.0, "axis1/cos_prev": 1.0}
    turning = basis_stability([first, {"axis0/cos_prev": 0.99, "axis1/cos_prev": 0.8}], DEFAULT)
    assert turning is not None
    assert turning.sentence == "the basis still turns: axis1 keeps |cos| 0.800 with its predecessor"
    settled = basis_stability([first, {"axis0/cos_prev": 0.99, "axis1/cos_prev": 0.999}], DEFAULT)
    assert settled is not None and settled.sentence.startswith("the basis has settled")
    assert basis_stability([first], DEFAULT) is None  # one refresh: nothing to compare


def test_dual_encoder_gain_counts_tasks_beyond_the_standard_errors() -> None:
    record = {
        "tasks": ["a", "b", "c"],
        "sharing_gain": {"gain": [0.4, -0.3, 0.05], "standard_error": [0.1, 0.1, 0.1]},
    }
    finding = sharing_gain(record, DEFAULT)
    assert finding is not None
    assert finding.sentence == "sharing helped 1 of 3 tasks and hurt 1 (b)"
    assert "a +0.4 ± 0.1" in finding.evidence
    lenient = sharing_gain(record, Thresholds(gain_se=0.4))
    assert lenient is not None and lenient.sentence == "sharing helped 2 of 3 tasks and hurt 1 (b)"
    assert sharing_gain({"tasks": ["a"]}, DEFAULT) is None


def test_detaux_auxiliary_tasks() -> None:
    summary = {
        "principal": "shape",
        "tasks": [
            {
                "name": "aux1",
                "subspace": 2,
                "n_clusters": 3,
                "cluster_sizes": [10, 20, 30],
                "principal_agreement": {"nmi": 0.05},
                "factors": {"hue": {"nmi": 0.8}, "scale": {"nmi": 0.1}},
            },
            {"name": "aux2", "subspace": 0, "principal_agreement": {"nmi": 0.9}},
        ],
    }
    own, repeat = auxiliary_tasks(summary, DEFAULT)
    assert own.sentence == (
        "aux1 (subspace 2) is a task of its own, apart from shape; it matches the factor hue "
        "best (NMI 0.80)"
    )
    assert "3 clusters (10, 20, 30)" in own.evidence
    assert repeat.sentence == "aux2 (subspace 0) largely repeats the principal task shape"


def test_no_records_no_sentence() -> None:
    assert gradient_conflict([], DEFAULT) is None
    assert effective_rank([nc(0)], DEFAULT) is None
    assert head_coherence([nc(0, effective_rank=3.0)], DEFAULT) is None
    assert class_collapse([], DEFAULT) == []
    assert auxiliary_tasks({}, DEFAULT) == []


def test_thresholds_parse_and_check() -> None:
    parsed = Thresholds.parse(["conflict_share=0.5", " nc1_collapsed = 0.01"])
    assert parsed.conflict_share == 0.5 and parsed.nc1_collapsed == 0.01
    assert parsed.shared_cos == DEFAULT.shared_cos
    finding = gradient_conflict([grad(0.38)], parsed)
    assert finding is not None and "rarely conflict" in finding.sentence
    with pytest.raises(ValueError, match="NAME one of conflict_share, collapsed_rank"):
        Thresholds.parse(["conflicts=0.5"])
    with pytest.raises(ValueError, match="must be a number, got 'high'"):
        Thresholds.parse(["conflict_share=high"])
    with pytest.raises(ValueError, match=r"collapsed_rank must be a number in \[0, 1\]"):
        Thresholds.parse(["collapsed_rank=2"])
    with pytest.raises(ValueError, match="gain_se must be a number ≥ 0"):
        Thresholds(gain_se=math.nan)
    with pytest.raises(ValueError, match="must not exceed shared_cos"):
        Thresholds(orthogonal_cos=0.6)
