r"""The networks: DCGAN (Radford, Metz & Chintala 2016, arXiv:1511.06434) and its variants.

* :class:`Generator` / :class:`Discriminator`: DCGAN as in pytorch/examples ``dcgan/main.py``:
  strided convolutions instead of pooling, ReLU in G with a ``tanh`` output, LeakyReLU(0.2) in
  D, weights from :math:`\mathcal{N}(0, 0.02)`, 32 or 64 px. D's normalisation is a choice:
  ``norm="batch"`` (DCGAN), ``"spectral"`` (Miyato et al. 2018: every layer's weight divided
  by its largest singular value, no batch statistics) or ``"none"``. D may end in a minibatch-
  discrimination layer (Salimans et al. 2016), and G may use virtual batch norm
  (:class:`VBNGenerator`).
* :class:`SharedEmbedGenerator` / :class:`ProjectionDiscriminator`: the class-conditional pair of
  notebook 04 (BigGAN's shared class embedding and hierarchical z in G; projection D, Miyato & Koyama 2018).

Every discriminator returns **logits** (``sigmoid`` gives the paper's :math:`D(x)`) from
``forward(x, y=None)``, and ``forward_all(x, y=None)`` returns a :class:`DOutput` with the
features and any extra heads. Every model records the arguments it was built with in
``.spec``; :func:`build` rebuilds it, so a checkpoint needs no pickled classes.
"""
from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

from .layers import LinearConditionalBatchNorm2d, MinibatchDiscrimination, VirtualBatchNorm2d

SUPPORTED_SIZES = (32, 64)
NORMS = ("batch", "spectral", "none")
MODELS: dict[str, type[nn.Module]] = {}


def registered(cls):
    """Record a model class by name and its constructor arguments in ``self.spec``."""
    init = cls.__init__
    sig = inspect.signature(init)

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        bound = sig.bind(self, *args, **kwargs)
        bound.apply_defaults()
        init(self, *args, **kwargs)
        if type(self) is cls:
            self.spec = {"name": cls.__name__, "kwargs": {k: v for k, v in list(bound.arguments.items())[1:]}}

    cls.__init__ = __init__
    MODELS[cls.__name__] = cls
    return cls


def build(spec: dict) -> nn.Module:
    """The model a ``.spec`` describes, freshly initialised."""
    if not isinstance(spec, dict) or spec.get("name") not in MODELS:
        raise ValueError(f"unknown model spec {spec!r}; known models: {sorted(MODELS)}")
    return MODELS[spec["name"]](**spec["kwargs"])


def check_size(image_size: int) -> int:
    if image_size not in SUPPORTED_SIZES:
        raise ValueError(f"image_size must be one of {SUPPORTED_SIZES}, got {image_size!r}")
    return image_size


def weights_init(module: nn.Module) -> None:
    """DCGAN initialisation: conv weights ~ N(0, 0.02); batch-norm scale ~ N(1, 0.02), shift 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d) and module.affine:
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def _is_channels_last(h: torch.Tensor) -> bool:
    try:  # inside torch.func.vmap a non-contiguous tensor cannot be asked about channels-last: treat it as not
        return h.dim() == 4 and not h.is_contiguous() and h.is_contiguous(memory_format=torch.channels_last)
    except RuntimeError:
        return False


class _GradInChannelsLast(torch.autograd.Function):
    """The identity; its backward hands the gradient on in channels-last layout. Values are unchanged."""

    generate_vmap_rule = True

    @staticmethod
    def forward(h: torch.Tensor) -> torch.Tensor:
        return h.view_as(h)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        pass

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return grad.contiguous(memory_format=torch.channels_last)


def flatten_map(h: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C*H*W), in (C, H, W) order whatever the memory layout.

    Flattening a channels-last map copies it, and its gradient comes back contiguous; the layer before (a
    LeakyReLU, which saved its channels-last output) then meets a gradient of another layout, and PyTorch's CPU
    kernel for that mixed case is 10-20x slower than for matching layouts (0.42 against 0.03 ms at (64, 128, 4, 4),
    3 times per DCGAN iteration). So for a channels-last map the gradient is put back in channels-last first:
    the same numbers, one small copy (``tests/test_models.py`` checks that training is bit-identical).
    """
    if h.requires_grad and _is_channels_last(h):
        h = _GradInChannelsLast.apply(h)
    return h.flatten(1)


@dataclass
class DOutput:
    logits: torch.Tensor                        # (B,) real/fake logit
    features: torch.Tensor                      # (B, F) the features the real/fake head reads (its input)
    rotation_logits: torch.Tensor | None = None  # (B, 4)
    class_logits: torch.Tensor | None = None     # (B, K)


# ---------------------------------------------------------------------------------------------
# DCGAN
# ---------------------------------------------------------------------------------------------

@registered
class Generator(nn.Module):
    """z of shape (B, nz) or (B, nz, 1, 1) -> image (B, nc, S, S) in [-1, 1]."""

    n_classes = 0

    def __init__(self, nz: int = 100, ngf: int = 64, nc: int = 3, image_size: int = 64):
        super().__init__()
        self.nz, self.ngf, self.nc, self.image_size = nz, ngf, nc, check_size(image_size)
        mults = [8, 4, 2, 1] if image_size == 64 else [4, 2, 1]  # channel multipliers, 4x4 up to S/2
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(nz, ngf * mults[0], 4, 1, 0, bias=False),  # (B, ngf*m0, 4, 4)
            nn.BatchNorm2d(ngf * mults[0]),
            nn.ReLU(True),
        ]
        for m_in, m_out in zip(mults[:-1], mults[1:]):  # each doubles the side: 4 -> 8 -> 16 (-> 32)
            layers += [nn.ConvTranspose2d(ngf * m_in, ngf * m_out, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(ngf * m_out), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(ngf * mults[-1], nc, 4, 2, 1, bias=False), nn.Tanh()]  # (B, nc, S, S)
        self.main = nn.Sequential(*layers)
        self.apply(weights_init)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if z.dim() == 2:
            z = z[:, :, None, None]
        return self.main(z)


@registered
class VBNGenerator(Generator):
    """The DCGAN generator with every batch norm replaced by :class:`~gan_helpers.layers.VirtualBatchNorm2d`.

    ``ref_z`` (a buffer, fixed at construction from ``ref_seed``, saved in checkpoints) is the
    reference batch; each forward pass first runs it (collecting each layer's statistics with the
    current weights), then the real input. This doubles the cost of G's forward pass, as the
    paper notes.
    """

    def __init__(self, nz: int = 100, ngf: int = 64, nc: int = 3, image_size: int = 64,
                 ref_batch_size: int = 64, ref_seed: int = 0):
        super().__init__(nz, ngf, nc, image_size)
        for i, m in enumerate(self.main):
            if isinstance(m, nn.BatchNorm2d):
                vbn = VirtualBatchNorm2d(m.num_features, m.eps)
                vbn.weight.data.copy_(m.weight.data)  # keep the DCGAN initialisation N(1, 0.02)
                self.main[i] = vbn
        self.register_buffer("ref_z", torch.randn(ref_batch_size, nz, generator=torch.Generator().manual_seed(ref_seed)))

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if z.dim() == 2:
            z = z[:, :, None, None]
        layers = [m for m in self.main if isinstance(m, VirtualBatchNorm2d)]
        for m in layers:
            m.collect = True
        try:
            self.main(self.ref_z[:, :, None, None].to(z.dtype))
        finally:
            for m in layers:
                m.collect = False
        return self.main(z)


@registered
class Discriminator(nn.Module):
    """image (B, nc, S, S) -> logit (B,). ``sigmoid(logit)`` is the probability that the image is real.

    ``norm``: "batch" (DCGAN: batch norm after every convolution but the first), "spectral"
    (spectral norm on every layer, no batch norm) or "none". ``minibatch_kernels`` > 0 puts a
    minibatch-discrimination layer between the flattened features and the linear head.
    """

    n_classes = 0

    def __init__(self, ndf: int = 64, nc: int = 3, image_size: int = 64, norm: str = "batch",
                 minibatch_kernels: int = 0, kernel_dim: int = 5):
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
        self.ndf, self.nc, self.image_size, self.norm = ndf, nc, check_size(image_size), norm
        sn = spectral_norm if norm == "spectral" else (lambda m: m)
        mults = [1, 2, 4, 8] if image_size == 64 else [1, 2, 4]
        layers: list[nn.Module] = [sn(nn.Conv2d(nc, ndf, 4, 2, 1, bias=norm != "batch")),  # (B, ndf, S/2, S/2)
                                   nn.LeakyReLU(0.2, inplace=True)]  # no batch norm on the input layer (DCGAN)
        for m_in, m_out in zip(mults[:-1], mults[1:]):  # each halves the side, down to 4x4
            layers.append(sn(nn.Conv2d(ndf * m_in, ndf * m_out, 4, 2, 1, bias=norm != "batch")))
            if norm == "batch":
                layers.append(nn.BatchNorm2d(ndf * m_out))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
        self.body = nn.Sequential(*layers)  # (B, ndf*m_last, 4, 4)
        self.feature_dim = ndf * mults[-1] * 4 * 4
        self.mbd = MinibatchDiscrimination(self.feature_dim, minibatch_kernels, kernel_dim) if minibatch_kernels else None
        self.head = sn(nn.Linear(self.mbd.out_features if self.mbd else self.feature_dim, 1, bias=False))  # (B, 1)
        self.apply(weights_init)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last convolutional feature map, flattened: (B, feature_dim)."""
        return flatten_map(self.body(x))

    def forward_all(self, x: torch.Tensor, y: torch.Tensor | None = None) -> DOutput:
        """Logits and the head's input ``[f(x), o(x)]`` (``f(x)`` alone without minibatch discrimination):
        the features D decides with, which feature matching matches."""
        f = self.features(x)
        h = self.mbd(f) if self.mbd is not None else f  # (B, feature_dim [+ kernels])
        return DOutput(self.head(h).flatten(), h)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.forward_all(x, y).logits  # (B,)


@registered
class MinibatchDiscriminator(Discriminator):
    """:class:`Discriminator` ending in openai/improved-gan's ``MinibatchLayer`` as the reference sets it:
    ``minibatch_kernels`` kernels of ``kernel_dim`` dimensions (reference: 100 and 5), the self-distance
    left out, T weight-normalised with the data-dependent init on the first training batch
    (:class:`~gan_helpers.layers.MinibatchDiscrimination` with ``weight_norm=True``). Notebook 05's
    minibatch-discrimination variants use it; a separate class so that the specs of plain
    discriminators (and their checkpoints) are unchanged."""

    def __init__(self, ndf: int = 64, nc: int = 3, image_size: int = 64, norm: str = "batch",
                 minibatch_kernels: int = 100, kernel_dim: int = 5):
        if minibatch_kernels < 1:
            raise ValueError(f"minibatch_kernels must be >= 1, got {minibatch_kernels}")
        super().__init__(ndf, nc, image_size, norm, minibatch_kernels, kernel_dim)
        self.mbd = MinibatchDiscrimination(self.feature_dim, minibatch_kernels, kernel_dim, weight_norm=True)


# ---------------------------------------------------------------------------------------------
# Class-conditional (notebook 04)
# ---------------------------------------------------------------------------------------------

@registered
class SharedEmbedGenerator(nn.Module):
    """(z (B, nz), y (B,)) -> image (B, 3, S, S) in [-1, 1]: the DCGAN generator's layout (a linear layer
    to 4x4, transposed convolutions, no bias before batch norm) with BigGAN's conditioning (Brock et al.
    2019; compare_gan ``resnet_biggan``, ``hierarchical_z`` and ``embed_y``): a **shared class
    embedding** e_y (``embed_dim``) and, with ``hierarchical_z``, z split into one chunk for the first
    linear layer and one for each batch norm; every batch norm is a
    :class:`~gan_helpers.layers.LinearConditionalBatchNorm2d` on ``[z_i, e_y]``.

    ``n_classes=0`` is the unconditional twin (the batch norms read their z chunk only). Why this and not
    per-class scales and shifts (compare_gan's plain conditional batch norm), measured in notebook 04:
    those start equal and move by about Adam's learning rate per step, and left the classes of G alike
    for over a thousand iterations; a class embedding fed beside z into the first layer
    (``embed_input=True``) acts as a per-class, per-position constant that swamps z (one image per class).
    """

    def __init__(self, nz: int = 64, ngf: int = 32, n_classes: int = 10, image_size: int = 32,
                 embed_dim: int = 32, hierarchical_z: bool = True, embed_input: bool = False, cond_init_std: float = 0.02):
        super().__init__()
        self.nz, self.n_classes, self.image_size = nz, n_classes, check_size(image_size)
        mults = [8, 4, 2, 1] if image_size == 64 else [4, 2, 1]
        self.hierarchical_z = hierarchical_z
        n_chunks = len(mults) + 1 if hierarchical_z else 1  # fc + one per batch norm
        if nz < n_chunks:
            raise ValueError(f"nz = {nz} is too small to split into {n_chunks} chunks")
        self.chunks = [len(c) for c in torch.arange(nz).tensor_split(n_chunks)] if hierarchical_z else [nz]
        self.embed = nn.Embedding(n_classes, embed_dim) if n_classes else None  # shared by every layer, e_y ~ N(0, 1)
        cond = lambda i: (self.chunks[i] if hierarchical_z else 0) + (embed_dim if n_classes else 0)
        if cond(1) == 0:
            raise ValueError("an unconditional SharedEmbedGenerator needs hierarchical_z=True (nothing to condition on)")
        self.c0 = ngf * mults[0]
        self.embed_input = embed_input and bool(n_classes)
        self.fc = nn.Linear(self.chunks[0] + (embed_dim if self.embed_input else 0), self.c0 * 16, bias=False)  # (B, chunk0) -> (B, ngf*m0*4*4), no bias: batch norm follows
        self.bns = nn.ModuleList([LinearConditionalBatchNorm2d(ngf * m, cond(i + 1), cond_init_std) for i, m in enumerate(mults)])
        self.ups = nn.ModuleList([nn.ConvTranspose2d(ngf * a, ngf * b, 4, 2, 1, bias=False)  # 4 -> 8 -> 16 (-> 32)
                                  for a, b in zip(mults[:-1], mults[1:])])
        self.out = nn.ConvTranspose2d(ngf * mults[-1], 3, 4, 2, 1)  # (B, 3, S, S)
        for mod in [self.fc, self.out, *self.ups]:
            nn.init.normal_(mod.weight, 0.0, 0.02)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.n_classes and y is None:
            raise ValueError("this generator is class-conditional: pass the labels y")
        z = z.flatten(1)
        zs = z.split(self.chunks, 1) if self.hierarchical_z else (z,)
        e = [self.embed(y).to(z.dtype)] if self.n_classes else []
        conds = [torch.cat(([zs[i + 1]] if self.hierarchical_z else []) + e, 1) for i in range(len(self.bns))]
        h = self.fc(torch.cat([zs[0]] + (e if self.embed_input else []), 1))
        h = F.relu(self.bns[0](h.view(len(z), self.c0, 4, 4), conds[0]))
        for up, bn, c in zip(self.ups, self.bns[1:], conds[1:]):
            h = F.relu(bn(up(h), c))
        return torch.tanh(self.out(h))


@registered
class ProjectionDiscriminator(nn.Module):
    r"""image (B, 3, S, S), y (B,) -> :math:`\psi(\phi(x)) + \langle e_y, \phi(x)\rangle`.

    Spectral norm on every layer (Miyato et al. 2018), no batch norm, so real, rotated and fake
    images can share one batch. ``y`` entries of -1 (or ``y=None``) mean "no label": the
    projection term is 0 for them. ``rotation_head`` and ``class_head`` add linear heads on
    :math:`\phi(x)` (SS-GAN's rotation classifier, S3GAN's class predictor).
    """

    def __init__(self, ndf: int = 32, n_classes: int = 10, image_size: int = 32,
                 rotation_head: bool = False, class_head: bool = False):
        super().__init__()
        check_size(image_size)
        self.n_classes, self.image_size = n_classes, image_size
        mults = [1, 2, 4, 8] if image_size == 64 else [1, 2, 4]
        layers: list[nn.Module] = []
        c_in = 3
        for m in mults:  # each 4x4 stride-2 convolution halves the side: 32 -> 16 -> 8 -> 4
            layers += [spectral_norm(nn.Conv2d(c_in, ndf * m, 4, 2, 1)), nn.LeakyReLU(0.2, inplace=True)]
            c_in = ndf * m
        self.body = nn.Sequential(*layers)  # (B, C, 4, 4)
        self.feature_dim = c_in
        self.psi = spectral_norm(nn.Linear(c_in, 1))  # unconditional term
        self.embed = spectral_norm(nn.Embedding(n_classes, c_in)) if n_classes else None  # e_y
        if self.embed is not None:
            nn.init.xavier_normal_(self.embed.weight_orig)  # compare_gan: glorot_normal
        self.rotation = spectral_norm(nn.Linear(c_in, 4)) if rotation_head else None
        self.classifier = spectral_norm(nn.Linear(c_in, n_classes)) if class_head and n_classes else None

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """phi(x): features after the last LeakyReLU, summed over positions (Miyato & Koyama): (B, C)."""
        return self.body(x).sum((2, 3))

    def projection(self, h: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """<e_y, phi(x)> for labelled rows, 0 where ``y`` is -1 or missing: (B,)."""
        if y is None or self.embed is None:
            return torch.zeros(len(h), device=h.device, dtype=h.dtype)
        known = y >= 0
        e = self.embed(y.clamp(min=0))  # (B, C)
        return (e * h).sum(1) * known.to(h.dtype)

    def forward_all(self, x: torch.Tensor, y: torch.Tensor | None = None) -> DOutput:
        h = self.features(x)
        return DOutput(self.psi(h).flatten() + self.projection(h, y), h,
                       self.rotation(h) if self.rotation is not None else None,
                       self.classifier(h) if self.classifier is not None else None)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.forward_all(x, y).logits


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ---------------------------------------------------------------------------------------------
# Semi-supervised (notebook 05; Salimans et al. 2016, section 5)
# ---------------------------------------------------------------------------------------------

class GaussianNoise(nn.Module):
    """Additive Gaussian noise of standard deviation ``sigma`` in training mode only (lasagne's GaussianNoiseLayer)."""

    def __init__(self, sigma: float):
        super().__init__()
        self.sigma = sigma

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.sigma * torch.randn_like(x) if self.training and self.sigma else x


def _grey01(x: torch.Tensor, size: int) -> torch.Tensor:
    """(B, 3, S, S) in [-1, 1] -> (B, size*size) grey levels in [0, 1] (area-averaged to ``size``), the reference's
    MNIST input."""
    g = (x.float().mean(1, keepdim=True) + 1) / 2
    if g.shape[-1] != size:
        g = F.adaptive_avg_pool2d(g, size)
    return g.flatten(1)


@registered
class SemiSupervisedDiscriminator(nn.Module):
    r"""openai/improved-gan's MNIST discriminator (``train_mnist_feature_matching.py``) on grey images: Gaussian
    input noise (0.3), dense layers of 1000, 500, 250, 250, 250 units (ReLU, weight-normalised, noise 0.5 after
    each) and K class logits :math:`l_1..l_K`. With the fake class's logit fixed at 0 (section 5), the real/fake
    logit is :math:`\log \sum_k e^{l_k}`: ``D(x) = Z(x) / (Z(x) + 1)``. ``features`` is the last hidden layer's
    output (the reference's ``layers[-3]``), which feature matching matches. ``input_size``: the side the image
    is read at (area-averaged; scikit-learn's digits are 8x8 at heart). Deviation: PyTorch's weight norm without
    the reference's data-dependent initialisation."""

    n_classes = 0  # the projection term is not used; the K logits are the class head

    def __init__(self, n_classes: int = 10, image_size: int = 32, widths: tuple[int, ...] = (1000, 500, 250, 250, 250),
                 input_size: int = 0):
        super().__init__()
        from torch.nn.utils.parametrizations import weight_norm

        self.image_size, self.k = check_size(image_size), n_classes
        self.input_size = input_size or image_size
        layers: list[nn.Module] = [GaussianNoise(0.3)]
        d = self.input_size ** 2
        for w in widths:
            layers += [weight_norm(nn.Linear(d, w)), nn.ReLU(), GaussianNoise(0.5)]
            d = w
        self.body = nn.Sequential(*layers[:-1])  # (B, widths[-1]): the features, before the last noise layer
        self.noise = layers[-1]
        self.head = weight_norm(nn.Linear(d, n_classes))  # (B, K)
        self.feature_dim = d

    def forward_all(self, x: torch.Tensor, y: torch.Tensor | None = None) -> DOutput:
        h = self.body(_grey01(x, self.input_size))
        logits = self.head(self.noise(h))  # (B, K)
        return DOutput(torch.logsumexp(logits.float(), 1), h, class_logits=logits)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.forward_all(x, y).logits

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """The K class logits (B, K)."""
        return self.forward_all(x).class_logits


@registered
class SemiSupervisedGenerator(nn.Module):
    """openai/improved-gan's MNIST generator: z (B, nz) -> dense 500 -> dense 500 (softplus, batch norm) ->
    ``output_size`` x ``output_size`` grey levels (sigmoid, weight-normalised), upsampled bilinearly to ``image_size`` (as
    the built-in digits are) and returned as (B, 3, S, S) in [-1, 1], so the evaluator reads it like any sample."""

    n_classes = 0

    def __init__(self, nz: int = 100, image_size: int = 32, width: int = 500, output_size: int = 0):
        super().__init__()
        from torch.nn.utils.parametrizations import weight_norm

        self.nz, self.image_size = nz, check_size(image_size)
        self.output_size = output_size or image_size
        self.main = nn.Sequential(nn.Linear(nz, width), nn.Softplus(), nn.BatchNorm1d(width),
                                  nn.Linear(width, width), nn.Softplus(), nn.BatchNorm1d(width),
                                  weight_norm(nn.Linear(width, self.output_size ** 2)), nn.Sigmoid())

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        g = self.main(z.flatten(1)).view(-1, 1, self.output_size, self.output_size)
        if self.output_size != self.image_size:
            g = F.interpolate(g, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False)
        return (g * 2 - 1).expand(-1, 3, -1, -1).contiguous()
