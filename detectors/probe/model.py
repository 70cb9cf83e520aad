"""The ``probe`` detector: a frozen torchvision / timm / open_clip backbone and a linear head (see the package doc).

Backbone weights come from exactly one of three places, and the choice is part of the detector identity:

* the library's pretrained weights (``pretrained=True``, the default): torchvision weights enum files, timm's hub
  weights, open_clip pretrained tags, downloaded into ``<cache root>/{torchvision,timm,open_clip}``; offline, a cache
  miss is a :class:`~fakebench.core.errors.WeightsNotFoundError` (never a random fallback);
* a local file (``backbone=PATH``): a state dict of the library's model (classifier keys may be absent), or, for
  open_clip architectures, an OpenAI-format CLIP state dict whose visual tower is built from the file itself, as the
  OpenAI ``clip.load(path)`` used by UnivFD and CS545 does;
* an explicit random initialisation (``pretrained=False``), seeded with ``seed`` and recorded as
  ``random-init`` + seed.

Preprocessing (preset ``library``) is the library's own eval transform: timm ``resolve_data_config`` (resize
``floor(size / crop_pct)`` on the shorter side, center crop ``size``), torchvision's weights ``transforms()``
metadata, open_clip's preprocess config (shorter-side resize, center crop). Preset ``crop224`` is the UnivFD/CS545
test transform (center crop 224, no resize) with the same mean/std.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fakebench.core.env import hub_offline_mode
from fakebench.core.errors import CheckpointError, FakebenchError, WeightsNotFoundError

from fakebench.detectors.base import DetectorOutput, LogitDetector, WeightsInfo
from fakebench.detectors.card import Preset
from fakebench.detectors.probe import PROBE_CARD, ArchSpec, parse_arch

__all__ = ["HEAD_SCHEMA", "ProbeNet", "Backbone", "build_backbone", "parse_bool", "Probe"]

#: ``meta["schema"]`` of head checkpoints written by :func:`fakebench.train.probe.save_head`.
HEAD_SCHEMA = "fakebench.probe_head/1"

_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def parse_bool(value: Any, what: str) -> bool | None:
    """``True``/``False``/``None`` from a bool or a CLI string (``-O pretrained=false``).

    Raises:
        FakebenchError: a string that is not one of 1/0, true/false, yes/no, on/off.
    """
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise FakebenchError(f"Expected {what} to be true or false, got {value!r}.")


class ProbeNet(nn.Module):
    """``fc(dropout(backbone(x)))``.

    Args:
        backbone: maps ``(N, 3, H, W)`` float32 to ``(N, D)`` float32 features; frozen (``requires_grad=False``).
        fc: ``nn.Linear(D, 1)``; its state-dict keys are ``weight`` and ``bias`` (the UnivFD ``fc_weights.pth``
            format).
        dropout: dropout probability before ``fc`` (0 = none); only active in train mode (MC dropout).
    """

    def __init__(self, backbone: nn.Module, fc: nn.Linear, dropout: float = 0.0) -> None:
        super().__init__()
        self.backbone = backbone
        self.dropout = nn.Dropout(dropout)
        self.fc = fc

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 3, H, W)`` -> ``(N, D)`` float32 backbone features."""
        return self.backbone(x).float().reshape(x.shape[0], -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.features(x)))


class Backbone:
    """A built, frozen backbone with what identifies it.

    Attributes:
        module: ``(N, 3, H, W)`` -> ``(N, D)`` module in eval mode.
        feature_dim: ``D``.
        preset: the library's eval preprocessing (preset name ``library``).
        info: JSON-ready provenance: ``arch``, ``library``, ``model``, ``init`` (``pretrained:<tag>``, ``file`` or
            ``random-init``), ``sha256``/``path`` for files, ``seed`` for random init, ``feature_dim``.
    """

    def __init__(self, module: nn.Module, feature_dim: int, preset: Preset, info: dict[str, Any]) -> None:
        self.module, self.feature_dim, self.preset, self.info = module, feature_dim, preset, info


# -- presets ------------------------------------------------------------------------------------------------------
def _preset(name: str, *, size: int, resize: int | None, interpolation: str, mean, std, source: str) -> Preset:
    interp = str(interpolation).split(".")[-1].lower()
    if interp not in ("bilinear", "bicubic", "nearest"):
        interp = "bicubic"
    return Preset("library", resize=resize, resize_mode="shorter", interpolation=interp, crop=size,
                  mean=tuple(float(m) for m in mean), std=tuple(float(s) for s in std), source=source,
                  description=f"{name}: shorter side {resize} {interp}, center crop {size}")


def crop224_preset(library: Preset) -> Preset:
    """The UnivFD/CS545 test transform (center crop 224, no resize) with ``library``'s mean/std."""
    return Preset("crop224", crop=224, mean=library.mean, std=library.std,
                  source="UnivFD validate.py / CS545 data/datasets.py (CenterCrop(224), no resize)",
                  description="center crop 224 at native size, normalisation of the backbone's library preset")


# -- builders -----------------------------------------------------------------------------------------------------
#: What to do when pretrained weights cannot be had, in both vocabularies: ``evaluate``'s ``-O`` detector options and
#: ``train probe``'s flags.
_NO_WEIGHTS_HINT = ("Pass a backbone file (-O backbone=PATH to evaluate, --backbone PATH to train probe), or choose "
                    "random initialisation explicitly (-O pretrained=false, --random-init)")


def _offline_note() -> str:
    from fakebench.core.env import is_offline

    return " (fakebench is offline: FAKEBENCH_OFFLINE or HF_HUB_OFFLINE is set, so only the cache was looked at)" \
        if is_offline() else ""


def _reason(exc: BaseException) -> str:
    """``Type: first line``, shortened at a word boundary (never cut mid-word)."""
    import textwrap

    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {textwrap.shorten(first, 240, placeholder=' ...')}" if first else type(exc).__name__


def _seeded(seed: int, build):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def _read_state(path: Path) -> dict[str, torch.Tensor]:
    from fakebench.detectors.checkpoints import read_checkpoint, unwrap_state_dict

    return unwrap_state_dict(read_checkpoint(path), path, nested_keys=("state_dict", "model"))


def _load_headless(module: nn.Module, state: dict[str, torch.Tensor], dropped_prefix: str, path: Path,
                   what: str) -> None:
    """Strictly load ``state`` into a model whose classifier (``dropped_prefix``) was removed; the file's classifier
    keys, if present, are the only keys allowed to be left over."""
    from fakebench.detectors.checkpoints import load_strict

    state = {k: v for k, v in state.items()
             if not (k.startswith(dropped_prefix + ".") and k not in module.state_dict())}
    load_strict(module, state, path, what=what)


def _last_linear(model: nn.Module) -> tuple[str, nn.Linear]:
    name, last = "", None
    for child_name, child in model.named_modules():
        if isinstance(child, nn.Linear):
            name, last = child_name, child
    if last is None:
        raise FakebenchError(f"{type(model).__name__} has no nn.Linear classifier to remove; use a timm: arch.")
    return name, last


def _set_module(model: nn.Module, dotted: str, new: nn.Module) -> None:
    parent, _, leaf = dotted.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, new)


def _torchvision_legacy_keys(model: nn.Module, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` with torchvision's own renaming of older ViT key names applied, so the strict check sees what
    torchvision would load.

    torchvision's ViT weight files name each encoder MLP's layers ``mlp.linear_1``/``mlp.linear_2``; since its
    ``MLPBlock`` became an ``MLP`` (module version 2) they are ``mlp.0``/``mlp.3``, and
    ``MLPBlock._load_from_state_dict`` renames the old keys while loading (torchvision
    ``models/vision_transformer.py``). The same renaming happens here, for exactly those keys of ``MLPBlock``
    modules of ``model``; every other key is left for the strict check.
    """
    try:
        from torchvision.models.vision_transformer import MLPBlock
    except ImportError:  # pragma: no cover - torchvision without ViT
        return state
    renames = {f"{name}.linear_{i + 1}.{kind}": f"{name}.{3 * i}.{kind}"
               for name, module in model.named_modules() if isinstance(module, MLPBlock)
               for i in range(2) for kind in ("weight", "bias")}
    if not renames.keys() & state.keys():
        return state
    return {renames.get(k, k): v for k, v in state.items()}


def _torchvision(spec: ArchSpec, file: Path | None, pretrained: bool, seed: int, cache: Path) -> Backbone:
    import torchvision
    from torchvision.models import get_model, get_model_weights

    try:
        enum = get_model_weights(spec.model)
        weights = enum[spec.pretrained] if spec.pretrained else enum.DEFAULT
    except (ValueError, KeyError) as exc:
        raise FakebenchError(f"torchvision has no model or weights {spec.name!r} ({exc}); see "
                             f"torchvision.models.list_models().") from exc
    model = _seeded(seed, lambda: get_model(spec.model, weights=None))
    info: dict[str, Any] = {"arch": spec.name, "library": "torchvision", "model": spec.model,
                            "library_version": torchvision.__version__}
    if file is None and pretrained:
        fname = Path(weights.url).name
        local = cache / "torchvision" / fname
        if not local.is_file():
            from fakebench.core.env import is_offline

            if is_offline():
                raise WeightsNotFoundError(
                    f"torchvision weights {spec.model} {weights.name} ({fname}) are not cached in {local.parent} and "
                    f"fakebench is offline (FAKEBENCH_OFFLINE or HF_HUB_OFFLINE is set). Put the file there. "
                    f"{_NO_WEIGHTS_HINT}.")
            try:
                torch.hub.load_state_dict_from_url(weights.url, model_dir=str(local.parent), progress=False,
                                                   check_hash=True)
            except Exception as exc:  # network errors come in many types
                raise WeightsNotFoundError(
                    f"Cannot download torchvision weights {weights.url} into {local.parent} ({_reason(exc)}). Put "
                    f"the file there. {_NO_WEIGHTS_HINT}.") from exc
        file = local
        info["init"] = f"pretrained:{weights.name}"
    elif file is None:
        info.update(init="random-init", seed=seed)
    tr = weights.transforms()
    preset = _preset(f"torchvision {weights} transforms()", size=int(tr.crop_size[0]), resize=int(tr.resize_size[0]),
                     interpolation=tr.interpolation.value, mean=tr.mean, std=tr.std,
                     source=f"torchvision {spec.model} {weights.name}.transforms()")
    head_name, head = _last_linear(model)
    dim = head.in_features
    _set_module(model, head_name, nn.Identity())
    if file is not None:
        state = _torchvision_legacy_keys(model, _read_state(file))
        _load_headless(model, state, head_name, file, f"torchvision {spec.model} backbone")
        if "init" not in info:
            info["init"] = "file"
    return Backbone(model, dim, preset, info)


def _timm(spec: ArchSpec, file: Path | None, pretrained: bool, seed: int, cache: Path) -> Backbone:
    import timm

    use_hub = file is None and pretrained
    try:
        if use_hub:
            with hub_offline_mode():  # offline: the local cache only, no minute of network retries
                model = timm.create_model(spec.model, pretrained=True, num_classes=0, cache_dir=str(cache / "timm"))
        else:
            model = _seeded(seed, lambda: timm.create_model(spec.model, pretrained=False, num_classes=0))
    except RuntimeError as exc:
        if "Unknown model" in str(exc) or "Invalid pretrained tag" in str(exc):
            raise FakebenchError(f"timm has no model {spec.model!r} ({exc}); see timm.list_models().") from exc
        raise WeightsNotFoundError(
            f"timm could not load pretrained weights for {spec.model!r} into {cache / 'timm'}{_offline_note()} "
            f"({_reason(exc)}). {_NO_WEIGHTS_HINT}.") from exc
    except Exception as exc:  # hub/network errors
        raise WeightsNotFoundError(
            f"timm could not load pretrained weights for {spec.model!r} into {cache / 'timm'}{_offline_note()} "
            f"({_reason(exc)}). {_NO_WEIGHTS_HINT}.") from exc
    info: dict[str, Any] = {"arch": spec.name, "library": "timm", "model": spec.model,
                            "library_version": timm.__version__}
    if use_hub:
        info["init"] = f"pretrained:{model.pretrained_cfg.get('hf_hub_id') or model.pretrained_cfg.get('tag')}"
    elif file is not None:
        classifier = model.pretrained_cfg.get("classifier", "head")
        _load_headless(model, _read_state(file), classifier, file, f"timm {spec.model} backbone")
        info["init"] = "file"
    else:
        info.update(init="random-init", seed=seed)
    cfg = timm.data.resolve_data_config({}, model=model)
    size = int(cfg["input_size"][-1])
    crop_pct = float(cfg.get("crop_pct") or 1.0)
    preset = _preset(f"timm {spec.model} resolve_data_config", size=size, resize=math.floor(size / crop_pct),
                     interpolation=cfg["interpolation"], mean=cfg["mean"], std=cfg["std"],
                     source=f"timm.data.resolve_data_config({spec.model}) crop_pct={crop_pct}")
    return Backbone(model, int(model.num_features), preset, info)


def _is_openai_clip(state: dict[str, torch.Tensor]) -> bool:
    return "text_projection" in state and ("visual.proj" in state or "visual.attnpool.c_proj.weight" in state)


def _open_clip(spec: ArchSpec, file: Path | None, pretrained: bool, seed: int, cache: Path) -> Backbone:
    import open_clip

    info: dict[str, Any] = {"arch": spec.name, "library": "open_clip", "model": spec.model,
                            "library_version": open_clip.__version__}
    if file is not None:
        state = _read_state(file)
        if _is_openai_clip(state):
            from fakebench.detectors.univfd import build_openai_clip_visual

            vit_file = "visual.proj" in state
            vit_arch = "vit" in spec.model.lower()
            if vit_file != vit_arch:
                raise CheckpointError(
                    f"Backbone {str(file)!r} is an OpenAI CLIP {'ViT' if vit_file else 'ResNet'}, but arch "
                    f"{spec.name!r} is a {'ViT' if vit_arch else 'ResNet'}; pass the matching -O arch.")
            visual = build_openai_clip_visual(state)
            info["init"] = "file (OpenAI-format CLIP; architecture built from the file, as clip.load(path))"
        else:
            model = _seeded(seed, lambda: open_clip.create_model(spec.model, pretrained=None))
            from fakebench.detectors.checkpoints import load_strict

            if all(k.startswith("visual.") for k in state):
                state = {k[len("visual."):]: v for k, v in state.items()}
                load_strict(model.visual, state, file, what=f"open_clip {spec.model} visual tower")
            else:
                load_strict(model, state, file, what=f"open_clip {spec.model}")
            visual = model.visual
            info["init"] = "file"
        cfg = dict(getattr(visual, "preprocess_cfg", {}) or {})
    elif pretrained:
        try:
            with hub_offline_mode():  # offline: the local cache only, no minute of network retries
                model = open_clip.create_model(spec.model, pretrained=spec.pretrained or "openai", precision="fp32",
                                               device="cpu", cache_dir=str(cache / "open_clip"),
                                               require_pretrained=True)
        except Exception as exc:  # network, offline-mode and missing-file errors come in many types
            raise WeightsNotFoundError(
                f"open_clip could not load {spec.model!r} pretrained {spec.pretrained!r} into {cache / 'open_clip'}"
                f"{_offline_note()} ({_reason(exc)}). {_NO_WEIGHTS_HINT} (an OpenAI-format CLIP state dict works as "
                f"the file).") from exc
        visual = model.visual
        info["init"] = f"pretrained:{spec.pretrained or 'openai'}"
        cfg = dict(open_clip.get_model_preprocess_cfg(model))
    else:
        model = _seeded(seed, lambda: open_clip.create_model(spec.model, pretrained=None))
        visual = model.visual
        info.update(init="random-init", seed=seed)
        cfg = dict(open_clip.get_model_preprocess_cfg(model))
    from fakebench.detectors.card import CLIP_MEAN, CLIP_STD

    size = cfg.get("size", getattr(visual, "image_size", 224))
    size = int(size[0] if isinstance(size, (tuple, list)) else size)
    preset = _preset(f"open_clip {spec.model} preprocess", size=size, resize=size,
                     interpolation=cfg.get("interpolation", "bicubic"), mean=cfg.get("mean", CLIP_MEAN),
                     std=cfg.get("std", CLIP_STD), source=f"open_clip {spec.model} preprocess config (shortest-side "
                                                         f"resize + center crop)")
    visual = visual.float().eval()
    dim = int(getattr(visual, "output_dim", 0) or spec.feature_dim or 0)
    return Backbone(visual, dim, preset, info)


def build_backbone(arch: str | ArchSpec, *, backbone: str | os.PathLike | None = None, pretrained: Any = None,
                   seed: int | str = 0, cache_dir: str | os.PathLike | None = None) -> Backbone:
    """Build a frozen feature extractor for ``arch`` (see the module docstring for the weight sources).

    Args:
        arch: architecture name (:func:`fakebench.detectors.probe.parse_arch`) or spec.
        backbone: path to a local backbone state dict, or ``None``.
        pretrained: ``None``/``True`` = the library's pretrained weights when no ``backbone`` file is given;
            ``False`` = explicit seeded random initialisation (strings ``true``/``false`` accepted).
        seed: torch seed of the random initialisation (recorded); ignored for loaded weights.
        cache_dir: download cache root (default :func:`fakebench.core.env.cache_root`).

    Returns:
        A :class:`Backbone` in eval mode with ``requires_grad=False``.

    Raises:
        UnknownNameError: unknown arch name. FakebenchError: the library does not know the model.
        WeightsNotFoundError: pretrained weights cannot be obtained (never replaced by random ones).
        CheckpointError: the backbone file is unreadable or does not match the architecture (strict keys).
    """
    from fakebench.core.env import cache_root
    from fakebench.core.files import sha256_file

    spec = arch if isinstance(arch, ArchSpec) else parse_arch(arch)
    flag = parse_bool(pretrained, "pretrained")
    file = None
    if backbone is not None and str(backbone) != "":
        file = Path(backbone).expanduser()
        if not file.is_file():
            raise WeightsNotFoundError(f"Backbone file {str(file)!r} does not exist; pass an existing state dict to "
                                       f"-O backbone=PATH.")
        if flag is False:
            raise FakebenchError("Give either a backbone file (-O backbone=PATH) or -O pretrained=false (random "
                                 "init), not both.")
    seed = int(seed)
    cache = Path(cache_dir or cache_root())
    builder = {"torchvision": _torchvision, "timm": _timm, "open_clip": _open_clip}[spec.library]
    built = builder(spec, file, flag is not False, seed, cache)
    if file is not None:
        built.info.update(path=str(file), sha256=sha256_file(file))
    elif built.info["init"].startswith("pretrained:"):
        built.info["sha256"] = None
    if spec.feature_dim and built.feature_dim != spec.feature_dim:
        raise CheckpointError(f"{spec.name}: the built backbone gives {built.feature_dim}-dim features, but the CS545 "
                              f"table says {spec.feature_dim}; check the backbone file.")
    built.info["feature_dim"] = built.feature_dim
    built.module.requires_grad_(False)
    built.module.eval()
    return built


def _preset_from_dict(data: dict[str, Any]) -> Preset:
    fields = dict(data)
    fields["mean"], fields["std"] = tuple(fields["mean"]), tuple(fields["std"])
    return Preset(**fields)


def _backbone_key(info: dict[str, Any]) -> dict[str, Any]:
    """The parts of backbone provenance that determine its outputs (no path, no library version)."""
    keep = ("arch", "library", "model", "init", "seed", "sha256", "feature_dim")
    return {k: info.get(k) for k in keep if info.get(k) is not None}


class Probe(LogitDetector):
    """Linear probe detector: frozen backbone + ``nn.Linear(D, 1)`` head (logit > 0 = fake).

    Build it with :meth:`load` (a trained head) or :meth:`build` (an untrained head, labelled ``random-init``, for
    training). :attr:`backbone` holds the backbone provenance; :meth:`identity` includes it, so predictions and
    cached features never mix backbones.
    """

    name = "probe"
    card = PROBE_CARD

    def __init__(self, model: ProbeNet, *, preset: Preset, weights: WeightsInfo, backbone: dict[str, Any],
                 library_preset: Preset, device: str | torch.device = "cpu"):
        super().__init__(model, preset=preset, weights=weights, device=device)
        self.backbone = backbone
        self.library_preset = library_preset

    # -- construction -------------------------------------------------------------------------------------------
    @staticmethod
    def _choose_preset(preset: Preset | str | None, library: Preset, recorded: dict[str, Any] | None) -> Preset:
        if isinstance(preset, Preset):
            return preset
        if preset is None and recorded:
            return _preset_from_dict(recorded)
        if preset in (None, "library"):
            return library
        if preset == "crop224":
            return crop224_preset(library)
        from fakebench.core.errors import UnknownNameError
        from fakebench.core.names import suggest

        raise UnknownNameError(suggest(str(preset), ["library", "crop224"], "probe preset"))

    @classmethod
    def build(cls, arch: str | ArchSpec, *, backbone: str | os.PathLike | None = None, pretrained: Any = None,
              seed: int | str = 0, dropout: float | str = 0.0, preset: Preset | str | None = None,
              device: str | torch.device = "cpu", cache_dir: str | os.PathLike | None = None,
              head_seed: int = 0) -> "Probe":
        """A probe with an untrained head (weights tag ``random-init``; seeded with ``head_seed``), for training.

        Args and errors: see :func:`build_backbone`; ``dropout`` in [0, 1); ``preset`` ``library`` (default),
        ``crop224`` or a :class:`Preset`.
        """
        built = build_backbone(arch, backbone=backbone, pretrained=pretrained, seed=seed, cache_dir=cache_dir)
        fc = _seeded(int(head_seed), lambda: nn.Linear(built.feature_dim, 1))
        chosen = cls._choose_preset(preset, built.preset, None)
        return cls(ProbeNet(built.module, fc, float(dropout)), preset=chosen, weights=WeightsInfo(tag="random-init"),
                   backbone=built.info, library_preset=built.preset, device=device)

    @classmethod
    def load(cls, weights: str | os.PathLike | None = None, *, preset: Preset | str | None = None,
             device: str | torch.device = "cpu", cache_dir: str | os.PathLike | None = None,
             arch: str | None = None, backbone: str | os.PathLike | None = None, pretrained: Any = None,
             seed: int | str | None = None, dropout: float | str = 0.0,
             head: str | os.PathLike | None = None) -> "Probe":
        """Load a trained head (``weights`` or its alias ``head``) onto a backbone.

        The head file is ``{'weight': [1, D], 'bias': [1]}`` (UnivFD's ``fc_weights.pth`` format) or
        ``{'state_dict': that, 'meta': {...}}`` as written by :func:`fakebench.train.probe.save_head`. When the meta
        is present, ``arch`` defaults to the recorded one, the recorded backbone identity must match the backbone
        built here, and the recorded preset is the default preset.

        Args:
            arch: architecture name (required for plain head files).
            backbone, pretrained, seed: backbone weight source (:func:`build_backbone`); a head trained on a
                random-init backbone needs ``pretrained=False`` given explicitly (the recorded seed is the default).
            dropout: dropout before the head (no effect in eval mode).

        Raises:
            CheckpointError: unreadable head, keys/shapes that do not match ``nn.Linear(D, 1)``, or an arch/backbone
                that differs from the one the head was trained on.
            WeightsNotFoundError, UnknownNameError, FakebenchError: see :func:`build_backbone`.
        """
        from fakebench.detectors.checkpoints import load_strict, read_checkpoint, unwrap_state_dict, verify_sha256

        if head is not None and weights is not None and str(head) != str(weights):
            raise FakebenchError(f"Give the head once: weights={weights!r} and head={head!r} differ.")
        weights = weights if weights is not None else head
        if weights is None:
            raise WeightsNotFoundError("The probe detector needs a trained head: --weights HEAD.pth (train one with "
                                       "`fakebench train probe`, or use UnivFD's fc_weights.pth with "
                                       "-O arch=CLIP:ViT-L/14).")
        path = Path(weights).expanduser()
        if not path.is_file():
            raise WeightsNotFoundError(f"Head checkpoint {str(path)!r} does not exist; pass an existing file to "
                                       f"--weights.")
        raw = read_checkpoint(path)
        meta = raw.get("meta") if isinstance(raw, dict) and isinstance(raw.get("meta"), dict) else None
        if meta is not None and meta.get("schema") != HEAD_SCHEMA:
            raise CheckpointError(f"Head {str(path)!r} has meta schema {meta.get('schema')!r}; expected {HEAD_SCHEMA}.")
        state = unwrap_state_dict(raw["state_dict"] if meta is not None else raw, path)
        recorded = (meta or {}).get("backbone") or {}
        if arch is None:
            if meta is None:
                raise FakebenchError(f"Head {str(path)!r} records no architecture; pass -O arch=NAME (e.g. "
                                     f"CLIP:ViT-L/14 for UnivFD's fc_weights.pth).")
            arch = recorded["arch"]
        spec = parse_arch(arch)
        if meta is not None and recorded.get("arch") and parse_arch(recorded["arch"]) != spec:
            raise CheckpointError(f"Head {str(path)!r} was trained on arch {recorded['arch']!r}, not {spec.name!r}; "
                                  f"pass -O arch={recorded['arch']}.")
        if meta is not None:  # refuse a different weight source before building (or downloading) anything
            init = str(recorded.get("init", ""))
            want = "random-init" if init == "random-init" else "file" if init.startswith("file") else "pretrained"
            flag = parse_bool(pretrained, "pretrained")
            given = "file" if backbone else "random-init" if flag is False else "pretrained"
            if want != given:
                how = {"random-init": f"-O pretrained=false -O seed={recorded.get('seed', 0)}",
                       "file": f"-O backbone=<the file with sha256 {recorded.get('sha256')}>",
                       "pretrained": "neither -O backbone nor -O pretrained=false"}[want]
                raise CheckpointError(f"Head {str(path)!r} was trained on a {want} backbone ({init}), but a {given} "
                                      f"backbone was requested; rebuild the training backbone with {how}.")
        if seed is None:
            seed = recorded.get("seed", 0) if recorded.get("init") == "random-init" else 0
        built = build_backbone(spec, backbone=backbone, pretrained=pretrained, seed=seed, cache_dir=cache_dir)
        if meta is not None:
            want, got = _backbone_key(recorded), _backbone_key(built.info)
            if want != got:
                hint = ("-O pretrained=false" + (f" -O seed={recorded.get('seed')}" if "seed" in recorded else "")
                        if recorded.get("init") == "random-init" else
                        "-O backbone=<the file with that sha256>" if recorded.get("init", "").startswith("file")
                        else "the library's pretrained weights (no -O pretrained/backbone)")
                raise CheckpointError(f"Head {str(path)!r} was trained on backbone {want}, but the backbone built "
                                      f"here is {got}. Rebuild the training backbone with {hint}.")
        fc = nn.Linear(built.feature_dim, 1)
        load_strict(fc, state, path, what=f"probe head for {spec.name} ({built.feature_dim}-dim features)")
        sha = verify_sha256(path, None)
        chosen = cls._choose_preset(preset, built.preset, (meta or {}).get("preset"))
        return cls(ProbeNet(built.module, fc, float(dropout)), preset=chosen,
                   weights=WeightsInfo(tag="file", path=str(path), sha256=sha), backbone=built.info,
                   library_preset=built.preset, device=device)

    @classmethod
    def build_model(cls) -> ProbeNet:
        raise NotImplementedError("Probe needs an arch: use Probe.load(HEAD, arch=...) or Probe.build(arch).")

    # -- inference ----------------------------------------------------------------------------------------------
    @torch.inference_mode()
    def features(self, batch: torch.Tensor) -> torch.Tensor:
        """Backbone features of a transformed batch: ``(N, 3, H, W)`` -> ``(N, D)`` float32 on the CPU."""
        return self.model.features(batch.to(self.device, torch.float32)).float().cpu()

    @torch.inference_mode()
    def predict(self, batch: torch.Tensor) -> DetectorOutput:
        logit = self.model(batch.to(self.device, torch.float32)).reshape(-1).float().cpu()
        return DetectorOutput(prob=torch.sigmoid(logit), logit=logit)

    # -- provenance ---------------------------------------------------------------------------------------------
    def identity(self) -> dict[str, Any]:
        ident = super().identity()
        ident["backbone"] = {k: v for k, v in self.backbone.items() if k != "path"}
        return ident

    def feature_identity(self) -> dict[str, Any]:
        """What determines the backbone features: backbone identity (weights sha256 or random-init + seed), the
        backbone library's version (another version may build other weights or draw a random init differently for
        the same name and seed) and the preset. The head is not part of it."""
        return {"backbone": _backbone_key(self.backbone), "library_version": self.backbone.get("library_version"),
                "preset": self.preset.to_dict()}

    def feature_key(self) -> str:
        """Hex sha256 of :meth:`feature_identity` (the feature cache's backbone key)."""
        return hashlib.sha256(json.dumps(self.feature_identity(), sort_keys=True).encode()).hexdigest()
