"""What tests/test_distributed.py runs under ``torchrun`` (and, for the references, in one plain process).

    python tests/distributed_worker.py OUT ITERATIONS
    torchrun --standalone --nproc_per_node=2 tests/distributed_worker.py OUT ITERATIONS

First SyncBatchNorm2d on each process's slice against nn.BatchNorm2d on the whole batch (rank 0 writes the
largest differences under ``syncbn``); then three small GANs (batch norm in G and D, DiffAugment, joint batch,
two G steps, a moving average; S3GAN with rotations and a class head; the same without augmentation) trained
``ITERATIONS`` iterations; after every iteration every process's parameters and buffers are gathered and
compared; rank 0 writes the largest difference between ranks, the records and the final weights.
"""
import json
import sys
from pathlib import Path

import torch

from gan_helpers import distributed
from gan_helpers.models import Discriminator, Generator, ProjectionDiscriminator, SharedEmbedGenerator
from gan_helpers.objectives import DCGANLoss, S3GANLoss
from gan_helpers.train import GANTrainer, TrainConfig


def data():
    g = torch.Generator().manual_seed(0)
    return torch.rand(48, 3, 32, 32, generator=g) * 2 - 1, torch.arange(48) % 4


def trainer(kind: str) -> GANTrainer:
    images, labels = data()
    torch.manual_seed(0)
    cfg = dict(batch_size=16, device="cpu", seed=3, amp=False)
    if kind == "dcgan":  # everything that touches batch statistics or random draws
        return GANTrainer(images, Generator(16, 8, 3, 32), Discriminator(8, 3, 32), DCGANLoss(joint_batch=True),
                          TrainConfig(**cfg, augment="color,translation,cutout", g_steps_per_d_step=2, ema_decay=0.5))
    if kind == "dcgan_plain":  # what a 1-process run must reproduce: the same global batch, one set of statistics
        return GANTrainer(images, Generator(16, 8, 3, 32), Discriminator(8, 3, 32), DCGANLoss(), TrainConfig(**cfg))
    if kind == "s3gan":
        return GANTrainer(images, SharedEmbedGenerator(16, 8, 4, 32, embed_dim=4),
                          ProjectionDiscriminator(8, 4, 32, rotation_head=True, class_head=True),
                          S3GANLoss(predictor=True, rotation=True), TrainConfig(**cfg, augment="translation"),
                          labels=torch.where(torch.arange(48) < 12, labels, -1), eval_labels=labels)
    raise ValueError(kind)


def flat(t: GANTrainer) -> torch.Tensor:
    tensors = [*t.G.state_dict().values(), *t.D.state_dict().values()]
    return torch.cat([v.detach().float().flatten() for v in tensors])


def lockstep(out: Path, iterations: int) -> None:
    w = distributed.init_from_env(torch.device("cpu"))
    result = {"world_size": w.size, "syncbn": syncbn(w)}
    for kind in ("dcgan", "dcgan_plain", "s3gan"):
        t = trainer(kind)
        worst = 0.0
        for _ in range(iterations):
            t.train_iteration()
            v = flat(t)
            if w.size > 1:
                everyone = [torch.empty_like(v) for _ in range(w.size)]
                torch.distributed.all_gather(everyone, v)
                worst = max(worst, max(float((e - everyone[0]).abs().max()) for e in everyone))
        result[kind] = {"max_rank_difference": worst, "history": {k: t.history[k] for k in ("d_loss", "g_loss")},
                        "local_batch": t.local_batch}
        if w.main:
            torch.save({"G": t.G.state_dict(), "D": t.D.state_dict()}, out.with_name(f"{out.stem}_{kind}.pt"))
    if w.main:
        out.write_text(json.dumps(result))
    distributed.shutdown()


def syncbn(w: distributed.World) -> dict[str, float]:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(8, 5, 6, 6, generator=g) * 3 + 1
    weight = torch.randn(8, 5, 6, 6, generator=g)
    ref = torch.nn.BatchNorm2d(5)
    with torch.no_grad():
        ref.weight.uniform_(0.5, 1.5, generator=g)
        ref.bias.uniform_(-0.5, 0.5, generator=g)
    sync = distributed.convert_sync_batchnorm(torch.nn.Sequential(torch.nn.BatchNorm2d(5)))[0]
    sync.load_state_dict(ref.state_dict())
    xr = x.clone().requires_grad_()
    yr = ref(xr)
    (yr * weight).sum().backward()  # the whole batch, one process
    b = 8 // w.size
    sl = slice(w.rank * b, (w.rank + 1) * b)
    xs = x[sl].clone().requires_grad_()
    ys = sync(xs)
    (ys * weight[sl]).sum().backward()  # each process its slice; the loss is the sum over the global batch
    wgrad = sync.weight.grad.clone()
    if w.size > 1:
        torch.distributed.all_reduce(wgrad)  # what DistributedDataParallel sums (then divides by the world size)
    with torch.no_grad():
        return {"output": float((ys - yr[sl]).abs().max()), "input_grad": float((xs.grad - xr.grad[sl]).abs().max()),
                "weight_grad": float((wgrad - ref.weight.grad).abs().max()),
                "running_mean": float((sync.running_mean - ref.running_mean).abs().max()),
                "running_var": float((sync.running_var - ref.running_var).abs().max())}


if __name__ == "__main__":
    lockstep(Path(sys.argv[1]), int(sys.argv[2]))
    distributed.exit(0)  # gloo's threads can abort the process in Python's shutdown (see distributed.exit)
