"""DiffAugment: per-sample randomness, gradients to G, identity when off, each transform's definition."""
import pytest
import torch

from gan_helpers.augment import brightness, contrast, cutout, diff_augment, parse_policy, saturation, translation

POLICY = "color,translation,cutout"


def batch(n=6, s=16, seed=0):
    return torch.rand(n, 3, s, s, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_identity_when_off():
    x = batch()
    assert diff_augment(x, "") is x
    assert diff_augment(x, ()) is x


def test_random_per_sample():
    x = batch(1).repeat(8, 1, 1, 1)  # eight copies of one image
    y = diff_augment(x, POLICY, torch.Generator().manual_seed(1))
    assert len({tuple(v.flatten()[:64].tolist()) for v in y}) == 8  # each copy transformed differently


def test_reproducible_with_a_generator():
    x = batch()
    a = diff_augment(x, POLICY, torch.Generator().manual_seed(5))
    b = diff_augment(x, POLICY, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)


def test_gradients_flow_through_to_the_input():
    from gan_helpers.models import Discriminator, Generator

    G, D = Generator(8, 4, 3, 32), Discriminator(4, 3, 32)
    fake = G(torch.randn(4, 8))
    D(diff_augment(fake, POLICY, torch.Generator().manual_seed(0))).sum().backward()
    g = next(G.parameters()).grad
    assert g is not None and g.abs().sum() > 0


def test_translation_shifts_with_zero_fill():
    x = torch.arange(16.0).view(1, 1, 4, 4).repeat(20, 3, 1, 1) + 1  # no zeros in the image
    y = translation(x, torch.Generator().manual_seed(0), ratio=0.25)  # shifts of -1, 0 or 1 pixel
    for img, out in zip(x, y):
        found = False
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                ref = torch.zeros_like(img)
                src = img[:, max(0, dx):4 + min(0, dx), max(0, dy):4 + min(0, dy)]
                ref[:, max(0, -dx):4 + min(0, -dx), max(0, -dy):4 + min(0, -dy)] = src
                found |= torch.equal(ref, out)
        assert found


def test_cutout_zeroes_a_square_of_half_the_side():
    x = torch.ones(50, 3, 16, 16)
    y = cutout(x, torch.Generator().manual_seed(0))
    zeros = (y[:, 0] == 0).sum((1, 2))
    assert (zeros <= 64).all() and (zeros > 0).all()  # an 8x8 square, clipped at the border
    assert (zeros == 64).any()
    assert torch.equal(y[:, 0], y[:, 2])  # the same mask in every channel


def test_colour_transforms_follow_their_definitions():
    x = batch()
    g = torch.Generator().manual_seed(3)
    u = torch.rand(len(x), 1, 1, 1, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(brightness(x, g), x + u - 0.5)
    m = x.mean(1, keepdim=True)
    assert torch.allclose(saturation(x, torch.Generator().manual_seed(3)), (x - m) * 2 * u + m)
    m = x.mean((1, 2, 3), keepdim=True)
    assert torch.allclose(contrast(x, torch.Generator().manual_seed(3)), (x - m) * (u + 0.5) + m)


def test_keeps_channels_last():
    x = batch().contiguous(memory_format=torch.channels_last)
    assert diff_augment(x, POLICY, torch.Generator().manual_seed(0)).is_contiguous(memory_format=torch.channels_last)


def test_unknown_policy_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown DiffAugment policy.*'colour'"):
        parse_policy("colour,translation")


def test_shared_draws_give_each_process_its_slice_of_the_global_batch():
    """Under torchrun each process augments its slice with the draws of the whole global batch: together the
    processes see what one process sees, and their generators stay in the same state (one checkpoint)."""
    from gan_helpers.augment import diff_augment

    x = torch.rand(8, 3, 16, 16) * 2 - 1
    g = torch.Generator().manual_seed(5)
    whole = diff_augment(x, "color,translation,cutout", g)
    parts, states = [], []
    for rank in range(2):
        gr = torch.Generator().manual_seed(5)
        parts.append(diff_augment(x[rank * 4:(rank + 1) * 4], "color,translation,cutout", gr, share=(rank, 2)))
        states.append(gr.get_state())
    assert torch.equal(torch.cat(parts), whole)
    assert torch.equal(states[0], states[1]) and torch.equal(states[0], g.get_state())
