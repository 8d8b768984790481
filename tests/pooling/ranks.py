"""Two DDP ranks simulated by threads: each refreshes its own pooling through a ``reduce_sum``
that adds both ranks' tensors, as an all-reduce with sum would."""

import threading
from collections.abc import Callable

from torch import Tensor

from orthomtl.pooling import OrthogonalPooling


def refresh_as_two_ranks(ranks: list[OrthogonalPooling]) -> list[int]:
    """Refresh both poolings at once; returns how many times each called ``reduce_sum``."""
    deposits: list[Tensor] = [Tensor(), Tensor()]
    barrier = threading.Barrier(2)
    calls = [0, 0]

    def reduce_sum_of(index: int) -> Callable[[Tensor], Tensor]:
        def reduce_sum(flat: Tensor) -> Tensor:
            calls[index] += 1
            deposits[index] = flat.clone()
            barrier.wait()
            total = deposits[0] + deposits[1]
            barrier.wait()  # both have read the deposits before the next call overwrites them
            return total

        return reduce_sum

    threads = [
        threading.Thread(target=rank.refresh, args=(reduce_sum_of(i),))
        for i, rank in enumerate(ranks)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return calls
