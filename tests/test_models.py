import pytest
import torch

from gan_helpers.losses import discriminator_loss, generator_loss
from gan_helpers.models import Discriminator, Generator


@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("ngf,ndf", [(8, 8), (16, 4)])
def test_shapes(size, ngf, ndf):
    G, D = Generator(nz=20, ngf=ngf, image_size=size), Discriminator(ndf=ndf, image_size=size)
    x = G(torch.randn(5, 20))
    assert x.shape == (5, 3, size, size)
    assert x.min() >= -1 and x.max() <= 1  # tanh output
    assert G(torch.randn(5, 20, 1, 1)).shape == x.shape  # (B, nz, 1, 1) as in pytorch/examples
    assert D(x).shape == (5,)
    assert D.features(x).shape == (5, D.feature_dim)


def test_unsupported_size_is_a_clear_error():
    with pytest.raises(ValueError, match="image_size must be one of"):
        Generator(image_size=48)


def test_dcgan_init_statistics():
    torch.manual_seed(0)
    G = Generator(ngf=64, image_size=64)
    w = torch.cat([m.weight.flatten() for m in G.modules() if isinstance(m, torch.nn.ConvTranspose2d)])
    assert abs(w.mean().item()) < 1e-3 and abs(w.std().item() - 0.02) < 1e-3
    bn = torch.cat([m.weight for m in G.modules() if isinstance(m, torch.nn.BatchNorm2d)])
    assert abs(bn.mean().item() - 1) < 5e-3


def test_losses_match_the_minimax_terms():
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    d = discriminator_loss(real, fake)
    assert torch.isclose(d.real, -torch.log(torch.sigmoid(real)).mean())
    assert torch.isclose(d.fake, -torch.log(1 - torch.sigmoid(fake)).mean())
    assert torch.isclose(d.total, d.real + d.fake)
    assert torch.isclose(generator_loss(fake), -torch.log(torch.sigmoid(fake)).mean())
    smoothed = discriminator_loss(real, fake, real_target=0.9)  # one-sided: only the real term changes
    assert not torch.isclose(smoothed.real, d.real) and torch.isclose(smoothed.fake, d.fake)


def test_shared_embedding_generator_follows_the_class_and_rebuilds_from_its_spec():
    from gan_helpers.models import SharedEmbedGenerator, build

    torch.manual_seed(0)
    G = SharedEmbedGenerator(nz=16, ngf=4, n_classes=3, image_size=32, embed_dim=8)
    z = torch.randn(6, 16)
    a, b = G(z, torch.zeros(6, dtype=torch.long)), G(z, torch.ones(6, dtype=torch.long))
    assert a.shape == (6, 3, 32, 32) and not torch.allclose(a, b)  # the class changes the image, z fixed
    assert G.chunks == [4, 4, 4, 4]  # hierarchical z: the first layer and each of the three batch norms
    with pytest.raises(ValueError, match="pass the labels"):
        G(z)
    twin = build(G.spec)
    assert type(twin) is SharedEmbedGenerator and twin.spec == G.spec
    U = SharedEmbedGenerator(nz=16, ngf=4, n_classes=0, image_size=32)  # the unconditional twin
    assert U(z).shape == (6, 3, 32, 32) and U.embed is None


def test_a_channels_last_feature_map_hands_back_a_channels_last_gradient_and_the_same_numbers(monkeypatch):
    """Discriminator.features flattens a channels-last map: its gradient came back contiguous, and LeakyReLU's
    CPU backward is 10-20x slower on mixed layouts. flatten_map puts the gradient back in channels-last; the
    gradients must be the very same numbers (one thread: oneDNN's multithreaded weight gradients can differ in the
    last bit between two identical runs)."""
    from gan_helpers import models

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        D = Discriminator(8, 3, 32).to(memory_format=torch.channels_last)
        x = torch.randn(16, 3, 32, 32).contiguous(memory_format=torch.channels_last).requires_grad_()
        layouts = []

        def record_layout(module, inputs, out):  # the gradient arriving at the last LeakyReLU
            if out.requires_grad:
                out.register_hook(lambda g: layouts.append(g.is_contiguous(memory_format=torch.channels_last)))
        D.body[-1].register_forward_hook(record_layout)

        def grads():
            D.zero_grad()
            x.grad = None
            D(x).square().mean().backward()
            return [p.grad.clone() for p in D.parameters()] + [x.grad.clone()]

        fixed = grads()
        with monkeypatch.context() as m:
            m.setattr(models, "flatten_map", lambda h: h.flatten(1))
            plain = grads()
    finally:
        torch.set_num_threads(threads)
    assert layouts == [True, False]  # the fix changes the layout the last LeakyReLU sees ...
    for a, b in zip(fixed, plain):
        assert torch.equal(a, b)  # ... and nothing else
    with torch.no_grad():
        assert torch.equal(D.features(x), D.body(x).contiguous().view(len(x), -1))  # (C, H, W) order
