"""Training throughput of DCGAN iterations (one D step and one G step, batch 64), every option side by side.

Contenders, each timed in the same run, in blocks that alternate their order (medians of ``--repeats``):

* ``plain_loop``: a loop of the pytorch/examples ``dcgan/main.py`` kind: a ``DataLoader`` over PIL
  images with torchvision transforms, float32, the same models and losses, D's weight gradient
  computed in G's step;
* ``trainer_fp32``: :class:`gan_helpers.train.GANTrainer`, float32, contiguous tensors;
* ``trainer_channels_last``: the same, channels-last;
* ``trainer`` (**the notebooks' settings**): channels-last and bf16 autocast (on CPUs with
  AVX512-BF16 or AMX, and CUDA), G run once per iteration (``TrainConfig.reuse_fake``: the G step
  reuses the D step's G(z)); its ratio to ``plain_loop`` is ``sizes.<px>.ratio_gan_helpers_over_plain``;
* ``trainer_recompute_fake``: ``trainer`` with ``reuse_fake=False`` (G runs again in its step, as before);
* ``trainer_compiled``: ``trainer`` with ``torch.compile`` on G and D (compilation not timed);
* ``vmap_3_seeds``: three seeds' G and D stacked with ``torch.func.stack_module_state`` and run under
  ``vmap`` (one program for an experiment's seeds), images/s summed over the seeds;
* ``two_processes``: two single-threaded trainings side by side (``gan_helpers.runtime.run_tasks``, what
  the notebooks do with their seeds and arms), images/s summed; timed in a second phase, alternating with
  plain-loop blocks (``plain_loop_beside_two_processes``) that its ratio is taken to, with no pool alive in the
  first (see the note in ``main``).

It also counts the FLOPs of one ``trainer`` iteration (``torch.utils.flop_counter``), so each contender's
achieved FLOP/s can be set beside this machine's measured matmul peak in float32 and bf16.

**Quiet blocks.** This 2-vCPU host is shared, and it is not always all ours. A trainer timed in blocks of 10
iterations for 100 s ran at ~1,850 images/s and, in phases of 10-60 s, at ~1,300; in those phases one bf16
convolution forward and backward (a DCGAN D layer) took ~4.0 ms instead of ~2.4, while a float32 matmul ran at
its usual speed. Those phases slow the bf16 trainer and hardly the float32 plain loop, so a run that fell in one
gave a lower ratio (1.37-1.53 against 1.65-1.73 out of them). So on the CPU every timed block is framed by that
*canary* convolution (best of 3, before and after the block, in the trainer's dtype); a block is *quiet* when
both canaries run at >= ``QUIET`` of the run's uncontended canary speed (its 10th-percentile time). Each
contender's images/s is the median of its quiet blocks (of all its blocks where fewer than ``MIN_QUIET_BLOCKS``
were quiet; ``quiet_blocks`` says how many), and ``ratio_over_plain_all_blocks`` keeps the medians over every
block beside it. The rule picks blocks by the canary alone, the same for every contender.

    python benchmarks/train_throughput.py [--sizes 32 64] [--width 32] [--iterations 20] [--repeats 5]

Prints one JSON object. Speed is measured here, never asserted in tests.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import time

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from gan_helpers.datasets.mice import draw_mouse_face
from gan_helpers.losses import discriminator_loss, generator_loss
from gan_helpers.models import Discriminator, Generator
from gan_helpers.runtime import amp_enabled, resolve_device
from gan_helpers.train import GANTrainer, TrainConfig

B, NZ = 64, 100
# A block is quiet when the canaries around it run at >= QUIET x the run's uncontended canary speed. In the
# contended phases the canary ran at ~0.6x (4.0 against 2.4 ms); out of them it varied by about +-10%: 0.8 splits them.
QUIET = 0.8
MIN_QUIET_BLOCKS = 3


class PILMice(Dataset):
    """What a plain loop reads: PIL images through torchvision transforms, every time."""

    def __init__(self, n: int, size: int):
        rng = np.random.default_rng(0)
        self.images = [draw_mouse_face(rng, size, ("white", "grey", "brown")[i % 3])[0] for i in range(n)]
        self.tf = transforms.Compose([transforms.Resize(size), transforms.CenterCrop(size), transforms.ToTensor(),
                                      transforms.Normalize((0.5,) * 3, (0.5,) * 3)])

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.tf(self.images[i])


def plain_loop(loader, G, D, opt_g, opt_d, device, iterations):
    """pytorch/examples dcgan/main.py: (1) update D on real + fake, (2) update G; the same losses."""
    done = 0
    while True:
        for real in loader:
            real = real.to(device)
            fake = G(torch.randn(real.size(0), NZ, device=device))
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
                return


def make_trainer(images, width, device, amp, channels_last, seed=0, reuse_fake=True):
    size = images.shape[-1]
    torch.manual_seed(seed)
    return GANTrainer(images, Generator(NZ, width, 3, size), Discriminator(width, 3, size), None,
                      TrainConfig(batch_size=B, device=str(device), amp=amp, channels_last=channels_last, seed=seed,
                                  reuse_fake=reuse_fake))


def vmap_step_fn(images, width, seeds=3):
    """One program for several seeds: G and D of each seed stacked, vmapped; Adam on the stacked tensors."""
    from torch.func import functional_call, stack_module_state, vmap

    size = images.shape[-1]
    Gs, Ds = [], []
    for s in range(seeds):
        torch.manual_seed(s)
        Gs.append(Generator(NZ, width, 3, size))
        Ds.append(Discriminator(width, 3, size))
    gp, gb = stack_module_state(Gs)
    dp, db = stack_module_state(Ds)
    g0, d0 = copy.deepcopy(Gs[0]).to("meta"), copy.deepcopy(Ds[0]).to("meta")
    opt_g = torch.optim.Adam(list(gp.values()), 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(list(dp.values()), 2e-4, betas=(0.5, 0.999))
    G = lambda z: vmap(lambda p, b, z: functional_call(g0, (p, b), (z,)), randomness="different")(gp, gb, z)
    D = lambda x: vmap(lambda p, b, x: functional_call(d0, (p, b), (x,)), randomness="different")(dp, db, x)
    gen = torch.Generator().manual_seed(0)

    def run(iterations):
        for _ in range(iterations):
            real = images[torch.randint(0, len(images), (seeds, B), generator=gen)]
            z = torch.randn(seeds, B, NZ, generator=gen)
            with torch.autocast("cpu", torch.bfloat16):
                with torch.no_grad():
                    fake = G(z)
                loss = discriminator_loss(D(real).flatten(), D(fake).flatten()).total * seeds
            opt_d.zero_grad()
            loss.backward()
            opt_d.step()
            for p in dp.values():
                p.requires_grad_(False)
            with torch.autocast("cpu", torch.bfloat16):
                g = generator_loss(D(G(z)).flatten()) * seeds
            opt_g.zero_grad()
            g.backward()
            opt_g.step()
            for p in dp.values():
                p.requires_grad_(True)
    return run


_WORKER: dict = {}


def worker_block(images, width, iterations, seed):
    """In a worker process: keep one trainer and run ``iterations`` more; return the seconds taken."""
    key = (tuple(images.shape), width, seed)  # one trainer per image size: never reuse another size's
    if key not in _WORKER:
        _WORKER[key] = make_trainer(images, width, torch.device("cpu"), True, True, seed)
        _WORKER[key].fit(2)
    t = _WORKER[key]
    t0 = time.perf_counter()
    t.fit(t.iteration + iterations)
    return time.perf_counter() - t0


def matmul_peak(dtype, n=2048, reps=8) -> float:
    """Measured FLOP/s of an n x n matmul in ``dtype`` on this machine (the practical peak)."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    a @ b
    best = 0.0
    for _ in range(reps):
        t0 = time.perf_counter()
        a @ b
        best = max(best, 2 * n ** 3 / (time.perf_counter() - t0))
    return best


class Canary:
    """How fast this machine runs the trainer's kind of work right now: the seconds of one convolution forward and
    backward (64 x 32 x 16 x 16 -> 64 channels, 4x4 stride 2, channels-last: a DCGAN D layer), best of 3 (~8 ms)."""

    def __init__(self, dtype: torch.dtype):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(64, 32, 16, 16, generator=g).to(dtype).contiguous(memory_format=torch.channels_last)
        self.w = (torch.randn(64, 32, 4, 4, generator=g) * 0.02).to(dtype).contiguous(
            memory_format=torch.channels_last).requires_grad_()
        self()

    def __call__(self) -> float:
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            torch.nn.functional.conv2d(self.x, self.w, stride=2, padding=1).float().square().mean().backward()
            best = min(best, time.perf_counter() - t0)
        self.w.grad = None
        return best


def quiet_mask(before: list[float], after: list[float], fastest: float) -> list[bool]:
    """Blocks whose canaries, before and after, both took <= ``fastest`` / QUIET seconds."""
    return [max(b, a) <= fastest / QUIET for b, a in zip(before, after)]


def time_blocks(contenders: dict, repeats: int, iterations: int, canary, device) -> tuple[dict, dict]:
    """Time ``repeats`` blocks of ``iterations`` per contender, in rounds that alternate their order (the plain
    loop first and the trainer next to it, so those two are neighbours both ways); on the CPU each block framed by
    the canary. Returns the seconds per block and the (before, after) canary times per contender."""
    for fn, _ in contenders.values():
        fn(2)  # warm-up
    times = {k: [] for k in contenders}
    canaries = {k: ([], []) for k in contenders}
    names = sorted(contenders, key=lambda k: (k != "plain_loop", k != "trainer"))
    for rep in range(repeats):
        for name in (names if rep % 2 == 0 else names[::-1]):
            fn, _ = contenders[name]
            if canary:
                canaries[name][0].append(canary())
            t0 = time.perf_counter()
            fn(iterations)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times[name].append(time.perf_counter() - t0)
            if canary:
                canaries[name][1].append(canary())
    return times, canaries


def flops_per_iteration(trainer) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        trainer.train_iteration()
    return int(counter.get_total_flops())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--sizes", type=int, nargs="+", default=[32, 64])
    ap.add_argument("--width", type=int, default=32, help="ngf = ndf (the notebooks: 32)")
    ap.add_argument("--n-images", type=int, default=512)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--skip", nargs="*", default=[], help="contenders to leave out")
    args = ap.parse_args()
    device = resolve_device(args.device)
    on_cpu = device.type == "cpu"
    out = {"device": str(device), "torch": torch.__version__, "threads": torch.get_num_threads(),
           "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "batch_size": B,
           "width": args.width, "iterations_per_block": args.iterations, "repeats": args.repeats, "sizes": {},
           # other processes on the machine: the 1-, 5- and 15-minute load averages at the start and the end
           "load_average": {"start": [round(x, 2) for x in os.getloadavg()]}}
    if on_cpu:
        out["matmul_peak_flops"] = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16)}
    canary = Canary(torch.bfloat16 if amp_enabled(True, device) else torch.float32) if on_cpu else None
    use_pool = on_cpu and "two_processes" not in args.skip
    for size in args.sizes:
        ds = PILMice(args.n_images, size)
        images = torch.stack([ds[i] for i in range(len(ds))])
        loader = DataLoader(ds, batch_size=B, shuffle=True, drop_last=True, num_workers=0)
        torch.manual_seed(0)
        G, D = Generator(NZ, args.width, 3, size).to(device), Discriminator(args.width, 3, size).to(device)
        opt_g = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))
        trainers = {"trainer_fp32": make_trainer(images, args.width, device, False, False),
                    "trainer_channels_last": make_trainer(images, args.width, device, False, True),
                    "trainer": make_trainer(images, args.width, device, True, True),
                    "trainer_recompute_fake": make_trainer(images, args.width, device, True, True, reuse_fake=False)}
        flops = flops_per_iteration(make_trainer(images, args.width, device, True, True))
        plain = (lambda n: plain_loop(loader, G, D, opt_g, opt_d, device, n), 1)
        contenders = {"plain_loop": plain}
        for name, t in trainers.items():
            contenders[name] = ((lambda t: lambda n: t.fit(t.iteration + n))(t), 1)
        if "trainer_compiled" not in args.skip:
            tc = make_trainer(images, args.width, device, True, True)
            tc.G, tc.D = torch.compile(tc.G), torch.compile(tc.D)
            t0 = time.perf_counter()
            tc.fit(3)
            out.setdefault("compile_s", {})[str(size)] = time.perf_counter() - t0
            contenders["trainer_compiled"] = (lambda n: tc.fit(tc.iteration + n), 1)
        if on_cpu and "vmap_3_seeds" not in args.skip:
            contenders["vmap_3_seeds"] = (vmap_step_fn(images, args.width), 3)
        contenders = {k: v for k, v in contenders.items() if k not in args.skip}
        times, canaries = time_blocks(contenders, args.repeats, args.iterations, canary, device)
        if use_pool:
            # Phase 2: the two worker processes, against plain-loop blocks timed beside them. They are kept out of
            # phase 1: while this process held a pool of (idle) workers, its own contenders ran slower in some
            # runs (the canary at ~2.9 ms against ~2.3), which would have charged the pool to every contender.
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            from gan_helpers.runtime import _init_worker
            with ProcessPoolExecutor(2, mp_context=mp.get_context("spawn"), initializer=_init_worker,
                                     initargs=(1, os.getpid())) as pool:
                list(pool.map(worker_block, [images] * 2, [args.width] * 2, [1] * 2, [0, 1]))  # start, warm
                phase2 = {"plain_loop": plain, "two_processes": (lambda n: list(pool.map(
                    worker_block, [images] * 2, [args.width] * 2, [n] * 2, [0, 1])), 2)}
                t2, c2 = time_blocks(phase2, args.repeats, args.iterations, canary, device)
            for name, key in (("two_processes", "two_processes"), ("plain_loop", "plain_loop_beside_two_processes")):
                times[key], canaries[key], contenders[key] = t2[name], c2[name], phase2[name]
        per_block = {k: B * args.iterations * contenders[k][1] for k in times}  # images per block
        ips_all = {k: per_block[k] / statistics.median(v) for k, v in times.items()}
        ips, quiet = dict(ips_all), {}
        if canary:
            every = [c for before, after in canaries.values() for c in before + after]
            reference = float(np.percentile(every, 10))  # the uncontended canary time
            for k in times:
                mask = quiet_mask(*canaries[k], reference)
                quiet[k] = sum(mask)
                if sum(mask) >= MIN_QUIET_BLOCKS:
                    ips[k] = per_block[k] / statistics.median([t for t, q in zip(times[k], mask) if q])

        def ratios(ips):  # each to the plain loop timed beside it
            return {k: round(v / ips["plain_loop_beside_two_processes" if k == "two_processes" else "plain_loop"], 2)
                    for k, v in ips.items() if k != "plain_loop_beside_two_processes"}
        row = {"images_per_s": {k: round(v, 1) for k, v in ips.items()},
               "amp_active": trainers["trainer"].amp,
               "ratio_gan_helpers_over_plain": round(ips["trainer"] / ips["plain_loop"], 2),
               "ratio_over_plain": ratios(ips),
               "ratio_over_plain_all_blocks": ratios(ips_all),
               "flops_per_iteration": flops,
               "achieved_gflops": {k: round(flops * v / B / 1e9, 1) for k, v in ips.items()}}
        if canary:
            row["quiet_blocks"] = {k: f"{quiet[k]} of {len(times[k])}" for k in times}
            row["canary_ms"] = {"uncontended_p10": round(reference * 1e3, 2), "median": round(statistics.median(
                every) * 1e3, 2), "max": round(max(every) * 1e3, 2), "quiet_at_most": round(reference / QUIET * 1e3, 2)}
        if on_cpu:
            row["share_of_matmul_peak"] = {k: round(flops * v / B / out["matmul_peak_flops"]["bf16" if k in (
                "trainer", "trainer_recompute_fake", "trainer_compiled", "vmap_3_seeds", "two_processes") and
                trainers["trainer"].amp else "fp32"], 3) for k, v in ips.items()}
        if canary:  # every block, for an audit: seconds, canary before and after (ms)
            row["blocks"] = {k: [[round(t, 3), round(b * 1e3, 2), round(a * 1e3, 2)] for t, b, a in zip(
                times[k], *canaries[k])] for k in times}
        out["sizes"][str(size)] = row
    out["load_average"]["end"] = [round(x, 2) for x in os.getloadavg()]
    if on_cpu:
        out["matmul_peak_flops"] = {k: round(v / 1e9, 1) for k, v in out["matmul_peak_flops"].items()}
        out["matmul_peak_unit"] = "GFLOP/s, 2048 x 2048 matmul, best of 8"
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
