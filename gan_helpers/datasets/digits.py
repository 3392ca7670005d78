"""scikit-learn's bundled handwritten digits (notebook 05): 1,797 real 8x8 images, 10 classes, offline."""
from __future__ import annotations

import torch

from ..images import ImageSet


def load_digits_images(image_size: int = 32) -> ImageSet:
    """scikit-learn's bundled handwritten digits (1,797 real 8x8 images, 10 classes), offline.

    Upsampled bilinearly to ``image_size`` and replicated to 3 channels; ink is white on black.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.as_tensor(bunch.images, dtype=torch.float32)[:, None] / 16.0  # (N, 1, 8, 8) in [0, 1]
    x = torch.nn.functional.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False)
    x = (x.clamp(0, 1) * 2 - 1).repeat(1, 3, 1, 1)
    return ImageSet(images=x, labels=torch.as_tensor(bunch.target, dtype=torch.long),
                    label_names=[str(i) for i in range(10)], name="digits")
