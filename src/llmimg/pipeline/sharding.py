"""Bulk generation on N processes (torchrun): each draws a contiguous share of a request's prompts.

A prompt's images keep their global index and seeds (seed + k, prompt-major), and an image depends only on
(model, prompt, seed) (see ROWS_PER_PASS in pipeline/sampling.py), so N processes write exactly the files one
would.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from llmimg.device import pick_device
from llmimg.distributed import World, barrier, close_world, init_world, local_device, shard_bounds
from llmimg.pipeline.request import GenerationRequest, next_seed


@dataclass
class GenerationWorld:
    """This process's place in a sharded generation, and the device it draws on."""

    world: World
    device: torch.device

    @property
    def size(self) -> int:
        return self.world.size

    def finish(self) -> bool:
        """Wait for every rank's files, leave the group; True on the rank that writes the summary (rank 0)."""
        barrier(self.world)
        close_world(self.world)
        return self.world.is_main


def shard_request(request: GenerationRequest, device: str = "auto"
                  ) -> tuple[GenerationWorld, GenerationRequest | None, int]:
    """(world, this rank's sub-request or None when it has no prompt, global index of its first image)."""
    target = local_device(pick_device(device))
    world = init_world(target, backend="gloo")  # only barriers travel between ranks: Gloo serves GPUs too
    start, stop = shard_bounds(len(request.prompts), world)
    if start == stop:
        return GenerationWorld(world, target), None, 0
    mine = replace(request, prompts=request.prompts[start:stop], seed=next_seed(request.seed, start * request.n))
    return GenerationWorld(world, target), mine, start * request.n
