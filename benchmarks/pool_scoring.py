"""Scoring a pool streamed from a folder of PNG files: parallel decoding against a single process.

Notebook 03's document sorted about 200,000 face images. Each round of its loop reads every image
still in the pool, decodes and resizes it, and runs the classifier (the GAN discriminator's body and
a new head). This benchmark writes ``--n`` PNG files (default 20,000, drawn faces at ``--file-size``
px, as photos would be larger than the network's input) into a temporary folder, then scores them
at ``--image-size`` px with :meth:`gan_helpers.selftrain.ImagePool.batches`:

* ``single``: one process decodes a batch, then scores it (``workers=0``);
* ``workers=K``: ``DataLoader`` worker processes decode while the main process scores;
* ``nproc=N`` (``--nproc N``, N > 1): ``torchrun --nproc_per_node=N -m gan_helpers.tools.score_pool``, each
  process reading and scoring its shard of the files (every N-th), the per-file scores gathered
  (:func:`gan_helpers.selftrain.score_pool`); its rate counts the scoring only, as the tool reports it, and
  ``nproc_launch_s`` the whole launch (process start, imports, the process group).

Blocks alternate (single, workers, nproc, single, ...) and each reports images/s; the medians and their
ratios are printed as JSON, with the time this implies for 200,000 images. The folder is deleted.

    python benchmarks/pool_scoring.py [--nproc 2]   # about 4 minutes on the 2-core machine
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def write_pool(folder: Path, n: int, file_size: int, distinct: int = 500) -> list[str]:
    """``n`` PNG files of drawn faces (``distinct`` different ones, each saved n/distinct times under its own name)."""
    from gan_helpers.datasets import make_faces
    from gan_helpers.images import to_uint8
    from PIL import Image

    faces = to_uint8(make_faces(distinct, file_size, seed=0).images).permute(0, 2, 3, 1).numpy()
    paths = []
    for i in range(n):
        p = folder / f"{i:07d}.png"
        Image.fromarray(faces[i % distinct]).save(p)
        paths.append(str(p))
    return paths


def score(pool, model, index, workers: int, batch_size: int) -> float:
    """Images per second of one pass over ``index``: decode (+ resize) and classify."""
    t0 = time.perf_counter()
    n = 0
    with torch.no_grad():
        for _, images in pool.batches(index, batch_size, workers):
            torch.sigmoid(model(images))
            n += len(images)
    return n / (time.perf_counter() - t0)


def score_nproc(folder: Path, classifier: Path, nproc: int, args) -> tuple[float, float]:
    """(images/s of the scoring as the tool reports it, seconds of the whole launch) for ``nproc`` processes."""
    out = folder.parent / f"{folder.name}_scores.csv"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "gan_helpers.tools.score_pool", "--classifier", str(classifier), "--pool", str(folder),
           "--out", str(out), "--batch-size", str(args.batch_size)]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    launch = time.perf_counter() - t0
    out.unlink(missing_ok=True)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return report["images_per_s"], launch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20_000, help="PNG files to write and score")
    ap.add_argument("--file-size", type=int, default=128, help="side of the PNG files, px")
    ap.add_argument("--image-size", type=int, default=64, help="the classifier's input, px (the document: 64)")
    ap.add_argument("--workers", type=int, default=2, help="DataLoader decoding processes")
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--nproc", type=int, default=1, help="also score with this many processes under torchrun (> 1)")
    ap.add_argument("--blocks", type=int, default=3, help="alternating blocks per method; each scores n/blocks files")
    ap.add_argument("--out", default=None, help="also write the JSON here")
    args = ap.parse_args()

    from gan_helpers.models import Discriminator
    from gan_helpers.runtime import set_threads
    from gan_helpers.selftrain import ImagePool, replace_head, save_classifier

    threads = set_threads()
    load_start = [round(x, 2) for x in os.getloadavg()]  # other processes on the machine
    folder = Path(tempfile.mkdtemp(prefix="pool_scoring_"))
    try:
        t0 = time.perf_counter()
        paths = write_pool(folder, args.n, args.file_size)
        write_s = time.perf_counter() - t0
        pool = ImagePool.from_paths(paths, args.image_size)
        model = replace_head(Discriminator(64, 3, args.image_size)).eval()  # DCGAN width, as the document's GAN
        methods = 3 if args.nproc > 1 else 2
        parts = np.array_split(np.arange(args.n), args.blocks * methods)
        shards = []  # the nproc method reads a folder: its blocks' files are moved into folders of their own
        if args.nproc > 1:
            classifier = save_classifier(model, folder.parent / f"{folder.name}_classifier.pt", 64, args.image_size)
            for b in range(args.blocks):
                shard = folder / f"shard{b}"
                shard.mkdir()
                for i in parts[methods * b + 2]:
                    Path(paths[i]).rename(shard / Path(paths[i]).name)
                shards.append(shard)
        score(pool, model, parts[0][:256], 0, args.batch_size)  # warm-up
        rates = {"single": [], f"workers={args.workers}": []} | ({f"nproc={args.nproc}": []} if args.nproc > 1 else {})
        launches = []
        for b in range(args.blocks):  # alternate, each on files it has not read before (no page-cache advantage)
            rates["single"].append(score(pool, model, parts[methods * b], 0, args.batch_size))
            rates[f"workers={args.workers}"].append(score(pool, model, parts[methods * b + 1], args.workers, args.batch_size))
            if args.nproc > 1:
                rate, launch = score_nproc(shards[b], classifier, args.nproc, args)
                rates[f"nproc={args.nproc}"].append(rate)
                launches.append(launch)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        for extra in folder.parent.glob(f"{folder.name}_*"):
            extra.unlink()
    med = {k: statistics.median(v) for k, v in rates.items()}
    par = med[f"workers={args.workers}"]
    doc = {"what": "images/s scoring a pool streamed from PNG files: decode + resize + GAN-discriminator classifier",
           "files": args.n, "file_size_px": args.file_size, "image_size_px": args.image_size,
           "classifier": "DCGAN discriminator body (ndf 64) + linear head", "batch_size": args.batch_size,
           "torch_threads": threads, "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
           "torch": torch.__version__, "load_average": {"start": load_start, "end": [round(x, 2) for x in os.getloadavg()]},
           "write_s": round(write_s, 1), "images_per_s_per_block": rates,
           "median_images_per_s": med, "ratio_workers_over_single": par / med["single"],
           **({"ratio_nproc_over_single": med[f"nproc={args.nproc}"] / med["single"],
               "nproc_launch_s": [round(x, 1) for x in launches]} if args.nproc > 1 else {}),
           "hours_for_200000_images_one_pass": {k: 200_000 / v / 3600 for k, v in med.items()}}
    text = json.dumps(doc, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
