"""Training on several processes: the process group that ``torchrun`` describes in the environment.

``torchrun --nproc-per-node N -m stqs_core.cli train ...`` starts N processes with ``WORLD_SIZE``, ``RANK`` and
``LOCAL_RANK`` set; :func:`process_group` joins them (gloo: the trainer runs on the CPU) and
:class:`~stqs_core.training.loop._Run` then trains both stages with
:class:`~torch.nn.parallel.DistributedDataParallel`: each rank reads its share of the training recordings
(``train[rank::world_size]``; in the ``sequence`` stage its nights, in groups of ``nights_per_batch``), DDP averages
the gradients, ranks with fewer steps join early (:class:`~torch.distributed.algorithms.join.Join`). The reported
training loss and epoch count are summed over ranks.

Batch-norm running statistics are per rank by nature; DDP's default buffer synchronisation
(``broadcast_buffers=True``) copies rank 0's to every rank before each forward, so the model keeps the statistics of
rank 0's share. The convolution biases that batch norm cancels get no gradient in :mod:`~stqs_core.fastconv`'s
training path, hence ``find_unused_parameters=True``.

Validation runs on every rank over all validation recordings and the early-stopping value is rank 0's (broadcast),
so every rank stops at the same pass. Only rank 0 writes the
model, its card, the logs and the resume file (on several nodes, ``out`` must be on a shared file system for
``--resume``). Without ``WORLD_SIZE`` (or with 1) no process group is made and training is unchanged.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from .errors import StqsError

logger = logging.getLogger(__name__)

BACKEND = "gloo"
"""The trainer keeps tensors on the CPU, where gloo is the collective backend (NCCL needs CUDA tensors)."""


@dataclass(frozen=True)
class Group:
    """The calling process's place in a distributed run.

    Parameters
    ----------
    rank : int
        This process's rank, 0 to ``world_size - 1``.
    world_size : int
        The number of processes.
    """

    rank: int
    world_size: int

    @property
    def main(self) -> bool:
        """True on rank 0, the process that writes files."""
        return self.rank == 0

    def broadcast_float(self, value: float) -> float:
        """Rank 0's value on every rank.

        Parameters
        ----------
        value : float
            This rank's value.

        Returns
        -------
        float
        """
        import torch.distributed as dist

        t = torch.tensor([value], dtype=torch.float64)
        dist.broadcast(t, src=0)
        return float(t.item())

    def sum(self, *values: float) -> list[float]:
        """The sums over ranks of some values.

        Parameters
        ----------
        *values : float
            This rank's values.

        Returns
        -------
        list of float
        """
        import torch.distributed as dist

        t = torch.tensor(values, dtype=torch.float64)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t.tolist()

    def weight_spread(self, module: torch.nn.Module) -> float:
        """Largest absolute difference between any rank's floating-point state (weights and buffers) and rank 0's.

        Parameters
        ----------
        module : torch.nn.Module
            The model, replicated on every rank.

        Returns
        -------
        float
            0 when the ranks agree exactly.
        """
        import torch.distributed as dist

        state = [v.detach().reshape(-1).double() for v in module.state_dict().values() if v.is_floating_point()]
        mine = torch.cat(state)
        first = mine.clone()
        dist.broadcast(first, src=0)
        diff = (mine - first).abs().max().reshape(1)
        dist.all_reduce(diff, op=dist.ReduceOp.MAX)
        return float(diff.item())


SINGLE = Group(0, 1)


@contextlib.contextmanager
def process_group() -> Iterator[Group]:
    """The :class:`Group` of this process, as a context manager.

    :data:`SINGLE` unless launched by ``torchrun`` with ``WORLD_SIZE`` > 1, then the default process group
    (initialised here from the environment and destroyed on exit, unless the caller initialised it already).

    Yields
    ------
    Group
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        yield SINGLE
        return
    import torch.distributed as dist

    if not dist.is_available():
        raise StqsError("WORLD_SIZE > 1 but this torch build has no torch.distributed; launch a single process")
    owner = not dist.is_initialized()
    if owner:
        dist.init_process_group(BACKEND)
    group = Group(dist.get_rank(), dist.get_world_size())
    logger.info("distributed training: rank %d of %d (%s)", group.rank, group.world_size, dist.get_backend())
    try:
        yield group
        if owner:
            dist.barrier()  # no rank tears gloo down while another still talks to it (one aborted in CI otherwise)
    finally:
        if owner:
            dist.destroy_process_group()
