"""How discovered auxiliary labels relate to the principal labels and to known factors.

The paper reports the normalised and adjusted mutual information (NMI, AMI) between principal and
auxiliary labels (near 0: the new task is unrelated; section 5.3, Table 3) and, on 3D Shapes,
the homogeneity and completeness of the auxiliary labels against the object-hue factor (0.999,
section 5.1). We add Pearson's χ² test of independence on the contingency table, without Yates's
continuity correction.
"""

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import chi2_contingency
from sklearn.metrics import (
    adjusted_mutual_info_score,
    homogeneity_completeness_v_measure,
    normalized_mutual_info_score,
)
from sklearn.metrics.cluster import contingency_matrix


def _labelling(values: ArrayLike, name: str, n: int | None = None) -> NDArray[np.generic]:
    array = np.asarray(values)
    if array.ndim != 1 or len(array) == 0 or (n is not None and len(array) != n):
        need = "a non-empty 1-D array" if n is None else f"a 1-D array of {n} labels"
        raise ValueError(f"{name} must be {need}, got shape {array.shape}.")
    return array


def label_agreement(principal: ArrayLike, aux: ArrayLike) -> dict[str, float]:
    """Agreement between the principal and the auxiliary labels of the same N points.

    Returns:
        ``nmi`` and ``ami`` (arithmetic normalisation, scikit-learn's default), ``chi2`` (the
        statistic), ``chi2_dof`` and ``chi2_p_value`` of the independence test; a p-value near 0
        means the labellings are dependent.
    """
    aux_array = _labelling(aux, "aux")
    principal_array = _labelling(principal, "principal", len(aux_array))
    table = contingency_matrix(principal_array, aux_array)
    test = chi2_contingency(table, correction=False)
    return {
        "nmi": float(normalized_mutual_info_score(principal_array, aux_array)),
        "ami": float(adjusted_mutual_info_score(principal_array, aux_array)),
        "chi2": float(test.statistic),
        "chi2_dof": float(test.dof),
        "chi2_p_value": float(test.pvalue),
    }


def factor_agreement(
    aux: ArrayLike, factors: ArrayLike, factor_names: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Per known factor, how well the auxiliary labels recover it.

    Args:
        aux: (N,) auxiliary labels.
        factors: (N, F) discrete factor values (e.g. 3D Shapes' object hue as class indices).
        factor_names: the F factor names, distinct.

    Returns:
        ``{name: {"homogeneity", "completeness", "nmi"}}``: homogeneity is 1 when each auxiliary
        label holds one factor value, completeness is 1 when each factor value lies in one label.
    """
    aux_array = _labelling(aux, "aux")
    table = np.asarray(factors)
    names = list(factor_names)
    if table.ndim != 2 or len(table) != len(aux_array) or table.shape[1] != len(names):
        raise ValueError(
            f"factors must be an (N, F) array with N = {len(aux_array)} and F = {len(names)} "
            f"(one column per factor name), got shape {table.shape}."
        )
    if len(set(names)) != len(names):
        raise ValueError(f"factor_names must be distinct, got {names}.")
    result = {}
    for name, column in zip(names, table.T, strict=True):
        homogeneity, completeness, _ = homogeneity_completeness_v_measure(column, aux_array)
        result[name] = {
            "homogeneity": float(homogeneity),
            "completeness": float(completeness),
            "nmi": float(normalized_mutual_info_score(column, aux_array)),
        }
    return result


def contingency(aux: ArrayLike, factor: ArrayLike) -> NDArray[np.int64]:
    """Point counts per (auxiliary label, factor value): rows the sorted distinct auxiliary
    labels, columns the sorted distinct factor values."""
    aux_array = _labelling(aux, "aux")
    factor_array = _labelling(factor, "factor", len(aux_array))
    return np.asarray(contingency_matrix(aux_array, factor_array), dtype=np.int64)
