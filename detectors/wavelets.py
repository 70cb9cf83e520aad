"""A one-level 2-D discrete wavelet transform (DWT) in torch, with PyWavelets' filters and boundary handling.

SAFE (``Ouxiang-Li/SAFE`` @ 722620a, ``models/resnet.py`` ``ResNet._preprocess_dwt``) feeds its network the diagonal
(HH) detail band of a one-level ``bior1.3`` DWT in ``symmetric`` mode, computed with ``pytorch_wavelets``
``DWTForward(J=1, mode='symmetric', wave='bior1.3')``. This module computes the same transform from the published
definition, so fakebench does not depend on ``pytorch_wavelets``:

* filters: PyWavelets' decomposition filters (``pywt.Wavelet(name).dec_lo`` / ``dec_hi``), time-reversed so that a
  correlation (``conv2d``) computes the convolution, cast to float32;
* boundary: half-sample symmetric extension (``x[-1] = x[0]``), PyWavelets' ``symmetric`` mode, with the number of
  output coefficients ``floor((N + L - 1) / 2)`` for a signal of ``N`` samples and a filter of ``L`` taps
  (``pywt.dwt_coeff_len``), padding ``p = 2 * (out - 1) - N + L`` split as ``(p // 2, (p + 1) // 2)``;
* order: rows first (filtering along the width, stride 2), then columns (along the height), each as one grouped
  ``conv2d`` holding the low-pass and high-pass filters of every channel, which is the arithmetic ``pytorch_wavelets``
  1.3.0 performs, so the bands are bit-identical to it (``tests/test_parity_artifact.py`` checks this against
  outputs of the official code stored in ``tests/fixtures/parity/safe/``).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["symmetric_indices", "dwt_filters", "dwt2_level1"]


def symmetric_indices(n: int, before: int, after: int) -> torch.Tensor:
    """Indices that extend a length-``n`` axis by ``before``/``after`` samples with half-sample symmetry.

    ``[-2, -1, 0, .., n-1, n, n+1]`` maps to ``[1, 0, 0, .., n-1, n-1, n-2]`` (PyWavelets' ``symmetric`` mode; the
    extension repeats periodically with period ``2n`` for pads longer than the signal).

    Returns:
        ``(before + n + after,)`` int64 tensor of indices into ``range(n)``.
    """
    idx = np.arange(-before, n + after) % (2 * n)
    return torch.from_numpy(np.where(idx >= n, 2 * n - 1 - idx, idx).astype(np.int64))


@lru_cache(maxsize=8)
def dwt_filters(wavelet: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Time-reversed float32 decomposition filters ``(low, high)`` of a PyWavelets wavelet, each ``(L,)``.

    Raises:
        ValueError: unknown wavelet name (from PyWavelets).
    """
    import pywt

    w = pywt.Wavelet(wavelet)
    low = torch.tensor(np.array(w.dec_lo[::-1]), dtype=torch.float32)
    high = torch.tensor(np.array(w.dec_hi[::-1]), dtype=torch.float32)
    return low, high


def _analysis_1d(x: torch.Tensor, low: torch.Tensor, high: torch.Tensor, dim: int) -> torch.Tensor:
    """Filter and downsample by 2 along ``dim`` (2 = height, 3 = width); ``(N, C, H, W)`` -> ``(N, 2C, H', W')``
    with channels ordered ``[c0 low, c0 high, c1 low, c1 high, ...]``."""
    n, taps, channels = x.shape[dim], low.numel(), x.shape[1]
    out = (n + taps - 1) // 2  # pywt.dwt_coeff_len(n, taps, 'symmetric')
    pad = 2 * (out - 1) - n + taps
    idx = symmetric_indices(n, pad // 2, (pad + 1) // 2).to(x.device)
    x = x.index_select(dim, idx)
    shape = [1, 1, 1, 1]
    shape[dim] = taps
    weight = torch.cat([low.reshape(shape), high.reshape(shape)] * channels, dim=0).to(x.device, x.dtype)
    stride = (2, 1) if dim == 2 else (1, 2)
    return F.conv2d(x, weight, stride=stride, groups=channels)


def dwt2_level1(x: torch.Tensor, wavelet: str = "bior1.3") -> tuple[torch.Tensor, torch.Tensor]:
    """One-level 2-D DWT in PyWavelets' ``symmetric`` mode.

    Args:
        x: ``(N, C, H, W)`` float32 tensor (any ``H, W >= 1``).
        wavelet: a PyWavelets wavelet name (SAFE uses ``bior1.3``).

    Returns:
        ``(low, highs)``: ``low`` ``(N, C, H', W')``, the approximation band; ``highs`` ``(N, C, 3, H', W')``, the
        detail bands in ``pytorch_wavelets`` order ``[LH, HL, HH]`` (index 2 is the diagonal band: high-pass along
        both axes), with ``H' = floor((H + L - 1) / 2)`` for an ``L``-tap filter (``bior1.3``: L = 6).
    """
    low_f, high_f = dwt_filters(wavelet)
    y = _analysis_1d(_analysis_1d(x, low_f, high_f, dim=3), low_f, high_f, dim=2)
    y = y.reshape(y.shape[0], -1, 4, y.shape[-2], y.shape[-1])
    return y[:, :, 0].contiguous(), y[:, :, 1:].contiguous()
