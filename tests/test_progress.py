"""Progress of a scoring run (issue #20): images/s beside pixels/s, and an ETA from the rate measured after the
first batches (the first one carries the model's warm-up), not from the first batch."""
from __future__ import annotations

import pytest

from fakebench.eval.progress import RateMeter


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_rates_and_eta_ignore_the_warm_up_batch():
    clock = Clock()
    meter = RateMeter(total_images=100, total_pixels=100 * 1000, warmup_batches=1, clock=clock)
    assert meter.eta_s is None and "ETA" in meter.postfix() and "img/s" in meter.postfix()
    clock.now = 10.0  # first batch: 10 images in 10 s (model load, first-call overhead)
    meter.update(images=10, pixels=10 * 1000)
    assert meter.eta_s is None  # nothing measured past warm-up yet: no guess from the slow first batch
    for _ in range(4):  # steady state: 10 images per second
        clock.now += 1.0
        meter.update(images=10, pixels=10 * 1000)
    assert meter.images_per_s == pytest.approx(10.0)
    assert meter.pixels_per_s == pytest.approx(10_000.0)
    assert meter.eta_s == pytest.approx(5.0)  # 50 images left at 10/s (the first batch's 1/s would say 50 s)
    text = meter.postfix()
    assert "10.0 img/s" in text and "10.0 kpx/s" in text and "ETA 0:05" in text


def test_eta_follows_pixels_when_sizes_vary():
    """Images sorted large-first: the pixels left, not the images left, say how long the rest takes."""
    clock = Clock()
    meter = RateMeter(total_images=20, total_pixels=10 * 4000 + 10 * 1000, warmup_batches=1, clock=clock)
    clock.now = 5.0
    meter.update(images=5, pixels=5 * 4000)
    clock.now += 2.0
    meter.update(images=5, pixels=5 * 4000)  # 10 kpx/s
    assert meter.eta_s == pytest.approx(1.0)  # 10 kpx left (10 small images), not 10 images x 0.4 s


def test_warm_up_falls_back_to_the_whole_run_when_it_is_all_there_is():
    clock = Clock()
    meter = RateMeter(total_images=4, total_pixels=4, warmup_batches=2, clock=clock)
    clock.now = 2.0
    meter.update(images=2, pixels=2)
    assert meter.images_per_s == pytest.approx(1.0)  # the rate so far is still shown
    assert meter.eta_s is None
