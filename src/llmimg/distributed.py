"""Several processes on PyTorch's own distributed engine: one per GPU (NCCL) or CPU process (Gloo), under torchrun.

    torchrun --nproc_per_node=2 -m llmimg train --data shapes --out runs/ddp --batch-size 64

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK; without them everything here is a no-op for one process, so the same
command runs single-process. Training (training/trainer.py) and bulk generation (cli/generate.py) use it.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    """This process's place among all of them."""

    rank: int = 0  # 0 .. size - 1; rank 0 logs, writes samples, checkpoints and exports
    size: int = 1  # number of processes
    local_rank: int = 0  # rank on this host: picks the GPU

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.size > 1


SINGLE = World()  # the one process of a run without torchrun


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_world(device: torch.device, backend: str | None = None) -> World:
    """Join the process group torchrun set up (NCCL for CUDA, Gloo for CPU); a lone process gets World()."""
    if not launched_by_torchrun():
        return SINGLE
    if not dist.is_initialized():
        backend = backend or ("nccl" if device.type == "cuda" else "gloo")
        dist.init_process_group(backend=backend, device_id=device if backend == "nccl" else None)
    return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def local_device(device: torch.device) -> torch.device:
    """cuda -> cuda:LOCAL_RANK under torchrun (one GPU per process); other devices unchanged."""
    if device.type == "cuda" and device.index is None and launched_by_torchrun():
        index = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(index)
        return torch.device("cuda", index)
    return device


def close_world(world: World) -> None:
    if world.active and dist.is_initialized():
        dist.destroy_process_group()


def barrier(world: World) -> None:
    if world.active:
        dist.barrier()


def shard_bounds(count: int, world: World) -> tuple[int, int]:
    """This rank's contiguous [start, stop) of `count` items: sizes differ by at most one, earlier ranks larger."""
    base, extra = divmod(count, world.size)
    start = world.rank * base + min(world.rank, extra)
    return start, start + base + (1 if world.rank < extra else 0)


def broadcast_parameters(modules: list[torch.nn.Module], world: World) -> None:
    """Make every rank start from rank 0's weights and buffers."""
    if world.active:
        for module in modules:
            for tensor in list(module.parameters()) + list(module.buffers()):
                dist.broadcast(tensor.data, src=0)


def average_gradients(parameters: list[torch.nn.Parameter], world: World) -> None:
    """All-reduce the gradients of `parameters` to their mean over ranks, in one flat buffer.

    This is what DistributedDataParallel does, written out (as StyleGAN3's training loop does) because the GAN step
    does not fit DDP's one-forward-one-backward model: the critic runs in two phases with its gradients switched
    off in between, and R1 differentiates twice. Each rank's loss is the mean over its equal share of the global
    batch, so the mean of the ranks' gradients is the gradient of the global batch.
    """
    if not world.active:
        return
    with_grad = [p for p in parameters if p.grad is not None]
    if not with_grad:
        return
    flat = torch.cat([p.grad.reshape(-1) for p in with_grad])
    dist.all_reduce(flat)
    flat /= world.size
    for parameter, chunk in zip(with_grad, flat.split([p.numel() for p in with_grad])):
        parameter.grad.copy_(chunk.view_as(parameter.grad))


def all_sum(values: list[float], world: World, device: torch.device) -> list[float]:
    """Element-wise sum of a few numbers over ranks (for logged metrics)."""
    if not world.active:
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def any_rank(flag: bool, world: World, device: torch.device) -> bool:
    """True on every rank when `flag` is true on any (e.g. a stop signal that reached one process)."""
    if not world.active:
        return flag
    tensor = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return bool(tensor.item())


def gather_objects(value, world: World) -> list:
    """[value of rank 0, value of rank 1, ...] on every rank."""
    if not world.active:
        return [value]
    gathered = [None] * world.size
    dist.all_gather_object(gathered, value)
    return gathered


def broadcast_object(value, world: World):
    """Rank 0's value, on every rank."""
    if not world.active:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def fingerprint(modules: list[torch.nn.Module]) -> str:
    """sha256 of every parameter's and buffer's bytes: equal on two ranks exactly when their weights are equal."""
    digest = hashlib.sha256()
    for module in modules:
        for name, tensor in module.state_dict().items():
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
