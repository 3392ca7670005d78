"""Score a folder of images with notebook 03's good/bad classifier, on one process or many (``torchrun``).

    python -m gan_helpers.tools.score_pool --classifier classifier.pt --pool FOLDER --out scores.csv
    torchrun --nproc_per_node=2 -m gan_helpers.tools.score_pool --classifier classifier.pt --pool FOLDER --out scores.csv

Each process reads and scores every ``world``-th image file below ``FOLDER`` (sorted paths) and the per-file
scores are gathered (:func:`gan_helpers.selftrain.score_pool`); rank 0 writes ``scores.csv`` with one row per file:
``path,p_good,skipped`` (``p_good`` empty and the reason in ``skipped`` for a file that cannot be read). Nothing in
``FOLDER`` is written, moved or deleted. ``--classifier`` is a :class:`~gan_helpers.selftrain.GoodBadClassifier`
state dict: what :func:`gan_helpers.selftrain.save_classifier` writes (with its discriminator width and image
size), or a bare state dict of one on a discriminator of ``--ndf`` at ``--image-size``. It prints one JSON line: files, processes, seconds.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--classifier", required=True, type=Path, help="GoodBadClassifier state dict (torch.save)")
    ap.add_argument("--pool", required=True, type=Path, help="folder of images to score")
    ap.add_argument("--out", required=True, type=Path, help="CSV to write (path, p_good, skipped)")
    ap.add_argument("--image-size", type=int, default=64, help="for a bare state dict (a save_classifier file has its own)")
    ap.add_argument("--ndf", type=int, default=64, help="for a bare state dict (a save_classifier file has its own)")
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--workers", type=int, default=0, help="DataLoader decoding processes per process")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args(argv)
    if not args.classifier.is_file():
        ap.error(f"no classifier file at {args.classifier}")
    if not args.pool.is_dir():
        ap.error(f"no folder of images at {args.pool}")
    if args.out.resolve().is_relative_to(args.pool.resolve()):
        ap.error(f"--out {args.out} is inside the pool folder {args.pool}; write the scores elsewhere")

    from .. import distributed
    from ..images import list_images
    from ..runtime import resolve_device
    from ..selftrain import ImagePool, load_classifier, score_pool

    device = distributed.local_device(resolve_device(args.device))
    w = distributed.init_from_env(device)
    try:
        model = load_classifier(args.classifier, args.ndf, args.image_size)
        paths = [str(p) for p in list_images(args.pool)]
        if not paths:
            ap.error(f"no image files in {args.pool}")
        pool = ImagePool.from_paths(paths, model.image_size)
        t0 = time.perf_counter()
        p, skipped = score_pool(model, pool, None, args.batch_size, args.workers, device)
        seconds = time.perf_counter() - t0
        if w.main:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            tmp = args.out.with_suffix(args.out.suffix + ".tmp")
            with open(tmp, "w", newline="") as f:
                out = csv.writer(f)
                out.writerow(["path", "p_good", "skipped"])
                for i, path in enumerate(paths):
                    out.writerow([path, "" if i in skipped else repr(float(p[i])), skipped.get(i, "")])
            tmp.replace(args.out)
            print(json.dumps({"files": len(paths), "skipped": len(skipped), "processes": w.size,
                              "scoring_s": round(seconds, 3), "images_per_s": round(len(paths) / seconds, 1)}))
    finally:
        distributed.shutdown()
    return 0


if __name__ == "__main__":
    code = main()
    from .. import distributed

    distributed.exit(code)  # under torchrun: os._exit once everything is written (see distributed.exit)
