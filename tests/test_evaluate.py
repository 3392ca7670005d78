"""The one evaluator and the comparison rule over seeds."""
import numpy as np
import pytest
import torch
from torch import nn

from gan_helpers.evaluate import (Evaluator, all_seeds_verdict, better_verdict, combine_verdicts, compare_over_seeds,
                                  spread)


@pytest.mark.parametrize("outcomes,verdict", [
    ([1, 1, 1], "holds"),
    ([1, 0, 1], "partly"),
    ([0, 0, 0], "inconclusive"),
    ([1, -1, 1], "inconclusive"),   # the seeds disagree: it cannot hold
    ([-1, 0, 0], "does not hold"),
    ([-1, -1, -1], "does not hold"),
])
def test_the_rule_over_seeds(outcomes, verdict):
    assert better_verdict(outcomes) == verdict


def test_compare_counts_a_win_only_beyond_noise():
    # lower is better: A wins seed 0 by 10 (noise 2 -> margin 4), ties seed 1 (3 < 4), loses seed 2
    assert compare_over_seeds([10, 17, 30], [20, 20, 20], [2, 2, 2], [1, 1, 1]) == [1, 0, -1]
    assert compare_over_seeds([0.9, 0.5], [0.5, 0.9], lower_is_better=False) == [1, -1]
    assert compare_over_seeds([10], [11], margin=2.0) == [0]
    with pytest.raises(ValueError, match="one value per seed"):
        compare_over_seeds([1, 2], [1])


def test_all_seeds_verdict_and_spread():
    assert all_seeds_verdict([True, True]) == "holds"
    assert all_seeds_verdict([True, False]) == "partly"
    assert all_seeds_verdict([False, False]) == "does not hold"
    s = spread([1.0, 3.0])
    assert s["mean"] == 2.0 and np.isclose(s["std"], np.sqrt(2)) and (s["min"], s["max"]) == (1.0, 3.0)


class Net(nn.Module):
    """Features = mean colour per channel; classes = which channel is brightest."""

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1))

    def features(self, x):
        return x.mean((2, 3)) + self.dummy * 0

    def forward(self, x):
        return {"label": 20 * self.features(x)}


def coloured(n, channel, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, 8, 8, generator=g) * 0.2 - 0.5
    x[torch.arange(n), channel] += 1.0
    return x


def test_evaluator_on_a_known_case():
    ref = torch.cat([coloured(100, torch.full((100,), c), c) for c in range(3)])
    ref_labels = torch.arange(3).repeat_interleave(100)
    ev = Evaluator(Net(), ref, ref_labels, n_samples=90, split_size=30)
    asked = torch.arange(90) % 3  # classes interleaved: contiguous IS splits each hold all three
    same = ev.full(coloured(90, asked, 10), asked=asked)
    one = ev.full(coloured(90, torch.zeros(90, dtype=torch.long), 20), asked=asked)
    assert same["fid"] < one["fid"]
    assert same["classes_covered"] == 3 and one["classes_covered"] == 1
    assert same["class_accuracy"] == 1.0 and abs(one["class_accuracy"] - 1 / 3) < 1e-9
    assert same["inception_score"][0] > 2.5 and one["inception_score"][0] < 1.1
    assert same["kl_to_real"] < one["kl_to_real"]
    assert same["fid_noise"] >= 0 and 0 <= same["coverage"] <= 1


@pytest.mark.parametrize("per_seed,verdict", [
    (["holds"] * 3, "holds"),
    (["holds", "partly", "holds"], "partly"),
    (["holds", "inconclusive"], "partly"),
    (["holds", "does not hold"], "inconclusive"),
    (["does not hold", "inconclusive"], "does not hold"),
    (["partly", "does not hold"], "partly"),
    (["inconclusive"] * 2, "inconclusive"),
])
def test_combining_per_seed_verdicts(per_seed, verdict):
    assert combine_verdicts(per_seed) == verdict


def test_full_extracts_the_features_of_its_images_once():
    """With Inception-v3 the features are most of an evaluation's cost (quick() used to extract them again)."""
    net = Net()
    seen = []
    features = net.features
    net.features = lambda x: seen.append(len(x)) or features(x)
    ev = Evaluator(net, coloured(30, torch.zeros(30, dtype=torch.long), 0), n_samples=20)
    seen.clear()
    ev.full(coloured(20, torch.ones(20, dtype=torch.long), 1), neighbours=False)
    assert seen == [20]
