"""Agreement of auxiliary labels with the principal labels and with known factors."""

import numpy as np
import pytest

from orthomtl.discovery import contingency, factor_agreement, label_agreement


def test_identical_labellings_up_to_renaming_agree_fully() -> None:
    principal = np.repeat(np.arange(4), 50)
    result = label_agreement(principal, (principal + 1) % 4 * 10)
    assert result["nmi"] == pytest.approx(1.0) and result["ami"] == pytest.approx(1.0)
    assert result["chi2_dof"] == 9 and result["chi2_p_value"] < 1e-100


def test_independent_and_dependent_labellings() -> None:
    rng = np.random.default_rng(0)
    principal = rng.integers(0, 5, 5000)
    independent = label_agreement(principal, rng.integers(0, 4, 5000))
    assert independent["nmi"] < 0.005 and abs(independent["ami"]) < 0.005
    assert independent["chi2_p_value"] > 0.01
    few = label_agreement(rng.integers(0, 10, 100), rng.integers(0, 10, 100))
    assert few["nmi"] > 0.15 and abs(few["ami"]) < 0.05  # the AMI is corrected for chance
    noisy = np.where(rng.random(5000) < 0.8, principal % 4, rng.integers(0, 4, 5000))
    dependent = label_agreement(principal, noisy)
    assert dependent["nmi"] > 0.3 and dependent["chi2_p_value"] < 1e-10


def test_chi2_is_pearsons_without_continuity_correction() -> None:
    result = label_agreement([0, 0, 1, 1], [0, 0, 1, 1])
    assert result["chi2"] == pytest.approx(4.0) and result["chi2_dof"] == 1


def test_factor_agreement_separates_homogeneity_from_completeness() -> None:
    aux = np.array([0, 1, 2, 3, 4, 5])
    factors = np.array([[0, 0], [0, 0], [1, 0], [1, 1], [2, 1], [2, 1]])
    result = factor_agreement(aux, factors, ["hue", "shape"])
    assert list(result) == ["hue", "shape"]
    assert result["hue"]["homogeneity"] == pytest.approx(1.0)
    assert result["hue"]["completeness"] < 1.0
    merged = factor_agreement(np.zeros(6, dtype=int), factors, ["hue", "shape"])
    assert merged["hue"]["completeness"] == pytest.approx(1.0)
    assert merged["hue"]["homogeneity"] == pytest.approx(0.0)
    assert merged["hue"]["nmi"] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="one column per factor name"):
        factor_agreement(aux, factors, ["hue"])
    with pytest.raises(ValueError, match="distinct"):
        factor_agreement(aux, factors, ["hue", "hue"])


def test_contingency_rows_are_auxiliary_labels() -> None:
    table = contingency([1, 1, 0, 2], ["b", "a", "a", "b"])
    assert table.tolist() == [[1, 0], [1, 1], [0, 1]]
    with pytest.raises(ValueError, match="a 1-D array of 4 labels"):
        contingency([1, 1, 0, 2], ["a"])
