"""A toy detector defined outside the package, as a user would write one (used by the runner/CLI tests).

``prob = sigmoid(k * (mean high-frequency energy - c))`` on the preprocessed batch; it counts its forward calls so
tests can assert that cached or resumed images cause no model work.
"""

from __future__ import annotations

import os

import torch

from fakebench.detectors import register_detector
from fakebench.detectors.base import Detector, DetectorOutput, WeightsInfo
from fakebench.detectors.card import DetectorCard, Preset

TOY_CARD = DetectorCard(
    name="toy-hf", title="Toy high-frequency detector", paper="(test fixture)", paper_url="", repo="", licence="MIT",
    architecture="mean absolute 2x2 difference of the image", score="logit", weights=(),
    presets=(Preset("native"), Preset("resize32", resize=32)), default_preset="native")


@register_detector("toy-hf")
class ToyHF(Detector):
    card = TOY_CARD
    calls = 0
    # raise KeyboardInterrupt after this many calls (simulated interruption); a job in another process (submitit's
    # local executor) reads it from the environment
    fail_after: int | None = int(os.environ["FAKEBENCH_TOY_FAIL_AFTER"]) if "FAKEBENCH_TOY_FAIL_AFTER" in os.environ \
        else None

    @classmethod
    def load(cls, weights=None, *, preset=None, device="cpu", cache_dir=None):
        return cls(preset=preset, weights=WeightsInfo(tag="none"), device=device)

    def predict(self, batch: torch.Tensor) -> DetectorOutput:
        type(self).calls += 1
        if self.fail_after is not None and type(self).calls > self.fail_after:
            raise KeyboardInterrupt("simulated interruption")
        hf = (batch[..., 1:, :] - batch[..., :-1, :]).abs().mean(dim=(1, 2, 3))
        logit = 8.0 * (hf - 0.25)
        return DetectorOutput(prob=torch.sigmoid(logit), logit=logit)
