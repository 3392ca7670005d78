"""What a notebook prints instead of a dict, a list or a model's repr: tables and sentences.

A learner reads ``110 duplicate, 41 outlier`` or a table of layers more easily than
``{np.str_('duplicate'): 110, ...}`` or ``Sequential(...)``; these helpers turn the numbers a notebook
already has into that text. Numbers get thousands separators; nothing here computes a result.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd
import torch
from torch import nn


def _number(v) -> str:
    if isinstance(v, float) and not float(v).is_integer():
        return f"{v:,.3g}"
    return f"{int(v):,}"


def join_words(items: Iterable) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    items = [str(i) for i in items]
    if len(items) < 2:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def counts_phrase(counts: Mapping, unit: str = "") -> str:
    """``{"duplicate": 110, "outlier": 41}`` as ``duplicate 110, outlier 41``, largest count first; names that
    share a count are grouped: ``good 2,100; 225 each: occluded, drawing, multi and profile``. ``unit`` follows
    every number (``" images"``). Keys and counts may be NumPy scalars, and ``counts`` a pandas Series
    (``value_counts()``)."""
    counts = dict(counts.items())
    if not counts:
        return "none"
    by_count: dict[int, list[str]] = {}
    for name, n in counts.items():
        by_count.setdefault(int(n), []).append(str(name))
    parts = []
    for n in sorted(by_count, reverse=True):
        names = by_count[n]
        parts.append(f"{names[0]} {n:,}{unit}" if len(names) == 1 else f"{n:,}{unit} each: {join_words(names)}")
    return ("; " if any("each:" in p for p in parts) else ", ").join(parts)


def per_seed_phrase(values: Mapping, fmt: str = ".3f") -> str:
    """``{0: 0.44, 1: 0.437}`` as ``0.440 (seed 0), 0.437 (seed 1)``."""
    return ", ".join(f"{float(v):{fmt}} (seed {s})" for s, v in values.items())


def files_phrase(written: Mapping[str, int], what: str = "PNG files") -> str:
    """The folders a run wrote (``{folder: number of files}``, as :func:`gan_helpers.images.save_samples`
    returns them) as one sentence: ``19,899 PNG files in 8 folders under outputs/05/samples: real 899;
    3,000 each: baseline, ... and all``."""
    if not written:
        return f"no {what}"
    folders = [Path(f) for f in written]
    parent = Path(os.path.commonpath([str(f) for f in folders])) if len(folders) > 1 else folders[0].parent
    names = {str(f.relative_to(parent)) if f != parent else f.name: n for f, n in zip(folders, written.values())}
    total = sum(int(n) for n in written.values())
    return (f"{total:,} {what} in {len(written)} folder{'s' if len(written) != 1 else ''} under {parent}: "
            f"{counts_phrase(names)}")


def _size(t) -> str:
    """A conv setting: ``(4, 4)`` as ``4``, ``(3, 5)`` as ``3x5``, ``"same"`` as is."""
    if isinstance(t, tuple):
        return str(t[0]) if len(set(t)) == 1 else "x".join(str(v) for v in t)
    return str(t)


def _layer_details(m: nn.Module) -> str:
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        p = m.padding
        text = f"{m.in_channels} -> {m.out_channels} channels, kernel {_size(m.kernel_size)}, stride {_size(m.stride)}"
        text += f", padding {_size(p)}" if (p if isinstance(p, str) else any(p)) else ""
        return text + ("" if m.bias is not None else ", no bias")
    if isinstance(m, nn.Linear):
        return f"{m.in_features} -> {m.out_features} features" + ("" if m.bias is not None else ", no bias")
    if isinstance(m, nn.modules.batchnorm._BatchNorm):
        return f"{m.num_features} channels"
    if isinstance(m, nn.LeakyReLU):
        return f"slope {m.negative_slope:g}"
    if isinstance(m, nn.Dropout):
        return f"p = {m.p:g}"
    return ""


def layer_table(model: nn.Module, example: torch.Tensor) -> pd.DataFrame:
    """One row per leaf layer of ``model``, in the order they run on ``example`` (a batch of inputs): its type,
    its settings in words, the shape of its output (without the batch dimension) and its parameters.
    The model runs once, in eval mode and without gradients; its mode is restored afterwards."""
    rows, hooks = [], []

    def record(name):
        def hook(module, inputs, output):
            shape = tuple(output.shape[1:]) if isinstance(output, torch.Tensor) else ()
            rows.append({"layer": name, "type": type(module).__name__, "settings": _layer_details(module),
                         "output shape": " x ".join(str(d) for d in shape),
                         "parameters": sum(p.numel() for p in module.parameters(recurse=False))})
        return hook

    for name, module in model.named_modules():
        if not list(module.children()):
            hooks.append(module.register_forward_hook(record(name or type(module).__name__)))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(example)
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    table = pd.DataFrame(rows, columns=["layer", "type", "settings", "output shape", "parameters"])
    return table.set_index("layer")
