"""Explanations of real/fake verdicts.

* :mod:`fakebench.explain.llava` -- a vision-language explainer: LLaVA-NeXT (LLaVA 1.6) writes a rationale and a
  verdict (``real``/``fake``/``unknown``) for an image, optionally with a LoRA adapter, following the CS545
  Real-Fake-Image-Detection study (CarrotPeeler/CS545-Real-Fake-Image-Detection, ``LLaVa_Experiments/``).
* :mod:`fakebench.explain.gradcam` -- Grad-CAM heatmaps (Selvaraju et al., ICCV 2017) of the fake logit of the CNN
  and CLIP detectors (NPR, CNNSpot, UnivFD).

Both modules import torch/transformers lazily; ``import fakebench.explain`` is cheap.
"""

from __future__ import annotations

__all__ = ["gradcam", "llava"]
