"""Throughput and time left of a scoring run: images/s, pixels/s and an ETA measured past the warm-up.

tqdm's own rate is an exponential average that starts with the first batch, which carries the model's first-call
overhead (allocation, kernel selection, a cold page cache), so its first ETAs are far too long. :class:`RateMeter`
leaves the first ``warmup_batches`` out of the rate and gives no ETA until a batch after them has been measured.
The ETA counts pixels, not images: the runner sorts images by size, and a forward pass costs about its pixels.
"""
from __future__ import annotations

import time
from typing import Callable

__all__ = ["RateMeter", "format_rate"]


def format_rate(value: float, unit: str) -> str:
    """``12345.0, "px/s"`` -> ``"12.3 kpx/s"`` (k, M, G prefixes; one decimal)."""
    for prefix, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= scale:
            return f"{value / scale:.1f} {prefix}{unit}"
    return f"{value:.1f} {unit}"


def _clock_text(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class RateMeter:
    """Images/s, pixels/s and time left of one scoring loop.

    Args:
        total_images: images the loop will process (>= 0).
        total_pixels: their pixels (height x width summed, >= 0).
        warmup_batches: leading batches left out of the rate behind the ETA (default 2).
        clock: seconds as a float (default :func:`time.perf_counter`; tests pass a fake one).

    ``images_per_s`` / ``pixels_per_s`` are the rates past the warm-up once a later batch is measured, else the
    rates since the start (shown, not used for the ETA). ``eta_s`` is ``None`` until the rate past the warm-up exists.
    """

    def __init__(self, total_images: int, total_pixels: int, *, warmup_batches: int = 2,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.total_images, self.total_pixels = int(total_images), int(total_pixels)
        self.warmup_batches = max(0, int(warmup_batches))
        self._clock = clock
        self._start = clock()
        self._warm_at: float | None = self._start if self.warmup_batches == 0 else None
        self._warm_images = self._warm_pixels = 0
        self.batches = self.images = self.pixels = 0

    def update(self, images: int, pixels: int) -> None:
        """Record one finished batch of ``images`` images holding ``pixels`` pixels."""
        self.batches += 1
        self.images += int(images)
        self.pixels += int(pixels)
        if self._warm_at is None and self.batches >= self.warmup_batches:
            self._warm_at, self._warm_images, self._warm_pixels = self._clock(), self.images, self.pixels

    def _rates(self) -> tuple[float, float, bool]:
        now = self._clock()
        if self._warm_at is not None and self.images > self._warm_images and now > self._warm_at:
            span = now - self._warm_at
            return (self.images - self._warm_images) / span, (self.pixels - self._warm_pixels) / span, True
        span = now - self._start
        return (self.images / span, self.pixels / span, False) if span > 0 else (0.0, 0.0, False)

    @property
    def images_per_s(self) -> float:
        return self._rates()[0]

    @property
    def pixels_per_s(self) -> float:
        return self._rates()[1]

    @property
    def eta_s(self) -> float | None:
        """Seconds left: pixels left / pixel rate past the warm-up; ``None`` before that rate is measured."""
        _, pixel_rate, warm = self._rates()
        if not warm or pixel_rate <= 0:
            return None
        return max(0, self.total_pixels - self.pixels) / pixel_rate

    def postfix(self) -> str:
        """``"10.0 img/s, 10.0 kpx/s, ETA 0:05"`` (``ETA ?`` while warming up) for a progress bar."""
        image_rate, pixel_rate, _ = self._rates()
        eta = self.eta_s
        return (f"{format_rate(image_rate, 'img/s')}, {format_rate(pixel_rate, 'px/s')}, "
                f"ETA {'?' if eta is None else _clock_text(eta)}")
