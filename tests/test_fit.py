"""The one supervised loop."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gan_helpers.fit import Fitter, fit, index_batches


def problem(n=200, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    y = (x[:, 0] + x[:, 1] > 0).long()
    return x, y


def test_fit_learns_a_separable_problem():
    x, y = problem()
    model, losses = fit(nn.Linear(4, 2), index_batches(x, y), F.cross_entropy, len(x), 32, epochs=20, lr=0.05)
    assert not model.training
    acc = (model(x).argmax(1) == y).float().mean()
    assert acc > 0.95 and losses[-1] < losses[0]


def test_epochs_visit_every_item_once_per_epoch():
    seen = []

    def make(idx, g):
        seen.extend(idx.tolist())
        return torch.zeros(len(idx), 4), torch.zeros(len(idx), dtype=torch.long)

    Fitter(nn.Linear(4, 2), make, F.cross_entropy).run(40, 8, epochs=2)
    assert sorted(seen) == sorted(list(range(40)) * 2)


def test_continued_training_equals_one_longer_run():
    x, y = problem()
    torch.manual_seed(0)
    a = nn.Linear(4, 2)
    b = nn.Linear(4, 2)
    b.load_state_dict(a.state_dict())
    fa = Fitter(a, index_batches(x, y), F.cross_entropy, lr=0.01, seed=1)
    fa.run(len(x), 16, epochs=3)
    fb = Fitter(b, index_batches(x, y), F.cross_entropy, lr=0.01, seed=1)
    fb.run(len(x), 16, epochs=1)
    fb.run(len(x), 16, epochs=2)
    assert torch.equal(a.weight, b.weight)


def test_dict_targets_for_several_heads():
    x, y = problem()

    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(4, 2), nn.Linear(4, 2)

        def forward(self, v):
            return {"a": self.a(v), "b": self.b(v)}

    loss = lambda out, t: sum(F.cross_entropy(out[k], t[k]) for k in t)
    _, losses = fit(Two(), index_batches(x, {"a": y, "b": 1 - y}), loss, len(x), 32, steps=30)
    assert len(losses) == 30 and all(math.isfinite(v) for v in losses)


def test_nan_stops_with_a_clear_error():
    x, y = problem()
    m = nn.Linear(4, 2)
    with torch.no_grad():
        m.weight.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="training loss became nan"):
        Fitter(m, index_batches(x, y), F.cross_entropy).run(len(x), 16, steps=1)


def test_epochs_or_steps_not_both():
    x, y = problem()
    with pytest.raises(ValueError, match="not both"):
        Fitter(nn.Linear(4, 2), index_batches(x, y), F.cross_entropy).run(len(x), 16, epochs=1, steps=1)
