import math

import pytest
import torch

from gan_helpers.train import GANTrainer, TrainConfig


def tiny(**kw):
    base = dict(image_size=32, nz=8, ngf=4, ndf=4, batch_size=8, device="cpu", seed=3)
    return TrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def images():
    g = torch.Generator().manual_seed(0)
    return torch.rand(40, 3, 32, 32, generator=g) * 2 - 1


@pytest.mark.parametrize("g_steps,d_steps", [(1, 1), (2, 1), (4, 1), (50, 1), (1, 3)])
def test_step_counting_is_exact_in_both_directions(images, g_steps, d_steps):
    t = GANTrainer(images, tiny(g_steps_per_d_step=g_steps, d_steps_per_g_step=d_steps))
    calls = {"g": 0, "d": 0}
    t.opt_g.register_step_post_hook(lambda *a: calls.__setitem__("g", calls["g"] + 1))
    t.opt_d.register_step_post_hook(lambda *a: calls.__setitem__("d", calls["d"] + 1))
    t.fit(3, progress=False)
    assert (t.iteration, t.g_steps, t.d_steps) == (3, 3 * g_steps, 3 * d_steps)
    assert calls == {"g": 3 * g_steps, "d": 3 * d_steps}  # the optimizers really stepped that often
    assert len(t.history["d_loss"]) == 3


def test_both_directions_at_once_is_refused():
    with pytest.raises(ValueError, match="not both"):
        tiny(g_steps_per_d_step=2, d_steps_per_g_step=2)


def test_epochs_follow_the_data(images):
    t = GANTrainer(images, tiny())  # 40 images, batch 8: 5 iterations per epoch
    t.fit(11, progress=False)
    assert t.history["epoch"] == [0] * 5 + [1] * 5 + [2]
    assert len(t.epoch_means("d_loss")) == 3
    assert t.log_loss_ratio().shape == (3,)


def test_resume_gives_the_same_weights_as_a_straight_run(images, tmp_path):
    cfg = tiny(g_steps_per_d_step=2, sample_at=(3, 7))
    straight = GANTrainer(images, cfg).fit(7, progress=False)

    first = GANTrainer(images, cfg).fit(4, progress=False)
    first.save(tmp_path / "ckpt.pt")
    torch.manual_seed(12345)  # the global RNG is disturbed between the two halves
    resumed = GANTrainer.from_checkpoint(tmp_path / "ckpt.pt", images)
    resumed.fit(7, progress=False)

    for a, b in zip(list(straight.G.state_dict().values()) + list(straight.D.state_dict().values()),
                    list(resumed.G.state_dict().values()) + list(resumed.D.state_dict().values())):
        assert torch.equal(a, b)
    assert straight.history["g_loss"] == resumed.history["g_loss"]
    assert (resumed.g_steps, resumed.d_steps) == (14, 7)
    assert torch.equal(straight.samples[7], resumed.samples[7])
    assert torch.equal(straight.opt_g.state_dict()["state"][0]["exp_avg"], resumed.opt_g.state_dict()["state"][0]["exp_avg"])


def test_checkpoint_with_other_model_settings_is_refused(images, tmp_path):
    GANTrainer(images, tiny()).fit(1, progress=False).save(tmp_path / "c.pt")
    t = GANTrainer(images, tiny(ngf=8))
    with pytest.raises(ValueError, match="ngf"):
        t.load_state_dict(torch.load(tmp_path / "c.pt", weights_only=False))


def test_nan_loss_stops_training_naming_the_iteration(images):
    t = GANTrainer(images, tiny())
    t.fit(2, progress=False)
    with torch.no_grad():
        next(t.D.parameters()).fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="iteration 3"):
        t.fit(5, progress=False)


def test_sampling_does_not_change_the_run(images):
    a = GANTrainer(images, tiny()).fit(4, progress=False)
    b = GANTrainer(images, tiny())
    b.fit(2, progress=False)
    b.sample(16)
    b.sample(fixed=True)
    b.fit(4, progress=False)
    assert torch.equal(a.G.main[0].weight, b.G.main[0].weight)


def test_eval_fn_records_compute(images):
    t = GANTrainer(images, tiny(g_steps_per_d_step=4))
    t.fit(6, progress=False, eval_every=3, eval_fn=lambda tr: {"x": 1.0})
    assert [(e["iteration"], e["g_steps"], e["d_steps"]) for e in t.evals] == [(3, 12, 3), (6, 24, 6)]
    assert all(math.isfinite(e["wall_s"]) for e in t.evals)


def test_bad_images_shape_is_a_clear_error():
    with pytest.raises(ValueError, match=r"\(N, 3, 32, 32\)"):
        GANTrainer(torch.zeros(10, 1, 32, 32), tiny())


def test_missing_cuda_is_a_clear_error(images):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(RuntimeError, match="no CUDA"):
        GANTrainer(images, tiny(device="cuda"))
