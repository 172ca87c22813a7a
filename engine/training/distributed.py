"""Running the same training command under ``torchrun``: DistributedDataParallel, with the
recording done by rank 0 alone."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from engine.errors import NnreelError


@dataclass(frozen=True)
class Cluster:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


def pick_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    """``auto`` prefers CUDA, then Apple's MPS, then the CPU."""
    if name != "auto":
        try:
            return torch.device(name)
        except RuntimeError:
            raise NnreelError(
                f"Unknown device {name!r}: use auto, cpu, cuda, cuda:N or mps."
            ) from None
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank)
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def join_cluster(device: torch.device) -> Cluster:
    """Join the process group torchrun set up (gloo on CPU, nccl on CUDA), if any."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Cluster()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Cluster(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))


def leave_cluster(cluster: Cluster) -> None:
    if cluster.distributed and dist.is_initialized():
        dist.destroy_process_group()
