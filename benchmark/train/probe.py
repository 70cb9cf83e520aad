"""Training a linear probe head on cached backbone features (the UnivFD recipe: frozen backbone, ``nn.Linear(D, 1)``).

The head is fitted on standardised features (per-dimension mean/std of the training set, which makes one learning
rate work for any backbone) and the standardisation is then folded into the weights, so the saved head acts on raw
features exactly like UnivFD's ``fc_weights.pth``: ``logit = w . f + b``, ``logit > 0`` = fake. Optimiser: AdamW on
the binary cross-entropy with logits, full batch (or minibatches of ``batch_size``), seeded; optional dropout before
the head (Gal and Ghahramani's MC dropout needs a head trained with dropout). Dropout acts on the raw features
(inverted scaling ``1 / (1 - p)``) before the fixed standardisation, so training noise, the probe's dropout layer and
MC dropout on the saved head are the same operation.

Head files (:func:`save_head`) are ``{'state_dict': {'weight': [1, D], 'bias': [1]}, 'meta': {...}}``: plain tensors,
strings and numbers, loadable with ``torch.load(weights_only=True)``; the meta records the arch, the backbone identity
(weights sha256 or random-init + seed), the preset and the training data and settings, and
:meth:`fakebench.detectors.probe.model.Probe.load` checks the backbone against it.
"""

from __future__ import annotations

import io
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from fakebench.core.errors import DataError
from fakebench.core.files import atomic_write_bytes

__all__ = ["HeadConfig", "fit_head", "head_scores", "binary_scores", "save_head"]


@dataclass(frozen=True)
class HeadConfig:
    """Settings of :func:`fit_head`.

    Attributes:
        steps: optimiser steps (full-batch) or epochs (minibatch).
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay (on the standardised weights).
        dropout: dropout probability on the features during training (0 = none).
        batch_size: ``None`` = full batch, else minibatch size.
        balanced: weight the loss so real and fake count equally.
    """

    steps: int = 200
    lr: float = 0.01
    weight_decay: float = 1e-3
    dropout: float = 0.0
    batch_size: int | None = None
    balanced: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _generator(seed: int | tuple[int, ...]) -> torch.Generator:
    seq = np.random.SeedSequence(seed if isinstance(seed, int) else list(seed))
    return torch.Generator().manual_seed(int(seq.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1)))


def fit_head(features: np.ndarray, labels: np.ndarray, *, config: HeadConfig = HeadConfig(),
             seed: int | tuple[int, ...] = 0) -> nn.Linear:
    """Fit ``nn.Linear(D, 1)`` to ``(features, labels)``.

    Args:
        features: ``(N, D)`` float32 raw backbone features.
        labels: ``(N,)`` int, 0 real / 1 fake; both labels must occur.
        config: optimiser settings.
        seed: seeds the head initialisation, dropout masks and minibatch order (an int or a tuple of ints).

    Returns:
        The head on raw features (standardisation folded in), in eval mode, on the CPU.

    Raises:
        DataError: shapes disagree, non-finite features, or a single label.
    """
    x = np.asarray(features, dtype=np.float32)
    y = np.asarray(labels).astype(np.int64)
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise DataError(f"Expected features (N, D) and labels (N,), got {x.shape} and {y.shape}.")
    if not np.isfinite(x).all():
        raise DataError("Backbone features contain NaN or inf; check the backbone and the images.")
    if set(np.unique(y).tolist()) != {0, 1}:
        raise DataError(f"Training a probe needs both real (0) and fake (1) examples; got labels {np.unique(y)}.")
    mean = x.mean(0)
    std = x.std(0)
    std = np.where(std > 1e-6, std, 1.0).astype(np.float32)
    xr = torch.from_numpy(x)
    mu, sd = torch.from_numpy(mean), torch.from_numpy(std)
    xs = (xr - mu) / sd
    yt = torch.from_numpy(y.astype(np.float32))
    gen = _generator(seed)
    fc = nn.Linear(x.shape[1], 1)
    with torch.no_grad():
        bound = 1.0 / np.sqrt(x.shape[1])
        fc.weight.uniform_(-bound, bound, generator=gen)
        fc.bias.zero_()
    weight = torch.ones_like(yt)
    if config.balanced:
        n_fake = float(yt.sum())
        n_real = float(len(yt) - n_fake)
        weight = torch.where(yt > 0, len(yt) / (2 * n_fake), len(yt) / (2 * n_real))
    opt = torch.optim.AdamW(fc.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    n = len(yt)
    batch = config.batch_size or n
    for _ in range(config.steps):
        order = torch.randperm(n, generator=gen) if batch < n else torch.arange(n)
        for start in range(0, n, batch):
            idx = order[start:start + batch]
            if config.dropout > 0:
                # inverted dropout on the RAW features, then the fixed standardisation: the same noise as the
                # probe's dropout layer and as MC dropout on the saved (raw-feature) head
                keep = (torch.rand((len(idx), xr.shape[1]), generator=gen) >= config.dropout).float()
                xb = (xr[idx] * keep / (1.0 - config.dropout) - mu) / sd
            else:
                xb = xs[idx]
            loss = nn.functional.binary_cross_entropy_with_logits(fc(xb).reshape(-1), yt[idx], weight=weight[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    out = nn.Linear(x.shape[1], 1)
    with torch.no_grad():
        w = fc.weight / sd
        out.weight.copy_(w)
        out.bias.copy_(fc.bias - (w * mu).sum())
    return out.eval()


@torch.no_grad()
def head_scores(fc: nn.Linear, features: np.ndarray) -> np.ndarray:
    """``(N,)`` float64 logits of ``fc`` on raw ``(N, D)`` features (no dropout)."""
    return fc(torch.from_numpy(np.asarray(features, dtype=np.float32))).reshape(-1).double().numpy()


def binary_scores(labels: np.ndarray, logits: np.ndarray) -> dict[str, float]:
    """Accuracy, real acc, fake acc (decision ``prob > 0.5``), AP and AUC of fake probabilities (fractions in
    [0, 1]), computed with :mod:`fakebench.eval.metrics`."""
    from fakebench.eval.metrics import accuracy, average_precision, fake_accuracy, real_accuracy, roc_auc

    prob = 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64)))
    return {"n": int(len(labels)), "acc": accuracy(labels, prob), "real_acc": real_accuracy(labels, prob),
            "fake_acc": fake_accuracy(labels, prob), "ap": average_precision(labels, prob),
            "auc": roc_auc(labels, prob)}


def save_head(path: str | os.PathLike, fc: nn.Linear, *, probe: Any, training: dict[str, Any]) -> Path:
    """Write a head checkpoint atomically.

    Args:
        path: output file (``.pth``).
        fc: the trained ``nn.Linear(D, 1)``.
        probe: the :class:`~fakebench.detectors.probe.model.Probe` whose backbone produced the features (its
            ``backbone`` provenance and ``preset`` are recorded).
        training: JSON-ready description of the data and settings.

    Returns:
        The path written.
    """
    from fakebench.core.provenance import now_iso
    from fakebench.detectors.probe.model import HEAD_SCHEMA

    meta = {"schema": HEAD_SCHEMA, "arch": probe.backbone["arch"],
            "backbone": {k: v for k, v in probe.backbone.items() if k != "path"},
            "preset": probe.preset.to_dict(), "created": now_iso(), "training": training}
    state = {"weight": fc.weight.detach().float().cpu().clone(), "bias": fc.bias.detach().float().cpu().clone()}
    buffer = io.BytesIO()
    torch.save({"state_dict": state, "meta": meta}, buffer)
    return atomic_write_bytes(path, buffer.getvalue())
