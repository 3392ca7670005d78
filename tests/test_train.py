"""The one GAN loop: step counting, data order, records, resume for every objective, checkpoints."""
import math
import pickle

import numpy as np
import pytest
import torch

from gan_helpers.models import Discriminator, Generator, ProjectionDiscriminator, SharedEmbedGenerator, VBNGenerator
from gan_helpers.objectives import DCGANLoss, ImprovedGANLoss, S3GANLoss
from gan_helpers.runtime import CheckpointError
from gan_helpers.train import GANTrainer, TrainConfig


def cfg(**kw):
    return TrainConfig(**{**dict(batch_size=8, device="cpu", seed=3, amp=False), **kw})


def dcgan(images, config=None, objective=None, G=None, D=None, **kw):
    torch.manual_seed(0)
    return GANTrainer(images, G or Generator(8, 4, 3, 32), D or Discriminator(4, 3, 32), objective, config or cfg(), **kw)


@pytest.fixture(scope="module")
def images():
    g = torch.Generator().manual_seed(0)
    return torch.rand(40, 3, 32, 32, generator=g) * 2 - 1


@pytest.fixture(scope="module")
def labels():
    return torch.arange(40) % 4


@pytest.mark.parametrize("g_steps,d_steps", [(1, 1), (2, 1), (4, 1), (50, 1), (1, 3)])
def test_step_counting_is_exact_in_both_directions(images, g_steps, d_steps):
    t = dcgan(images, cfg(g_steps_per_d_step=g_steps, d_steps_per_g_step=d_steps))
    calls = {"g": 0, "d": 0}
    t.opt_g.register_step_post_hook(lambda *a: calls.__setitem__("g", calls["g"] + 1))
    t.opt_d.register_step_post_hook(lambda *a: calls.__setitem__("d", calls["d"] + 1))
    t.fit(3)
    assert (t.iteration, t.g_steps, t.d_steps) == (3, 3 * g_steps, 3 * d_steps)
    assert calls == {"g": 3 * g_steps, "d": 3 * d_steps}  # the optimizers really stepped that often
    assert len(t.history["d_loss"]) == 3


def test_extra_g_steps_reuse_z_unless_resampled(images):
    seen = []
    t = dcgan(images, cfg(g_steps_per_d_step=3))
    t.G.register_forward_hook(lambda m, inp, out: seen.append(inp[0].clone()) if torch.is_grad_enabled() else None)
    t.fit(1)
    assert len(seen) == 3 and all(torch.equal(seen[0], s) for s in seen)
    seen.clear()
    t = dcgan(images, cfg(g_steps_per_d_step=3, resample_z=True))
    t.G.register_forward_hook(lambda m, inp, out: seen.append(inp[0].clone()) if torch.is_grad_enabled() else None)
    t.fit(1)
    assert not torch.equal(seen[0], seen[1])


def test_d_is_frozen_during_g_steps_and_unfrozen_after(images):
    t = dcgan(images)
    grads = []
    t.D.register_forward_hook(lambda m, i, o: grads.append(next(m.parameters()).requires_grad))
    t.fit(1)
    assert grads == [True, True, False]  # D step (real, fake), then G step
    assert all(p.requires_grad for p in t.D.parameters())


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="not both"):
        cfg(g_steps_per_d_step=2, d_steps_per_g_step=2)
    for bad in (0, 2.5, -1):
        with pytest.raises(ValueError, match="g_steps_per_d_step must be an integer >= 1"):
            cfg(g_steps_per_d_step=bad)
    with pytest.raises(ValueError, match="unknown DiffAugment policy"):
        cfg(augment="colour")


def test_batch_larger_than_the_data_is_refused(images):
    with pytest.raises(ValueError, match="batch_size 64 is larger than the data \\(40 images\\)"):
        dcgan(images, cfg(batch_size=64))


def test_epochs_follow_the_data(images):
    t = dcgan(images)  # 40 images, batch 8: 5 iterations per epoch
    t.fit(11)
    assert t.history["epoch"] == [0] * 5 + [1] * 5 + [2]
    assert len(t.epoch_means("d_loss")) == 3
    assert t.log_loss_ratio().shape == (3,)


def test_each_epoch_visits_every_image_once(images):
    t = dcgan(images)
    seen = []
    for _ in range(5):
        seen += t._real_batch()[2].tolist()
    assert sorted(seen) == list(range(40))


def test_sampling_weights_draw_in_proportion(images):
    t = dcgan(images)
    w = np.zeros(40)
    w[:4] = 1.0
    t.set_sampling_weights(w)
    for _ in range(5):
        assert set(t._real_batch()[2].tolist()) <= {0, 1, 2, 3}
    with pytest.raises(ValueError, match="non-negative"):
        t.set_sampling_weights(-np.ones(40))
    t.set_sampling_weights(None)
    assert t.weights is None


def _same_weights(a, b):
    return all(torch.equal(x, y) for x, y in zip(list(a.G.state_dict().values()) + list(a.D.state_dict().values()),
                                                  list(b.G.state_dict().values()) + list(b.D.state_dict().values())))


RESUMABLE = {
    "dcgan": lambda im, lab: dcgan(im, cfg(g_steps_per_d_step=2, sample_at=(3, 7))),
    "dcgan_joint_diffaugment": lambda im, lab: dcgan(im, cfg(augment="color,translation,cutout"), DCGANLoss(joint_batch=True)),
    "improved_all": lambda im, lab: dcgan(
        im, cfg(), ImprovedGANLoss(feature_matching=True, historical_weight=1e-2, real_label=0.9),
        G=VBNGenerator(8, 4, 3, 32, ref_batch_size=8), D=Discriminator(4, 3, 32, minibatch_kernels=5, kernel_dim=3)),
    "s3gan": lambda im, lab: dcgan(
        im, cfg(), S3GANLoss(predictor=True, rotation=True), G=SharedEmbedGenerator(8, 4, 4, 32, embed_dim=4),
        D=ProjectionDiscriminator(4, 4, 32, rotation_head=True, class_head=True),
        labels=torch.where(torch.arange(40) < 10, lab, -1), eval_labels=lab),
    "conditional": lambda im, lab: dcgan(im, cfg(d_steps_per_g_step=2), S3GANLoss(), G=SharedEmbedGenerator(8, 4, 4, 32, embed_dim=4),
                                         D=ProjectionDiscriminator(4, 4, 32), labels=lab),
    "conditional_ema": lambda im, lab: dcgan(im, cfg(ema_decay=0.9), S3GANLoss(), G=SharedEmbedGenerator(8, 4, 4, 32, embed_dim=4),
                                             D=ProjectionDiscriminator(4, 4, 32), labels=lab),
}


@pytest.mark.parametrize("kind", sorted(RESUMABLE))
def test_resume_gives_the_same_run_for_every_objective(images, labels, kind, tmp_path):
    def fresh():  # the models passed in are built before dcgan() seeds: seed first, so both runs start alike
        torch.manual_seed(0)
        return RESUMABLE[kind](images, labels)

    straight = fresh().fit(7)
    first = fresh().fit(4)
    first.save(tmp_path / "ckpt.pt")
    torch.manual_seed(12345)  # the global RNG is disturbed between the two halves
    resumed = GANTrainer.from_checkpoint(tmp_path / "ckpt.pt", images,
                                         labels=first.labels, eval_labels=first.eval_labels)
    assert type(resumed.objective) is type(first.objective) and resumed.objective.hparams() == first.objective.hparams()
    resumed.fit(7)
    assert _same_weights(straight, resumed)
    assert straight.history["g_loss"] == resumed.history["g_loss"]
    assert straight.objective.state_dict().keys() == resumed.objective.state_dict().keys()
    for k, v in straight.objective.state_dict().items():  # historical averages carried over
        assert all(torch.equal(a, b) for a, b in zip(v["mean"], resumed.objective.state_dict()[k]["mean"]))
    if straight.samples:
        assert torch.equal(straight.samples[7], resumed.samples[7])
    if straight.G_ema is not None:  # the averaged generator is carried over too
        assert all(torch.equal(a, b) for a, b in zip(straight.G_ema.state_dict().values(),
                                                      resumed.G_ema.state_dict().values()))


def test_ema_generator_averages_g_and_is_sampled(images):
    t = dcgan(images, cfg(ema_decay=0.5))
    before = [p.detach().clone() for p in t.G_ema.parameters()]
    t.train_iteration()
    for e, b, p in zip(t.G_ema.parameters(), before, t.G.parameters()):
        assert torch.allclose(e, 0.5 * b + 0.5 * p)  # one G step: halfway between the old copy and G
    plain = dcgan(images).fit(1).sample(4, seed=0)
    assert not torch.equal(t.sample(4, seed=0), plain)  # samples come from G_ema
    assert torch.equal(t.sample(4, seed=0, averaged=False), plain)  # unless asked for G itself
    assert dcgan(images).G_ema is None  # off by default
    with pytest.raises(ValueError, match="ema_decay"):
        cfg(ema_decay=1.0)


def test_checkpoint_loads_with_weights_only(images, tmp_path):
    dcgan(images).fit(2).save(tmp_path / "c.pt")
    state = torch.load(tmp_path / "c.pt", weights_only=True)  # only tensors and plain values inside
    assert state["format"].startswith("gan_helpers.GANTrainer")


def test_bad_checkpoints_name_the_file(images, tmp_path):
    good = dcgan(images).fit(1).save(tmp_path / "c.pt")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="truncated.pt"):
        GANTrainer.from_checkpoint(truncated, images)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    with pytest.raises(CheckpointError, match="foreign.pt.*lacks"):
        GANTrainer.from_checkpoint(foreign, images)
    with pytest.raises(CheckpointError, match="does not exist"):
        GANTrainer.from_checkpoint(tmp_path / "missing.pt", images)


class _Evil:
    def __reduce__(self):
        return (print, ("this would run code",))


def test_a_crafted_checkpoint_cannot_run_code(images, tmp_path):
    p = tmp_path / "evil.pt"
    with open(p, "wb") as f:
        pickle.dump({"format": _Evil()}, f)
    with pytest.raises(CheckpointError, match="evil.pt"):
        GANTrainer.from_checkpoint(p, images)


def test_checkpoint_of_other_models_is_refused(images, tmp_path):
    dcgan(images).fit(1).save(tmp_path / "c.pt")
    t = dcgan(images, G=Generator(8, 8, 3, 32))
    with pytest.raises(ValueError, match="differ"):
        t.load_state_dict(torch.load(tmp_path / "c.pt", weights_only=True))


def test_nan_loss_stops_training_naming_the_iteration(images):
    t = dcgan(images)
    t.fit(2)
    with torch.no_grad():
        next(t.D.parameters()).fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="iteration 3"):
        t.fit(5)


def test_sampling_does_not_change_the_run(images):
    a = dcgan(images).fit(4)
    b = dcgan(images)
    b.fit(2)
    b.sample(16)
    b.fixed_grid()
    b.fit(4)
    assert _same_weights(a, b)


def test_eval_fn_and_hooks(images):
    t = dcgan(images, cfg(g_steps_per_d_step=4))
    calls = []
    t.fit(6, eval_every=3, eval_fn=lambda tr: {"x": 1.0}, hooks={2: lambda tr: calls.append(tr.iteration)})
    assert [(e["iteration"], e["g_steps"], e["d_steps"]) for e in t.evals] == [(3, 12, 3), (6, 24, 6)]
    assert all(math.isfinite(e["wall_s"]) for e in t.evals)
    assert calls == [2, 4, 6]


def test_conditional_fixed_grid_has_one_row_per_class(images, labels):
    t = RESUMABLE["conditional"](images, labels)
    z, y = t.fixed_latents()
    per = 64 // 4
    assert torch.equal(y, torch.arange(4).repeat_interleave(per))
    assert torch.equal(z[:per], z[per:2 * per])  # the same noise under every class
    assert t.fixed_grid().shape == (64, 3, 32, 32)


def test_iterations_must_be_positive(images):
    with pytest.raises(ValueError, match="iterations must be an integer >= 1"):
        dcgan(images).fit(0)


def test_bad_images_shape_is_a_clear_error():
    with pytest.raises(ValueError, match=r"\(N, 3, S, S\)"):
        dcgan(torch.zeros(10, 1, 32, 32))


def test_missing_cuda_is_a_clear_error(images):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(RuntimeError, match="no CUDA"):
        dcgan(images, cfg(device="cuda"))


def test_bf16_autocast_trains_on_a_cpu_that_has_it(images):
    from gan_helpers.runtime import amp_enabled

    if not amp_enabled(True, torch.device("cpu")):
        pytest.skip("this CPU has no native bf16")
    t = dcgan(images, cfg(amp=True)).fit(3)
    assert t.amp and all(math.isfinite(v) for v in t.history["d_loss"])


def _g_forwards(t):
    calls = []
    t.G.register_forward_hook(lambda m, inp, out: calls.append(torch.is_grad_enabled()))
    return calls


@pytest.mark.parametrize("g_steps", [1, 3])
def test_g_runs_once_per_g_step_reusing_the_d_steps_fakes(images, g_steps):
    calls = _g_forwards(t := dcgan(images, cfg(g_steps_per_d_step=g_steps)))
    t.fit(2)
    assert calls == [True] * g_steps * 2  # the D step's G(z) is the first G step's; extra G steps rerun G
    calls = _g_forwards(t := dcgan(images, cfg(g_steps_per_d_step=g_steps, reuse_fake=False)))
    t.fit(2)
    assert calls == ([False] + [True] * g_steps) * 2  # the old path: G(z) without graph for D, then again


@pytest.mark.parametrize("kind", ["dcgan", "improved_all", "s3gan", "conditional_ema"])
def test_reusing_the_fakes_trains_the_same_weights(images, labels, kind):
    def run(reuse):
        torch.manual_seed(0)
        t = RESUMABLE[kind](images, labels)
        t.config.reuse_fake = reuse
        return t.fit(5)
    a, b = run(True), run(False)
    for x, y in zip(list(a.G.parameters()) + list(a.D.parameters()), list(b.G.parameters()) + list(b.D.parameters())):
        assert torch.equal(x, y)
    assert a.history["g_loss"] == b.history["g_loss"] and a.history["d_loss"] == b.history["d_loss"]


def test_objectives_get_an_explicit_batch_and_disc(images, labels):
    seen = []

    class Spy(DCGANLoss):
        def d_step(self, batch, disc):
            seen.append(("D", batch))
            assert not batch.fake.requires_grad and callable(disc)
            return super().d_step(batch, disc)

        def g_step(self, batch, disc):
            seen.append(("G", batch))
            assert batch.fake.requires_grad
            return super().g_step(batch, disc)

    t = dcgan(images, cfg(d_steps_per_g_step=2), Spy(), labels=labels)
    t.fit(1)
    assert [p for p, _ in seen] == ["D", "D", "G"]
    for _, b in seen:
        assert torch.equal(b.real, t.images[b.index]) and torch.equal(b.y_real, labels[b.index])
    assert torch.equal(seen[2][1].index, seen[1][1].index)  # G's step sees the last D step's reals
    assert not torch.equal(seen[0][1].index, seen[1][1].index)


def test_hidden_label_accuracy_is_an_observer_not_a_loss(images, labels):
    from gan_helpers.objectives import Batch, hidden_label_accuracy

    truth = torch.tensor([0, 1, 2, 3])
    observe = hidden_label_accuracy(truth)
    b = Batch(real=torch.zeros(4, 3, 2, 2), y_real=torch.tensor([0, -1, -1, 3]), index=torch.tensor([0, 1, 2, 3]),
              fake=torch.zeros(4, 3, 2, 2), y_fake=None)
    assert float(observe(b, {"_class_pred": torch.tensor([9, 1, 0, 9])})["head_acc_hidden"]) == 0.5  # 1 of the 2 hidden
    assert observe(b, {}) == {}
    # in a run: logged when eval_labels are given, absent without them; the losses are the same either way
    runs = {}
    for with_truth in (True, False):
        torch.manual_seed(0)
        t = dcgan(images, cfg(), S3GANLoss(predictor=True), G=SharedEmbedGenerator(8, 4, 4, 32, embed_dim=4),
                  D=ProjectionDiscriminator(4, 4, 32, class_head=True),
                  labels=torch.where(torch.arange(40) < 10, labels, -1), eval_labels=labels if with_truth else None)
        runs[with_truth] = t.fit(3)
    assert len(runs[True].history["head_acc_hidden"]) == 3 and "head_acc_hidden" not in runs[False].history
    assert runs[True].history["d_loss"] == runs[False].history["d_loss"]
    assert not any(k.startswith("_") for k in runs[True].history)


# Checkpoint errors name the file and the cause (issue 26): empty, truncated, not a checkpoint, unsafe, other size.

def test_an_empty_checkpoint_names_the_file_and_says_empty(images, tmp_path):
    """A 0-byte file gave `IndexError: list index out of range`, naming nothing."""
    from gan_helpers.experiments.selftrain import checkpoint_check
    from gan_helpers.selftrain import load_discriminator

    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    for load in (lambda: GANTrainer.from_checkpoint(empty, images), lambda: load_discriminator(empty, 8, 32)):
        with pytest.raises(CheckpointError, match=r"empty.pt' is empty \(0 bytes\)"):
            load()
    assert "empty.pt' is empty (0 bytes)" in checkpoint_check(str(empty), {"ndf": 8, "image_size": 32})  # 03's setup check


def test_a_truncated_checkpoint_says_truncated(images, tmp_path):
    good = dcgan(images).fit(1).save(tmp_path / "c.pt")
    for n, cut in (("head", 200), ("tail", -100)):
        p = tmp_path / f"{n}.pt"
        p.write_bytes(good.read_bytes()[:cut])
        with pytest.raises(CheckpointError, match=f"{n}.pt' is truncated or damaged"):
            GANTrainer.from_checkpoint(p, images)


def test_a_file_that_is_no_checkpoint_says_so(images, tmp_path):
    from PIL import Image

    Image.new("RGB", (4, 4)).save(tmp_path / "photo.pt", format="PNG")
    (tmp_path / "notes.pt").write_text("hello\n")
    for name in ("photo.pt", "notes.pt"):
        with pytest.raises(CheckpointError, match=f"{name}' is not a PyTorch checkpoint"):
            GANTrainer.from_checkpoint(tmp_path / name, images)


def test_unsafe_content_names_the_global_and_never_suggests_the_unsafe_load(images, tmp_path):
    import os

    class System:
        def __reduce__(self):
            return (os.system, ("true",))

    torch.save({"format": System()}, tmp_path / "crafted.pt")  # torch's zip format, a blocked global inside
    with open(tmp_path / "evil.pt", "wb") as f:
        pickle.dump({"format": _Evil()}, f)  # a bare pickle (torch's message names no global for it)
    for name, glob in (("crafted.pt", f"{os.system.__module__}.system"), ("evil.pt", "builtins.print")):
        with pytest.raises(CheckpointError) as e:
            GANTrainer.from_checkpoint(tmp_path / name, images)
        msg = str(e.value)
        assert name in msg and glob in msg and "never writes" in msg
        assert "weights_only" not in msg and "False" not in msg


def test_a_checkpoint_for_another_image_size_is_refused_at_load(tmp_path):
    """A 64 px checkpoint with 32 px images failed later in fit: `mat1 and mat2 shapes cannot be multiplied`."""
    big = torch.rand(8, 3, 64, 64) * 2 - 1
    GANTrainer(big, config=TrainConfig(batch_size=4, amp=False), ngf=8, ndf=8).fit(1).save(tmp_path / "c64.pt")
    with pytest.raises(CheckpointError, match="c64.pt' holds a G for 64 px images.*the images given are 32 px"):
        GANTrainer.from_checkpoint(tmp_path / "c64.pt", torch.rand(8, 3, 32, 32) * 2 - 1)


def test_weights_that_do_not_fit_their_spec_are_refused_at_load(images, tmp_path):
    """A checkpoint whose weights were made for another width than its spec says: refused naming the file."""
    state = dcgan(images).fit(1).state_dict()
    state["models"]["D"] = {**state["models"]["D"], "kwargs": {**state["models"]["D"]["kwargs"], "ndf": 16}}
    torch.save(state, tmp_path / "wide.pt")
    with pytest.raises(CheckpointError, match="wide.pt' does not fit the models it describes"):
        GANTrainer.from_checkpoint(tmp_path / "wide.pt", images)


@pytest.mark.parametrize("d_norm", ["batch", "spectral"])
def test_logging_the_papers_losses_leaves_the_run_as_it_was(images, d_norm):
    """log_paper_losses re-ran the objective in training mode: it drew from DiffAugment's stream and moved batch
    norm's statistics (and spectral norm's vectors), so arms that logged trained differently from arms that did not.
    (Channels-last convolutions are left out: on this CPU two identical runs with them differ in the last bit in
    about 1 run in 15, logging or not.)"""
    def run(log):
        torch.manual_seed(1)  # the same D under both
        t = dcgan(images, cfg(augment="color,translation,cutout", log_paper_losses=log, g_steps_per_d_step=2,
                              channels_last=False), D=Discriminator(4, 3, 32, norm=d_norm))
        return t.fit(4)
    a, b = run(True), run(False)
    assert "d_loss_paper" in a.history and "d_loss_paper" not in b.history
    for x, y in zip(a.G.state_dict().values(), b.G.state_dict().values()):
        assert torch.equal(x, y)
    for x, y in zip(a.D.state_dict().values(), b.D.state_dict().values()):
        assert torch.equal(x, y)  # weights, running statistics and spectral norm's u, v
    assert a.history["d_loss"] == b.history["d_loss"] and a.history["g_loss"] == b.history["g_loss"]
