"""Linear probes on frozen backbones (the ``probe`` detector family): card and architecture table, no torch import.

A probe is ``fc(dropout(backbone(x)))``: a frozen image backbone from torchvision, timm or open_clip, its pooled
feature vector (``(N, D)`` float32), optional dropout (used for MC dropout in active learning; identity at test time)
and ``nn.Linear(D, 1)``; ``logit > 0`` means fake. This is the UnivFD recipe (Ojha et al., CVPR 2023) generalised to
the backbones of the CS545 study (``CarrotPeeler/CS545-Real-Fake-Image-Detection``, ``UniversalFakeDetect/models``):
``Imagenet:resnet18/34/50/101/152``, ``Imagenet:vgg11/19``, ``Imagenet:vit_b_16`` (torchvision, the penultimate
features) and ``CLIP:RN50``, ``CLIP:RN101``, ``CLIP:ViT-L/14`` (``encode_image``, not L2-normalised). UnivFD itself is
the ``CLIP:ViT-L/14`` member with the official head.

Architecture names (:func:`parse_arch`):

* a CS545 name from :data:`CS545_ARCHS` (``Imagenet:resnet50``, ``CLIP:ViT-L/14``, ...);
* ``timm:NAME`` -- any ``timm.create_model`` name, optionally with a pretrained tag (``timm:resnet18.a1_in1k``);
* ``tv:NAME`` (or ``torchvision:NAME``) -- any ``torchvision.models.get_model`` name, optionally ``tv:NAME@WEIGHTS``
  with a weights enum name (``tv:resnet50@IMAGENET1K_V2``; default: the enum's ``DEFAULT``);
* ``open_clip:NAME/PRETRAINED`` -- an open_clip model name and pretrained tag (``open_clip:ViT-B-32/openai``).
"""

from __future__ import annotations

from dataclasses import dataclass

from fakebench.core.errors import UnknownNameError
from fakebench.core.names import suggest

from fakebench.detectors.card import DetectorCard, Preset

__all__ = ["ArchSpec", "CS545_ARCHS", "LIBRARIES", "parse_arch", "PROBE_CARD"]

#: The backbone libraries a probe can be built from.
LIBRARIES = ("torchvision", "timm", "open_clip")

_CS545 = "CarrotPeeler/CS545-Real-Fake-Image-Detection UniversalFakeDetect/models"


@dataclass(frozen=True)
class ArchSpec:
    """One backbone, resolved to the library that builds it.

    Attributes:
        name: canonical name as the user writes it (``Imagenet:resnet50``, ``timm:resnet18``).
        library: ``torchvision``, ``timm`` or ``open_clip``.
        model: the library's model name (``resnet50``, ``ViT-L-14``).
        pretrained: the library's pretrained-weights name (torchvision weights enum member, open_clip tag; for timm
            the tag is part of ``model``), or ``None`` for the library default.
        feature_dim: known feature width ``D`` (CS545 ``CHANNELS`` tables), or ``None`` to read it off the model.
        source: where the name comes from.
    """

    name: str
    library: str
    model: str
    pretrained: str | None = None
    feature_dim: int | None = None
    source: str = ""


def _tv(name: str, dim: int) -> ArchSpec:
    # CS545 used torchvision's legacy ``pretrained=True``, i.e. the IMAGENET1K_V1 weights.
    return ArchSpec(f"Imagenet:{name}", "torchvision", name, "IMAGENET1K_V1", dim, f"{_CS545}/imagenet_models.py")


def _clip(name: str, model: str, dim: int) -> ArchSpec:
    return ArchSpec(f"CLIP:{name}", "open_clip", model, "openai", dim, f"{_CS545}/clip_models.py (OpenAI CLIP)")


#: The CS545 study's backbones, with the feature widths of its ``CHANNELS`` tables.
CS545_ARCHS: dict[str, ArchSpec] = {s.name: s for s in (
    _tv("resnet18", 512), _tv("resnet34", 512), _tv("resnet50", 2048), _tv("resnet101", 2048),
    _tv("resnet152", 2048), _tv("vgg11", 4096), _tv("vgg19", 4096), _tv("vit_b_16", 768),
    _clip("RN50", "RN50", 1024), _clip("RN101", "RN101", 512), _clip("ViT-L/14", "ViT-L-14", 768),
)}

_PREFIXES = {"timm": "timm", "tv": "torchvision", "torchvision": "torchvision", "open_clip": "open_clip",
             "openclip": "open_clip"}


def parse_arch(text: str) -> ArchSpec:
    """Resolve an architecture name (see the module docstring) without importing any library.

    Args:
        text: ``Imagenet:resnet50``, ``CLIP:ViT-L/14``, ``timm:NAME``, ``tv:NAME[@WEIGHTS]`` or
            ``open_clip:NAME[/PRETRAINED]``.

    Returns:
        The :class:`ArchSpec`. Whether the library knows the model name is checked when the backbone is built.

    Raises:
        UnknownNameError: not a CS545 name and no known ``library:`` prefix (with close-match suggestions).
    """
    text = str(text).strip()
    if text in CS545_ARCHS:
        return CS545_ARCHS[text]
    folded = {k.lower(): v for k, v in CS545_ARCHS.items()}
    if text.lower() in folded:
        return folded[text.lower()]
    prefix, sep, rest = text.partition(":")
    library = _PREFIXES.get(prefix.lower()) if sep else None
    if library is None or not rest:
        hint = suggest(text, list(CS545_ARCHS), "probe arch")
        raise UnknownNameError(f"{hint} Use a CS545 name, or timm:NAME, tv:NAME[@WEIGHTS] or "
                               f"open_clip:NAME/PRETRAINED.")
    if library == "timm":
        return ArchSpec(f"timm:{rest}", "timm", rest, None, None, "timm.create_model")
    if library == "torchvision":
        model, _, weights = rest.partition("@")
        return ArchSpec(f"tv:{rest}", "torchvision", model, weights or None, None, "torchvision.models.get_model")
    model, _, tag = rest.partition("/")
    return ArchSpec(f"open_clip:{rest}", "open_clip", model, tag or None, None, "open_clip.create_model")


PROBE_CARD = DetectorCard(
    name="probe",
    title="Linear probe on a frozen backbone (UnivFD recipe over torchvision / timm / open_clip backbones)",
    paper="Ojha, Li and Lee, Towards Universal Fake Image Detectors that Generalize Across Generative Models, "
          "CVPR 2023 (the recipe); backbones of the CS545 Real-Fake-Image-Detection study",
    paper_url="https://arxiv.org/abs/2302.10174",
    repo="https://github.com/CarrotPeeler/CS545-Real-Fake-Image-Detection (backbone list, feature widths)",
    licence="fakebench code; backbone weights carry their own licences (torchvision BSD, timm per model, OpenAI MIT)",
    architecture="Frozen backbone (-O arch=...: CS545 names, timm:NAME, tv:NAME, open_clip:NAME/PRETRAINED) giving a "
                 "pooled D-dim float32 feature (torchvision: the penultimate layer; timm: num_classes=0 pooled "
                 "features; open_clip: visual encoder output, not L2-normalised), optional dropout, nn.Linear(D, 1). "
                 "Backbone weights: the library's pretrained weights (-O pretrained=true, the default), a local file "
                 "(-O backbone=PATH), or an explicit random init (-O pretrained=false -O seed=N), recorded in the "
                 "detector identity.",
    score="logit; sigmoid(logit) = P(fake)",
    weights=(),
    presets=(
        Preset("library", resize=256, resize_mode="shorter", interpolation="bilinear", crop=224,
               source="resolved per arch: timm resolve_data_config, torchvision weights transforms(), open_clip "
                      "preprocess config (the values shown are torchvision's ImageNet ones)",
               description="the backbone library's own eval transform, resolved per arch and recorded with results"),
        Preset("crop224", crop=224,
               source="UnivFD validate.py / CS545 data/datasets.py test transform (CenterCrop(224), no resize)",
               description="center crop 224 at native size (zero-padded when smaller), with the mean/std of the "
                           "backbone's library preset (ImageNet or CLIP)"),
    ),
    default_preset="library",
    memory="Depends on the backbone; the head is D+1 parameters. Features are cached per (backbone, preset, image) "
           "by fakebench.train.features, so training heads never recomputes the backbone.",
    notes="Head checkpoints: {'weight': [1, D], 'bias': [1]} (UnivFD's fc_weights.pth format), optionally wrapped as "
          "{'state_dict': ..., 'meta': {...}} by `fakebench train probe`; the meta (arch, backbone identity, preset) "
          "is checked at load time and a mismatched backbone is refused. No silent random initialisation.",
)
