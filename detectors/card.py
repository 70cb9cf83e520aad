"""Detector cards: what a detector is, where its weights come from and how its inputs are preprocessed.

Cards are plain frozen dataclasses with no torch import, so ``fakebench list detectors`` can show every card without
loading a model. A :class:`Preset` is a named test-time protocol (resize, crop, normalisation) taken from the paper or
the official repository; it is recorded with every result.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from fakebench.core.errors import UnknownNameError
from fakebench.core.names import suggest
from fakebench.hub.weights import WeightsSpec

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "CLIP_MEAN", "CLIP_STD", "Preset", "WeightsSpec", "DetectorCard",
           "suggest"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class Preset:
    """A named test-time preprocessing protocol, applied to a PIL RGB image.

    The transform is, in order: optional resize, optional "translate-duplicate" tiling, optional center crop,
    ``ToTensor`` (uint8 HWC -> float32 CHW in [0, 1]), ``Normalize(mean, std)``. Center crops larger than the image
    zero-pad it, exactly as torchvision's ``CenterCrop`` does in the official code.

    Attributes:
        name: short identifier, unique within a card (e.g. ``native``, ``resize256``).
        resize: target size in pixels, or ``None`` for no resize.
        resize_mode: ``square`` resizes to ``(resize, resize)`` ignoring aspect ratio; ``shorter`` scales the shorter
            side to ``resize`` keeping aspect ratio.
        interpolation: PIL resampling filter for the resize: ``bilinear``, ``bicubic`` or ``nearest``.
        crop: center-crop size in pixels, or ``None`` for no crop.
        tile: NPR's GenImage recipe ("translate and duplicate", NPR README): when the shorter side is under ``tile``
            pixels, the image is pasted ``ceil(tile / W)`` times across and ``ceil(tile / H)`` times down onto a new
            RGB canvas (left to right, top to bottom), so a following crop of ``tile`` never pads; ``None`` = off.
        mean: per-channel normalisation mean (RGB, on the [0, 1] scale).
        std: per-channel normalisation std.
        source: where the protocol comes from (paper section, repo file).
        description: one line for humans.
    """

    name: str
    resize: int | None = None
    resize_mode: str = "square"
    interpolation: str = "bilinear"
    crop: int | None = None
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    source: str = ""
    description: str = ""
    tile: int | None = None

    def __post_init__(self) -> None:
        if self.tile is not None and (not isinstance(self.tile, int) or self.tile < 1):
            raise ValueError(f"Preset {self.name!r}: tile must be a positive pixel size or None, got {self.tile!r}.")
        if self.resize_mode not in ("square", "shorter"):
            raise ValueError(f"Preset {self.name!r}: expected resize_mode 'square' or 'shorter', got {self.resize_mode!r}.")
        if self.interpolation not in ("bilinear", "bicubic", "nearest"):
            raise ValueError(f"Preset {self.name!r}: unsupported interpolation {self.interpolation!r}.")

    @property
    def pads_below(self) -> int | None:
        """The crop size below which an image is zero-padded (a crop with no resize and no tiling that reaches it),
        else ``None``; the runner notes padded images."""
        if self.crop is None or self.resize is not None or (self.tile is not None and self.tile >= self.crop):
            return None
        return self.crop

    @property
    def fixed_size(self) -> bool:
        """True when every image comes out at the same size (so any batch can be stacked)."""
        return self.crop is not None or (self.resize is not None and self.resize_mode == "square")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of every field (``tile`` only when set, so presets without it keep their identity)."""
        data = asdict(self)
        data["mean"], data["std"] = list(self.mean), list(self.std)
        if data["tile"] is None:
            del data["tile"]
        return data


@dataclass(frozen=True)
class DetectorCard:
    """Everything a user needs to know about a detector before running it.

    Attributes:
        name: registry name (kebab/snake case, e.g. ``npr``).
        title: human title.
        paper: citation (authors, title, venue, year).
        paper_url: link to the paper.
        repo: official repository (``owner/name``) and the commit the port follows.
        licence: licence of the official code.
        architecture: one paragraph on the network.
        score: what the raw output means (e.g. "logit; sigmoid gives P(fake)").
        weights: released checkpoints; the first one is the default.
        presets: test-time protocols; ``default_preset`` names the default.
        default_preset: name of the default preset.
        continuous_scores: whether the detector returns a continuous fake probability (so AP/AUC are meaningful).
        natural_threshold: the decision threshold of the official decision rule on the output (``0.5`` on the fake
            probability for every classifier), or ``None`` for a **score-only** detector (e.g. training-free
            AEROBLADE): its output is a score (higher = more likely fake, any real value, not a probability) with no
            natural threshold, so AP/AUC are computed from it and accuracies only at a threshold fitted on a
            calibration split.
        memory: memory/speed note (GPU memory needed, CPU speed).
        notes: pitfalls and deviations from the official code.
        extra: the ``pip install "fakebench[<extra>]"`` extra the detector needs beyond the core install ("" = none).
        requires: the modules that extra provides (import names, e.g. ``("transformers", "sentencepiece")``),
            checked before any work starts.
    """

    name: str
    title: str
    paper: str
    paper_url: str
    repo: str
    licence: str
    architecture: str
    score: str
    weights: tuple[WeightsSpec, ...]
    presets: tuple[Preset, ...]
    default_preset: str
    continuous_scores: bool = True
    memory: str = ""
    notes: str = ""
    extra: str = ""
    requires: tuple[str, ...] = ()
    natural_threshold: float | None = 0.5

    @property
    def score_only(self) -> bool:
        """True when the output is a score without a natural threshold (:attr:`natural_threshold` is ``None``)."""
        return self.natural_threshold is None

    @property
    def default_weights(self) -> WeightsSpec | None:
        """The first weights entry, or ``None`` when the card lists none."""
        return self.weights[0] if self.weights else None

    def get_weights(self, tag: str) -> WeightsSpec:
        """Look up a weights entry by tag (a ``<detector>.`` prefix is accepted).

        Raises:
            UnknownNameError: no such tag; the message suggests close tags.
        """
        tag = tag.split(".", 1)[1] if tag.startswith(self.name + ".") else tag
        for spec in self.weights:
            if spec.tag == tag:
                return spec
        raise UnknownNameError(suggest(tag, [w.tag for w in self.weights], f"{self.name} weights tag"))

    def has_weights(self, tag: str) -> bool:
        """True when ``tag`` (optionally ``<detector>.``-prefixed) names one of the card's weights."""
        tag = tag.split(".", 1)[1] if tag.startswith(self.name + ".") else tag
        return any(spec.tag == tag for spec in self.weights)

    def get_preset(self, name: str | None = None) -> Preset:
        """Look up a preset by name (``None`` gives the default preset).

        Raises:
            UnknownNameError: no such preset; the message lists the valid ones.
        """
        name = name or self.default_preset
        for preset in self.presets:
            if preset.name == name:
                return preset
        raise UnknownNameError(suggest(name, [p.name for p in self.presets], f"{self.name} preset"))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the whole card."""
        data = asdict(self)
        data["weights"] = [w.to_dict() for w in self.weights]
        data["presets"] = [p.to_dict() for p in self.presets]
        return data
