"""Notebook 05's semi-supervised experiment (Salimans et al. 2016, section 5): the K-class discriminator, its
objective in the one GAN loop, and the comparison with the same network on the labels alone."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gan_helpers.experiments import semi_supervised as SS
from gan_helpers.models import SemiSupervisedDiscriminator, SemiSupervisedGenerator
from gan_helpers.objectives import Batch, SemiSupervisedLoss
from gan_helpers.train import GANTrainer, TrainConfig


def test_the_real_fake_logit_is_the_log_sum_exp_of_the_class_logits():
    torch.manual_seed(0)
    D = SemiSupervisedDiscriminator(10, 32, input_size=8).eval()
    x = torch.rand(5, 3, 32, 32) * 2 - 1
    out = D.forward_all(x)
    assert torch.allclose(out.logits, torch.logsumexp(out.class_logits, 1))  # D(x) = Z / (Z + 1), fake logit 0
    assert out.features.shape == (5, 250) and D.classify(x).shape == (5, 10)
    G = SemiSupervisedGenerator(100, 32, output_size=8)
    g = G(torch.randn(4, 100))
    assert g.shape == (4, 3, 32, 32) and g.min() >= -1 and g.max() <= 1 and torch.equal(g[:, 0], g[:, 2])


def test_the_objective_is_the_references_loss():
    """loss_lab = CE on the labelled batch; loss_unl = -0.5 E lse(l(x)) + 0.5 E softplus(lse(l(x))) +
    0.5 E softplus(lse(l(G(z)))) (openai/improved-gan train_mnist_feature_matching.py); G matches D's features."""
    torch.manual_seed(0)
    D = SemiSupervisedDiscriminator(3, 32, widths=(16, 8), input_size=8)
    xl, yl = torch.rand(6, 3, 32, 32) * 2 - 1, torch.tensor([0, 1, 2, 0, 1, 2])
    obj = SemiSupervisedLoss(labelled_batch=4, seed=1).set_labelled(xl, yl)
    obj.bind(None, D, 4)
    real, fake = torch.rand(4, 3, 32, 32) * 2 - 1, torch.rand(4, 3, 32, 32) * 2 - 1
    disc = lambda x, y=None, full=False: D.forward_all(x) if full else D(x)
    torch.manual_seed(5)
    out = obj.d_step(Batch(real, None, torch.arange(4), fake, None), disc)
    idx = torch.randint(0, 6, (4,), generator=torch.Generator().manual_seed(1))  # the objective's own draw
    torch.manual_seed(5)  # the same input noise
    lab = D.forward_all(xl[idx]).class_logits
    l_unl, l_gen = D(real), D(fake)
    want_unl = -0.5 * l_unl.mean() + 0.5 * F.softplus(l_unl).mean() + 0.5 * F.softplus(l_gen).mean()
    assert torch.allclose(out["loss_lab"], F.cross_entropy(lab, yl[idx])) and torch.allclose(out["loss_unl"], want_unl)
    g = obj.g_step(Batch(real, None, torch.arange(4), fake, None), disc)
    assert g["g_loss"].item() >= 0 and "fm_loss" in g
    with pytest.raises(ValueError, match="set_labelled"):
        SemiSupervisedLoss().d_step(Batch(real, None, torch.arange(4), fake, None), disc)


def test_a_semi_supervised_run_resumes_exactly(tmp_path):
    x, y = torch.rand(60, 3, 32, 32) * 2 - 1, torch.arange(60) % 3

    def trainer():
        torch.manual_seed(0)
        obj = SemiSupervisedLoss(seed=0).set_labelled(x[:9], y[:9])
        return GANTrainer(x, SemiSupervisedGenerator(8, 32, width=16, output_size=8),
                          SemiSupervisedDiscriminator(3, 32, widths=(16, 8), input_size=8), obj,
                          TrainConfig(batch_size=12, device="cpu", amp=False, channels_last=False))
    straight = trainer().fit(4)
    first = trainer().fit(2)
    first.save(tmp_path / "c.pt")
    resumed = GANTrainer.from_checkpoint(tmp_path / "c.pt", x).fit(4)
    assert all(torch.equal(a, b) for a, b in zip(straight.D.state_dict().values(), resumed.D.state_dict().values()))


def test_labelled_and_validation_images_are_disjoint_and_balanced():
    y = torch.arange(200) % 10
    lab, val = SS.split_labels(y, 10, 5, seed=3)
    assert len(lab) == 100 and len(val) == 50 and not set(lab) & set(val)
    assert np.bincount(y[lab].numpy()).tolist() == [10] * 10 and np.bincount(y[val].numpy()).tolist() == [5] * 10
    with pytest.raises(ValueError, match="too few"):
        SS.split_labels(torch.arange(30) % 10, 2, 2, seed=0)


def test_one_seed_runs_both_methods_and_records_what_the_claims_need():
    from gan_helpers.evaluate import Evaluator
    from gan_helpers.features import DomainClassifier

    g = torch.Generator().manual_seed(0)
    y = torch.arange(120) % 4
    x = torch.rand(120, 3, 32, 32, generator=g) * 0.2 - 1
    x[torch.arange(120), 0, :, (y * 8).tolist()] = 1.0  # a bright column per class: easy to learn
    torch.manual_seed(0)
    ev = Evaluator(DomainClassifier(4, width=4, feature_dim=8).eval(), x[:40], y[:40], n_samples=20)
    setup = SS.SSLSetup(labels_per_class=3, val_per_class=2, iterations=6, eval_every=3, batch_size=12,
                        sup_max_steps=20, sup_check_every=5, n_samples=20, amp=False, device="cpu")
    r = SS.train_seed(0, x[:80], y[:80], x[80:], y[80:], ev, setup)
    assert r["labels"] == 12 and r["validation_labels"] == 8
    assert 0 <= r["gan"]["test_error"] <= 1 and 0 <= r["supervised_only"]["test_error"] <= 1
    assert r["gan"]["best_iteration"] in (3, 6) and r["correct"]["gan"].shape == (40,)
    assert r["samples"].shape == (20, 3, 32, 32) and "fid" in r["quality"]
