"""gan_helpers.tables: the sentences and tables notebooks print instead of dicts, lists and reprs."""
import numpy as np
import pandas as pd
import torch
from torch import nn

from gan_helpers.models import Discriminator, Generator, count_parameters
from gan_helpers.tables import counts_phrase, files_phrase, join_words, layer_table, per_seed_phrase


def test_counts_phrase_reads_numpy_keys_and_a_value_counts_series_without_their_reprs():
    reasons = np.array(["duplicate"] * 110 + ["outlier"] * 41)
    assert counts_phrase({np.str_("duplicate"): np.int64(110), np.str_("outlier"): 41}) == "duplicate 110, outlier 41"
    assert counts_phrase(pd.Series(reasons).value_counts()) == "duplicate 110, outlier 41"
    assert counts_phrase({}) == "none"


def test_counts_phrase_puts_the_largest_first_and_groups_equal_counts():
    pool = {"occluded": 225, "good": 2100, "drawing": 225, "multi": 225, "profile": 225}
    assert counts_phrase(pool) == "good 2,100; 225 each: occluded, drawing, multi and profile"
    assert counts_phrase({"a": 1, "b": 2}, unit=" images") == "b 2 images, a 1 images"


def test_join_words_and_per_seed_phrase():
    assert [join_words(x) for x in ([], ["a"], ["a", "b"], np.array([34, 30, 27]))] == ["", "a", "a and b", "34, 30 and 27"]
    assert per_seed_phrase({0: 0.44, 1: np.float64(0.4374), 2: 0.447}) == "0.440 (seed 0), 0.437 (seed 1), 0.447 (seed 2)"


def test_files_phrase_totals_the_folders_under_their_common_parent():
    written = {"outputs/05/samples/real": 899, "outputs/05/samples/baseline": 3000, "outputs/05/samples/vbn": 3000}
    assert files_phrase(written) == ("6,899 PNG files in 3 folders under outputs/05/samples: "
                                     "3,000 each: baseline and vbn; real 899")
    assert files_phrase({"out/samples/real": 5}) == "5 PNG files in 1 folder under out/samples: real 5"
    assert files_phrase({}) == "no PNG files"


def test_layer_table_lists_every_layer_with_its_output_shape_and_parameters():
    G = Generator(100, 32, 3, 32)
    table = layer_table(G.main, torch.zeros(1, 100, 1, 1))
    assert list(table.columns) == ["type", "settings", "output shape", "parameters"]
    assert table["parameters"].sum() == count_parameters(G)
    assert list(table["type"])[:3] == ["ConvTranspose2d", "BatchNorm2d", "ReLU"]
    assert table["output shape"].iloc[0] == "128 x 4 x 4" and table["output shape"].iloc[-1] == "3 x 32 x 32"
    assert table["settings"].iloc[0] == "100 -> 128 channels, kernel 4, stride 1, no bias"
    assert table["settings"].iloc[3] == "128 -> 64 channels, kernel 4, stride 2, padding 1, no bias"
    assert "Sequential(" not in table.to_string() and "kernel_size=" not in table.to_string()


def test_layer_table_runs_the_model_in_eval_mode_and_gives_it_back_as_it_was():
    D = Discriminator(16, 3, 32)
    D.train()
    before = {k: v.clone() for k, v in D.state_dict().items()}
    table = layer_table(D, torch.zeros(2, 3, 32, 32))
    assert D.training and all(torch.equal(before[k], v) for k, v in D.state_dict().items()), "batch-norm stats untouched"
    assert "LeakyReLU" in set(table["type"]) and "slope 0.2" in set(table["settings"])
    assert layer_table(nn.Linear(3, 2), torch.zeros(1, 3))["settings"].iloc[0] == "3 -> 2 features"
