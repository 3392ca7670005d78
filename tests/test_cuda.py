"""What only a GPU can show: the trainer, the entry points and the feature network on CUDA. Every test here skips
without CUDA (none runs in CI on the 2-core machine); benchmarks/gpu_check.sh runs them on a GPU."""
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")

from gan_helpers.models import Discriminator, Generator, ProjectionDiscriminator, SharedEmbedGenerator  # noqa: E402
from gan_helpers.objectives import S3GANLoss  # noqa: E402
from gan_helpers.train import GANTrainer, TrainConfig  # noqa: E402

ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def images():
    g = torch.Generator().manual_seed(0)
    return torch.rand(64, 3, 32, 32, generator=g) * 2 - 1


def trainer(images, device="cuda", amp=True, **kw):
    torch.manual_seed(0)
    return GANTrainer(images, Generator(16, 8, 3, 32), Discriminator(8, 3, 32), None,
                      TrainConfig(batch_size=16, device=device, amp=amp, seed=1, **kw))


def test_trains_in_bf16_on_the_gpu_with_the_data_on_it(images):
    t = trainer(images, augment="color,translation,cutout", ema_decay=0.9).fit(5)
    assert t.device.type == "cuda" and t.amp and t.images.is_cuda
    assert all(math.isfinite(v) for v in t.history["d_loss"] + t.history["g_loss"])
    assert t.sample(8).shape == (8, 3, 32, 32)


def test_gpu_and_cpu_runs_agree_in_float32(images):
    before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        gpu, cpu = trainer(images, amp=False).fit(3), trainer(images, "cpu", amp=False).fit(3)
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before
    assert gpu.history["d_loss"] == pytest.approx(cpu.history["d_loss"], rel=1e-3)
    assert gpu.history["g_loss"] == pytest.approx(cpu.history["g_loss"], rel=1e-3)


def test_checkpoint_resumes_on_the_gpu(images, tmp_path):
    before = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        straight = trainer(images, amp=False).fit(6)
        first = trainer(images, amp=False).fit(3)
        first.save(tmp_path / "c.pt")
        resumed = GANTrainer.from_checkpoint(tmp_path / "c.pt", images).fit(6)
    finally:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = before
    assert resumed.history["d_loss"][:3] == straight.history["d_loss"][:3]
    assert resumed.history["g_loss"] == pytest.approx(straight.history["g_loss"], rel=1e-4)


def test_s3gan_objective_on_the_gpu(images):
    labels = torch.arange(64) % 4
    torch.manual_seed(0)
    t = GANTrainer(images, SharedEmbedGenerator(16, 8, 4, 32, embed_dim=4),
                   ProjectionDiscriminator(8, 4, 32, rotation_head=True, class_head=True),
                   S3GANLoss(predictor=True, rotation=True), TrainConfig(batch_size=16, device="cuda", seed=1),
                   labels=torch.where(torch.arange(64) < 16, labels, -1), eval_labels=labels).fit(4)
    assert len(t.history["head_acc_hidden"]) == 4 and all(math.isfinite(v) for v in t.history["d_loss"])


def test_inception_features_on_the_gpu(tmp_path):
    from gan_helpers.datasets.standins import write_inception_weights
    from gan_helpers.features import load_inception

    net = load_inception(write_inception_weights(tmp_path / "inception.pth")).cuda()
    with torch.no_grad():
        assert net.features(torch.rand(4, 3, 32, 32, device="cuda") * 2 - 1).shape == (4, 2048)


def test_train_entry_point_on_the_gpu(tmp_path):
    out = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "gan_helpers.tools.train", "-p", "iterations", "4",
                           "-p", "batch_size", "16", "-p", "n_train", "64", "-p", "ngf", "8", "-p", "ndf", "8",
                           "-p", "device", "cuda", "-p", "output_dir", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "on cuda" in done.stdout and json.loads((out / "results.json").read_text())["iterations"] == 4
