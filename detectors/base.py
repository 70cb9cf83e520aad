"""The :class:`Detector` interface every hosted detector implements.

The contract, in full:

* **Input.** :meth:`Detector.transform` maps one PIL RGB image to a ``float32`` tensor of shape ``(3, H, W)``,
  normalised with the preset's mean/std (values roughly in [-2.5, 2.5]). The runner stacks images of equal size into a
  batch ``(N, 3, H, W)``; with a preset that keeps native sizes, a batch only ever holds images of one size.
* **Output.** :meth:`Detector.predict` returns a :class:`DetectorOutput`: ``prob`` of shape ``(N,)``, ``float32``, in
  [0, 1], the **fake probability** (higher = more likely fake), and ``logit`` of shape ``(N,)`` with
  ``prob == sigmoid(logit)`` for detectors that have one, else ``None``. The hard decision is ``prob > 0.5`` (fake),
  the strict comparison of the official scripts.
* **Capabilities** are class attributes: :attr:`Detector.continuous_scores` says whether ``prob`` is a continuous
  score (AP and ROC-AUC are only computed when it is).
* **Score-only detectors.** A detector whose card sets ``natural_threshold=None`` (e.g. training-free AEROBLADE) has
  no fake probability and no natural decision threshold: its ``prob`` holds a **score** (higher = more likely fake,
  any finite real value, not a probability) and ``logit`` is ``None``. AP and ROC-AUC are computed from the score;
  there is no ``prob > 0.5`` decision: accuracies are ``nan`` ("n/a: no threshold") unless a threshold is fitted on a
  calibration split (``--calibrate-on``), in score units. :attr:`Detector.natural_threshold` tells which kind a
  detector is.
* **Revision.** :attr:`Detector.revision` names the version of the port (model code and transform); it is part of
  :meth:`Detector.identity` and so of the prediction-cache key and the run folder's key. Bump it in any change that can
  alter an output.
* **Finite outputs.** A NaN or infinite output is never a score: :meth:`Detector.predict_images` raises
  :class:`~fakebench.core.errors.CheckpointError` naming the checkpoint, and the runner writes an error row.
* **Weights** are loaded by :meth:`Detector.load` from a card tag or a file path, strictly (every tensor matched) and
  with ``torch.load(weights_only=True)``; the loaded file's sha256 is kept in :attr:`Detector.weights` for provenance.
  There is no silent random initialisation: a detector built from an unloaded model must say so in its
  :class:`WeightsInfo` (``tag="random-init"``).
"""

from __future__ import annotations

import abc
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar

import torch
from PIL import Image

from fakebench.core.errors import CheckpointError, UnknownNameError, WeightsNotFoundError

from fakebench.detectors.card import DetectorCard, Preset, WeightsSpec
from fakebench.detectors.identity import WeightsInfo, fingerprint_of
from fakebench.core.names import suggest

__all__ = ["WeightsInfo", "DetectorOutput", "Detector", "LogitDetector", "BackboneLogitDetector"]


@dataclass
class DetectorOutput:
    """Scores for one batch.

    Attributes:
        prob: ``(N,)`` float32 fake probability in [0, 1].
        logit: ``(N,)`` float32 logit with ``sigmoid(logit) == prob``, or ``None`` when the detector has none.
    """

    prob: torch.Tensor
    logit: torch.Tensor | None = None


class Detector(abc.ABC):
    """Base class of every detector (see the module docstring for the input/output contract).

    Subclasses set the class attributes :attr:`name` and :attr:`card` and implement :meth:`load` and
    :meth:`predict`. Preprocessing defaults to the preset's torchvision transform (:func:`fakebench.detectors.preprocess.
    build_transform`); override :meth:`transform` for anything else.

    Args:
        preset: a :class:`~fakebench.detectors.card.Preset`, a preset name from the card, or ``None`` for the default of the
            weights (or of the card).
        weights: provenance of the loaded weights.
        device: torch device the model runs on.

    Raises:
        UnknownNameError: ``preset`` names no preset of the card.
    """

    #: Registry name.
    name: ClassVar[str] = ""
    #: The detector's card (paper, weights, presets).
    card: ClassVar[DetectorCard]
    #: Whether :attr:`DetectorOutput.prob` is a continuous score (AP/AUC meaningful) rather than a hard 0/1 label.
    continuous_scores: ClassVar[bool] = True
    #: Code revision of the port (model code and transform). Part of :meth:`identity`, so of the cache key and the run
    #: folder: bump it in any change that can alter an output, and cached scores of the old code are never served.
    revision: ClassVar[str] = "1"

    def __init__(self, *, preset: Preset | str | None = None, weights: WeightsInfo, device: str | torch.device = "cpu"):
        if not isinstance(preset, Preset):
            if preset is None and weights.tag and self.card.has_weights(weights.tag):
                preset = self.card.get_weights(weights.tag).preset
            preset = self.card.get_preset(preset)
        self.preset: Preset = preset
        self.weights = weights
        self.device = torch.device(device)

    @property
    def natural_threshold(self) -> float | None:
        """The official decision threshold on :attr:`DetectorOutput.prob` (``0.5``: fake when ``prob > 0.5``), or
        ``None`` for a score-only detector (``prob`` is then a score without a natural threshold). Read from the
        card's ``natural_threshold``."""
        return self.card.natural_threshold

    # -- construction -------------------------------------------------------------------------------------------
    @classmethod
    @abc.abstractmethod
    def load(cls, weights: str | os.PathLike | None = None, *, preset: Preset | str | None = None,
             device: str | torch.device = "cpu", cache_dir: str | os.PathLike | None = None) -> "Detector":
        """Build the detector and load its weights.

        Args:
            weights: a weights tag of the card (``None`` = the card's default) or a path to a checkpoint file in the
                official format.
            preset: preprocessing preset name (``None`` = the one the weights' published numbers used).
            device: torch device.
            cache_dir: download cache root (default: :func:`fakebench.core.env.cache_root`).

        Raises:
            CheckpointError: the file is unreadable, or its tensors do not match the model.
            WeightsNotFoundError: a tag's file is neither cached nor downloadable.
            UnknownNameError: unknown tag or preset.
        """

    @classmethod
    def resolve_weights(cls, weights: str | os.PathLike | None,
                        cache_dir: str | os.PathLike | None = None) -> tuple[Path, WeightsSpec | None]:
        """Turn a ``weights`` argument into a file on disk.

        A path that exists is used as is (spec ``None``, unless its file name is a card release). A card tag (or
        ``None`` for the default) is fetched into the cache and sha256-verified by :func:`fakebench.hub.fetch.
        fetch_weights`.

        Raises:
            WeightsNotFoundError: a path that does not exist and is no tag, or a tag that cannot be fetched.
            UnknownNameError: a tag-like name that is not in the card (with suggestions).
        """
        if weights is not None:
            path = Path(weights).expanduser()
            if path.is_dir():
                raise CheckpointError(f"Checkpoint {str(path)!r} is a folder, not a checkpoint file; pass the file "
                                      f"inside it to --weights.")
            if path.is_file():
                spec = next((w for w in cls.card.weights if w.filename == path.name), None)
                return path, spec
            text = str(weights)
            if not cls.card.has_weights(text):
                if os.sep in text or text.endswith((".pth", ".pt", ".bin", ".safetensors", ".xz")):
                    raise WeightsNotFoundError(
                        f"Checkpoint file {text!r} does not exist. Pass an existing file to --weights, or a weights "
                        f"tag of {cls.name}: {', '.join(w.tag for w in cls.card.weights)}."
                    )
                raise UnknownNameError(suggest(text, [w.tag for w in cls.card.weights], f"{cls.name} weights tag"))
            spec = cls.card.get_weights(text)
        else:
            spec = cls.card.default_weights
            if spec is None:
                raise WeightsNotFoundError(f"Detector {cls.name!r} has no default weights; pass --weights PATH.")
        from fakebench.hub.weights import fetch_weights  # local import: downloads pull in gdown/huggingface_hub

        return Path(fetch_weights(cls.card, spec, cache_dir=cache_dir)), spec

    # -- inference ----------------------------------------------------------------------------------------------
    def transform(self) -> Callable[[Image.Image], torch.Tensor]:
        """PIL RGB image -> ``(3, H, W)`` float32 normalised tensor, following :attr:`preset`."""
        from fakebench.detectors.preprocess import build_transform

        return build_transform(self.preset)

    def input_note(self, image: torch.Tensor) -> str:
        """A note for the ``note`` column of ``predictions.csv`` about what the model will do to this input beyond
        the preset (e.g. NPR trims an odd last row/column), ``""`` when nothing (the default).

        Called by the runner's dataset on every preprocessed image, in DataLoader workers, so it must be cheap and
        must not run the model.

        Args:
            image: a ``(3, H, W)`` float32 tensor made by :meth:`transform`.

        Returns:
            One short sentence, or ``""``.
        """
        return ""

    @abc.abstractmethod
    def predict(self, batch: torch.Tensor) -> DetectorOutput:
        """Score a batch.

        Args:
            batch: ``(N, 3, H, W)`` float32 tensor made by :meth:`transform` (on any device; moved to
                :attr:`device`).

        Returns:
            A :class:`DetectorOutput` with ``(N,)`` float32 tensors on the CPU.
        """

    @torch.inference_mode()
    def predict_images(self, images: list[Image.Image]) -> DetectorOutput:
        """Convenience: transform and score PIL images one by one (any sizes), as the official single-image scripts
        do. Returns ``(N,)`` tensors in input order.

        Raises:
            CheckpointError: an output is NaN or infinite (see :meth:`non_finite`).
        """
        transform = self.transform()
        outs = [self.predict(transform(img.convert("RGB")).unsqueeze(0)) for img in images]
        prob = torch.cat([o.prob for o in outs])
        logit = torch.cat([o.logit for o in outs]) if all(o.logit is not None for o in outs) else None
        out = DetectorOutput(prob=prob, logit=logit)
        bad = self.non_finite(out)
        if bad.any():
            raise CheckpointError(self.non_finite_message(out, int(bad.nonzero()[0, 0])))
        return out

    def weights_description(self) -> str:
        """``checkpoint '/path/x.pth'`` (or ``weights 'tag'`` when no file was loaded), for messages."""
        return f"checkpoint {self.weights.path!r}" if self.weights.path else f"weights {self.weights.tag!r}"

    @staticmethod
    def non_finite(out: DetectorOutput) -> torch.Tensor:
        """``(N,)`` bool mask of the images whose fake probability or logit is NaN or infinite."""
        bad = ~torch.isfinite(out.prob.float())
        if out.logit is not None:
            bad |= ~torch.isfinite(out.logit.float())
        return bad

    def non_finite_message(self, out: DetectorOutput, index: int) -> str:
        """The error text for a non-finite output at ``index`` of ``out``, naming the checkpoint and the fix."""
        value = out.logit[index].item() if out.logit is not None else out.prob[index].item()
        return (f"{self.name} gave a non-finite output ({value}) with {self.weights_description()}: the checkpoint "
                f"holds NaN/Inf values or does not fit the model; check or re-download the file passed to --weights")

    # -- provenance ---------------------------------------------------------------------------------------------
    def identity(self) -> dict[str, Any]:
        """What determines the outputs: detector name, code :attr:`revision`, weights provenance and preset. Used
        (through :meth:`fingerprint`) as the cache key and in the run folder's key."""
        return {"detector": self.name, "revision": self.revision, "weights": self.weights.to_dict(),
                "preset": self.preset.to_dict()}

    def fingerprint(self) -> str:
        """Hex sha256 of :meth:`identity` minus the weights path (same file bytes at another path = same model)."""
        return fingerprint_of(self.identity())

    def to(self, device: str | torch.device) -> "Detector":
        """Move the detector to ``device``; returns ``self``."""
        self.device = torch.device(device)
        return self


class LogitDetector(Detector):
    """A detector whose network maps ``(N, 3, H, W)`` to ``(N, 1)`` logits with ``sigmoid(logit) = P(fake)``.

    CNNSpot, NPR and UnivFD are of this kind. ``self.model`` is the network, in eval mode on :attr:`device`, in
    :attr:`memory_format`. Subclasses implement :meth:`build_model` (the untrained network); :meth:`load` then reads
    an official checkpoint into it strictly.
    """

    #: Run the network and its input in ``torch.channels_last`` on the CPU (oneDNN's faster convolution kernels; NPR
    #: measured 1.3-1.5x the images/s, see docs/scale.md). Outputs differ from the contiguous format by float
    #: rounding only (about 1e-5 in the logit), so a subclass that sets it bumps its :attr:`revision`. Other devices
    #: keep the contiguous format.
    cpu_channels_last: ClassVar[bool] = False
    #: Score with a copy of the network whose eval-mode batch norms are folded into the convolutions before them
    #: (:mod:`fakebench.detectors.fold`; NPR measured 1.15-1.4x the forward images/s on the CPU). :attr:`model` itself
    #: is never changed (Grad-CAM, fine-tuning and state dicts see the official modules); the copy is rebuilt whenever
    #: a parameter or buffer of :attr:`model` changes, and not used while :attr:`model` is in training mode. Outputs
    #: differ from the unfolded network by float rounding only, so a subclass that sets it bumps its :attr:`revision`.
    #: The copy holds the network's weights a second time on :attr:`device` (CNNSpot's ResNet-50: about 98 MB).
    fold_batchnorm: ClassVar[bool] = False

    @classmethod
    def build_model(cls) -> torch.nn.Module:
        """The untrained network, with the official module names (so official state dicts load strictly)."""
        raise NotImplementedError(f"{cls.__name__} must implement build_model()")

    @classmethod
    def load(cls, weights: str | os.PathLike | None = None, *, preset: Preset | str | None = None,
             device: str | torch.device = "cpu", cache_dir: str | os.PathLike | None = None) -> "LogitDetector":
        model = cls.build_model()
        info = cls.load_into(model, weights, cache_dir=cache_dir)
        return cls(model, preset=preset, weights=info, device=device)

    @classmethod
    def load_into(cls, model: torch.nn.Module, weights: str | os.PathLike | None,
                  cache_dir: str | os.PathLike | None = None) -> WeightsInfo:
        """Resolve ``weights`` (tag or path), verify its sha256 when the card knows it, and load it strictly.

        Accepts a plain state dict, ``{'model': state_dict, ...}`` and ``module.``-prefixed keys.

        Returns:
            The :class:`WeightsInfo` of the loaded file.

        Raises:
            CheckpointError: unreadable file, sha256 mismatch, or keys/shapes that do not match ``model``.
            WeightsNotFoundError, UnknownNameError: see :meth:`Detector.resolve_weights`.
        """
        from fakebench.detectors.checkpoints import load_strict, read_checkpoint, unwrap_state_dict, verify_sha256

        path, spec = cls.resolve_weights(weights, cache_dir)
        sha = verify_sha256(path, spec.sha256 if spec else None)
        state = unwrap_state_dict(read_checkpoint(path), path)
        load_strict(model, state, path, what=f"{cls.name} model")
        return WeightsInfo.of_file(path, spec, sha)

    @classmethod
    def untrained(cls, *, preset: Preset | str | None = None, device: str | torch.device = "cpu") -> "LogitDetector":
        """A randomly initialised detector, explicitly labelled ``random-init`` (for training from scratch and
        tests; never used as a fallback)."""
        return cls(cls.build_model(), preset=preset, weights=WeightsInfo(tag="random-init"), device=device)

    def __init__(self, model: torch.nn.Module, *, preset: Preset | str | None = None, weights: WeightsInfo,
                 device: str | torch.device = "cpu"):
        super().__init__(preset=preset, weights=weights, device=device)
        self.model = model.eval().to(self.device, memory_format=self.memory_format)
        self._folded: tuple[Any, torch.nn.Module] | None = None

    @property
    def memory_format(self) -> torch.memory_format:
        """``torch.channels_last`` on the CPU when :attr:`cpu_channels_last` is set, else
        ``torch.contiguous_format``."""
        return torch.channels_last if self.cpu_channels_last and self.device.type == "cpu" else torch.contiguous_format

    def inference_model(self) -> torch.nn.Module:
        """The network :meth:`predict` runs: :attr:`model`, or with :attr:`fold_batchnorm` its batch-norm-folded copy
        (built on first use and again after any change to :attr:`model`'s parameters, buffers, device or format;
        :attr:`model` itself while it is in training mode)."""
        if not self.fold_batchnorm or self.model.training:
            return self.model
        from fakebench.detectors.fold import fold_batchnorm, state_versions

        key = (str(self.device), self.memory_format, state_versions(self.model))
        cached = getattr(self, "_folded", None)
        if cached is None or cached[0] != key:
            folded, _ = fold_batchnorm(self.model)
            cached = self._folded = (key, folded.to(self.device, memory_format=self.memory_format))
        return cached[1]

    @torch.inference_mode()
    def predict(self, batch: torch.Tensor) -> DetectorOutput:
        x = batch.to(self.device, torch.float32)
        if self.memory_format == torch.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        logit = self.inference_model()(x).reshape(-1).float().cpu()
        return DetectorOutput(prob=torch.sigmoid(logit), logit=logit)

    def to(self, device: str | torch.device) -> "LogitDetector":
        super().to(device)
        self.model.to(self.device, memory_format=self.memory_format)
        return self


class BackboneLogitDetector(LogitDetector):
    """A :class:`LogitDetector` whose frozen backbone is loaded apart from its official weights (UnivFD, RINE, CLIP-D:
    a CLIP tower from open_clip plus a trained head); :attr:`backbone` records which tower was used (a dict with at
    least ``name``; ``{"name": "unknown"}`` when not given), for provenance."""

    def __init__(self, model: torch.nn.Module, *, preset: "Preset | str | None" = None, weights: WeightsInfo,
                 backbone: dict[str, Any] | None = None, device: "str | torch.device" = "cpu"):
        super().__init__(model, preset=preset, weights=weights, device=device)
        self.backbone = backbone or {"name": "unknown"}
