"""Which latent axes belong to which task in Domain Expansion (arXiv 2601.20069).

The paper gives every task one eigen-axis. The authors' code also allows a multi-dimensional
subspace per task, and a many-class task placed on a single axis learns slowly (its classes must
line up on one line, so they reorder only by crossing each other), so a class task may own
``class_axes`` consecutive axes. Regression and angle tasks keep one axis each. Columns are laid
out in task order: with tasks (digit, angle) and ``class_axes=4``, digit owns columns 0-3 and angle
column 4.
"""

from collections.abc import Sequence

from orthomtl.tasks import Task

TaskAxes = list[tuple[int, ...]]


def task_axes(tasks: Sequence[Task], class_axes: int = 1) -> TaskAxes:
    """Per task, in order, the coefficient columns it owns (consecutive).

    Args:
        tasks: the tasks, in column order.
        class_axes: axes per class task (≥ 1); other tasks get one.
    """
    if isinstance(class_axes, bool) or not isinstance(class_axes, int) or class_axes < 1:
        raise ValueError(f"class_axes must be an integer >= 1, got {class_axes!r}.")
    layout: TaskAxes = []
    start = 0
    for task in tasks:
        size = class_axes if task.kind == "classification" else 1
        layout.append(tuple(range(start, start + size)))
        start += size
    return layout


def axes_count(layout: Sequence[Sequence[int]]) -> int:
    """The number of axes M of a layout."""
    return sum(len(columns) for columns in layout)


def check_layout(layout: Sequence[Sequence[int]], tasks: Sequence[Task], columns: int) -> TaskAxes:
    """``layout`` as tuples, checked: one non-empty group per task, each column of ``columns``
    used exactly once."""
    groups = [tuple(int(c) for c in group) for group in layout]
    if len(groups) != len(tasks):
        raise ValueError(
            f"axes must give one group of columns per task ({len(tasks)}), got {groups}."
        )
    used = sorted(c for group in groups for c in group)
    if any(not group for group in groups) or used != list(range(columns)):
        raise ValueError(
            f"axes {groups} must split the {columns} coefficient columns into non-empty groups, "
            "each column used once."
        )
    return groups
