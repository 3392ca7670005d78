"""Training throughput: images per second of DCGAN training iterations (one D step and one G step,
batch 64) at 32 and 64 px on the current device, for ``gan_helpers.train.GANTrainer`` and for a plain
loop of the pytorch/examples ``dcgan/main.py`` kind (a DataLoader over PIL images with torchvision
transforms, the same models and losses), measured side by side in one run.

    python benchmarks/train_throughput.py [--iterations 20] [--repeats 5] [--sizes 32 64] [--width 64]

Prints one JSON object: per size, the median images/s of each loop over ``--repeats`` timed blocks
(the order of the two loops alternates between blocks), and their ratio.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from gan_helpers.data import draw_mouse_face
from gan_helpers.losses import discriminator_loss, generator_loss
from gan_helpers.models import Discriminator, Generator
from gan_helpers.runtime import resolve_device
from gan_helpers.train import GANTrainer, TrainConfig


class PILMice(Dataset):
    """What a plain loop reads: PIL images through torchvision transforms, every time."""

    def __init__(self, n: int, size: int):
        import numpy as np
        rng = np.random.default_rng(0)
        self.images = [draw_mouse_face(rng, size, ("white", "grey", "brown")[i % 3])[0] for i in range(n)]
        self.tf = transforms.Compose([transforms.Resize(size), transforms.CenterCrop(size), transforms.ToTensor(),
                                      transforms.Normalize((0.5,) * 3, (0.5,) * 3)])

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.tf(self.images[i])


def plain_loop(loader, G, D, opt_g, opt_d, nz, device, iterations):
    """pytorch/examples dcgan/main.py: (1) update D on real + fake, (2) update G; the same losses."""
    done = 0
    while True:
        for real in loader:
            real = real.to(device)
            z = torch.randn(real.size(0), nz, device=device)
            fake = G(z)
            loss = discriminator_loss(D(real), D(fake.detach()))
            opt_d.zero_grad()
            loss.total.backward()
            opt_d.step()
            g = generator_loss(D(fake))
            opt_g.zero_grad()
            g.backward()
            opt_g.step()
            done += 1
            if done == iterations:
                if device.type == "cuda":
                    torch.cuda.synchronize()
                return


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--sizes", type=int, nargs="+", default=[32, 64])
    ap.add_argument("--width", type=int, default=64, help="ngf = ndf")
    ap.add_argument("--n-images", type=int, default=512)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    device = resolve_device(args.device)
    B = 64
    out = {"device": str(device), "torch": torch.__version__, "threads": torch.get_num_threads(),
           "cpu": platform.processor() or platform.machine(), "batch_size": B, "width": args.width,
           "iterations_per_block": args.iterations, "repeats": args.repeats, "sizes": {}}
    for size in args.sizes:
        ds = PILMice(args.n_images, size)
        images = torch.stack([ds[i] for i in range(len(ds))])
        trainer = GANTrainer(images, TrainConfig(image_size=size, ngf=args.width, ndf=args.width, batch_size=B,
                                                 device=str(device), log_paper_losses=False,
                                                 channels_last=True, amp=device.type == "cuda"))
        loader = DataLoader(ds, batch_size=B, shuffle=True, drop_last=True, num_workers=0)
        G, D = Generator(100, args.width, 3, size).to(device), Discriminator(args.width, 3, size).to(device)
        opt_g = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))

        def run_trainer():
            trainer.fit(trainer.iteration + args.iterations, progress=False)
            if device.type == "cuda":
                torch.cuda.synchronize()

        def run_plain():
            plain_loop(loader, G, D, opt_g, opt_d, 100, device, args.iterations)

        run_trainer(), run_plain()  # warm-up
        times = {"gan_helpers": [], "plain_loop": []}
        for rep in range(args.repeats):
            order = [("gan_helpers", run_trainer), ("plain_loop", run_plain)]
            for name, fn in (order if rep % 2 == 0 else order[::-1]):
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
        ips = {k: B * args.iterations / statistics.median(v) for k, v in times.items()}
        out["sizes"][str(size)] = {"images_per_s": {k: round(v, 1) for k, v in ips.items()},
                                   "ratio_gan_helpers_over_plain": round(ips["gan_helpers"] / ips["plain_loop"], 2)}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
