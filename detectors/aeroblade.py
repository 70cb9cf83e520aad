"""AEROBLADE (Ricker et al., CVPR 2024): training-free detection of latent-diffusion images by the LPIPS distance
between an image and its autoencoder reconstruction. A **score-only** detector: it has no natural threshold.

Source: jonasricker/aeroblade @ 50fc2b2 -- ``scripts/run_aeroblade.py`` (defaults: AEs SD1, SD2, Kandinsky 2.1;
distance ``lpips_vgg_2``; seed 1), ``src/aeroblade/high_level_funcs.py`` ``compute_distances`` (per AE, then the
maximum over AEs of the negative distance), ``src/aeroblade/image.py`` ``compute_reconstructions`` (float16 pipelines,
``images * 2 - 1``, ``retrieve_latents(ae.encode(x), generator)`` = one sample of the posterior for the KL-VAEs and the
encoder latent for the MoVQ, ``decode(...)`` -- which quantises the MoVQ latent, see :func:`reconstruct` --, ``(rec / 2 + 0.5).clamp(0, 1)``,
saved as 8-bit PNG by ``to_pil_image`` = ``mul(255).byte()``), ``src/aeroblade/distances.py`` ``_PatchedLPIPS`` /
``LPIPS`` (``lpips.LPIPS(net='vgg', spatial=True)``, ``normalize=True``, layer 2 = ``lins[1]`` on the unit-normalised
relu2_2 features, spatial mean) and ``src/aeroblade/data.py`` ``ImageFolder`` (``ToImage``, ``ToDtype(float32,
scale=True)``).

Differences from the official script, all deliberate and documented in the card: the latent noise comes from a fresh
``torch.Generator().manual_seed(1)`` per image and AE (the official code seeds one generator per folder and AE, so
equals this on single files); the distance is kept in float32 (the official CSV rounds it to float16); only the VGG16
layers up to relu2_2 are run (the later layers do not enter the layer-2 distance).

Weights: AEROBLADE trains nothing. ``--weights`` takes AE tags of the card (``sd1``, ``sd2``, ``kd21``, joined with
``+`` for a maximum over several; default ``sd1+sd2+kd21``, the official set), fetched from the hub with the LPIPS VGG16
backbone from torchvision's URL and the LPIPS linear layer from the installed ``lpips`` package; or a **bundle** file
(:func:`write_bundle`): every AE's diffusers config and state dict plus the LPIPS tensors in one ``torch.save`` dict,
for offline copies and for the tiny random configurations of the tests and parity fixtures.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
from PIL import Image
from torch import nn

from fakebench.core.errors import CheckpointError, UnknownNameError
from fakebench.detectors.base import Detector, DetectorOutput, WeightsInfo
from fakebench.detectors.card import Preset
from fakebench.detectors.catalog_spectral import (AEROBLADE_AUTOENCODERS, AEROBLADE_CARD, AEROBLADE_DEFAULT_SET,
                                                  AEROBLADE_LPIPS_LIN_SHA256)

__all__ = ["AeroBlade", "LPIPSLayer2", "build_autoencoder", "reconstruct", "write_bundle", "BUNDLE_FORMAT"]

#: ``format`` entry of a bundle file.
BUNDLE_FORMAT = "fakebench.aeroblade/1"
#: The VGG16 ``features`` indices LPIPS' slices 1-2 hold (conv1_1, conv1_2, conv2_1, conv2_2; ReLUs and the pool have
#: no tensors), as in ``lpips/pretrained_networks.py`` ``vgg16``.
_VGG_CONVS = (0, 2, 5, 7)
_AE_CLASSES = ("AutoencoderKL", "VQModel")
_DTYPES = {"float16": torch.float16, "float32": torch.float32, "bfloat16": torch.bfloat16}


class LPIPSLayer2(nn.Module):
    """The second-layer term of LPIPS v0.1 with the VGG16 trunk, as a spatial map.

    ``forward(a, b)`` takes two ``(N, 3, H, W)`` float32 images in [0, 1] and returns ``(N, 1, H', W')`` float32 with
    ``H' = H // 2``: ``lin1((n(f(a)) - n(f(b)))**2)`` where ``f`` is VGG16 up to relu2_2 applied after LPIPS' input
    scaling (``2x - 1``, then ``(x - shift) / scale``) and ``n`` divides by the channel L2 norm (``+1e-10``). Same
    operations as ``lpips.LPIPS(net='vgg', spatial=True)`` ``res_no_up[1]`` in AEROBLADE's ``_PatchedLPIPS``.

    Module names: ``net.{0,2,5,7}`` = torchvision ``features.{0,2,5,7}``; ``lin.weight`` = lpips ``lin1.model.1.weight``
    ``(1, 128, 1, 1)``.
    """

    def __init__(self) -> None:
        super().__init__()
        ScalingLayer = _require("lpips.lpips").ScalingLayer

        self.scaling_layer = ScalingLayer()
        self.net = nn.Sequential(
            nn.Conv2d(3, 64, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(64, 64, 3, padding=1),
            nn.ReLU(inplace=True),  # slice1 -> relu1_2
            nn.MaxPool2d(kernel_size=2, stride=2), nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(128, 128, 3, padding=1), nn.ReLU(inplace=True),  # slice2 -> relu2_2
        )
        self.lin = nn.Conv2d(128, 1, 1, stride=1, padding=0, bias=False)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 3, H, W)`` in [0, 1] -> unit-normalised relu2_2 features ``(N, 128, H // 2, W // 2)``."""
        from lpips import normalize_tensor

        return normalize_tensor(self.net(self.scaling_layer(2 * x - 1)))

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.lin((self.features(a) - self.features(b)) ** 2)


def _require(module: str) -> Any:
    """Import an optional dependency of AEROBLADE, or raise ImportError with the install line."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"AEROBLADE needs the {module!r} package: pip install 'fakebench[aeroblade]'") from exc


def build_autoencoder(cls_name: str, config: Mapping[str, Any]) -> nn.Module:
    """An untrained diffusers ``AutoencoderKL`` or ``VQModel`` from its config dict.

    Raises:
        CheckpointError: an unknown class name or a config diffusers rejects.
        ImportError: diffusers is not installed (with the install line).
    """
    diffusers = _require("diffusers")

    if cls_name not in _AE_CLASSES:
        raise CheckpointError(f"AEROBLADE autoencoder class {cls_name!r} is not one of {_AE_CLASSES}.")
    try:
        return getattr(diffusers, cls_name).from_config(dict(config)).eval()
    except Exception as exc:  # diffusers raises TypeError/ValueError for bad configs
        raise CheckpointError(f"Cannot build a diffusers {cls_name} from the given config: {exc}") from exc


def _cast(ae: nn.Module, dtype: torch.dtype) -> nn.Module:
    """``ae.to(dtype)`` (the official pipelines cast every module, none kept in float32) without diffusers' advice to
    use ``from_pretrained(torch_dtype=...)``, which does the same cast."""
    from diffusers.utils import logging as dlogging

    level = dlogging.get_verbosity()
    dlogging.set_verbosity_error()
    try:
        return ae.to(dtype)
    finally:
        dlogging.set_verbosity(level)


def _downsampling(ae: nn.Module) -> int:
    """Spatial downsampling factor of a diffusers AE (2 per down block but the last)."""
    return 2 ** (len(ae.config.block_out_channels) - 1)


@torch.inference_mode()
def reconstruct(ae: nn.Module, images: torch.Tensor, *, seed: int = 1) -> torch.Tensor:
    """The official AE round trip of ``compute_reconstructions`` for a batch, one fresh generator per image.

    Args:
        ae: a diffusers ``AutoencoderKL`` (posterior sampled with ``torch.Generator().manual_seed(seed)``) or
            ``VQModel`` (latent quantised to the codebook by ``decode``, as the official code ends up doing), in the
            dtype it should run in.
        images: ``(N, 3, H, W)`` float in [0, 1]; ``H`` and ``W`` multiples of the AE's downsampling factor.
        seed: generator seed (official: 1).

    Returns:
        ``(N, 3, H, W)`` uint8 on the AE's device: ``((decode(z) / 2 + 0.5).clamp(0, 1) * 255).byte()`` computed in the
        AE's dtype, i.e. the 8-bit PNG the official code writes.
    """
    from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution

    param = next(ae.parameters())
    x = images.to(param.device, dtype=param.dtype) * 2.0 - 1.0
    encoded = ae.encode(x)
    if hasattr(encoded, "latent_dist"):
        params = encoded.latent_dist.parameters
        latents = torch.cat([DiagonalGaussianDistribution(params[i:i + 1]).sample(torch.Generator().manual_seed(seed))
                             for i in range(params.shape[0])])
    else:
        latents = encoded.latents
    decode_dtype = next(iter(ae.post_quant_conv.parameters())).dtype
    # The official code means to decode the MoVQ latent unquantised (``if isinstance(ae, VQModel): ...
    # force_not_quantize=True``), but it tests the module returned by ``torch.compile(ae)``, an ``OptimizedModule``
    # that is no ``VQModel``: the branch is never taken and the latent IS quantised to the codebook. The parity
    # fixture (running that code) confirms it, so the port does what the official code does.
    rec = ae.decode(latents.to(decode_dtype), return_dict=False)[0]
    return (rec / 2 + 0.5).clamp(0, 1).mul(255).byte()


class AeroBlade(Detector):
    """AEROBLADE over one or more autoencoders (see the module docstring for the source and the deviations).

    Args:
        autoencoders: ``{tag: diffusers AE}`` in the order of the official ``--autoencoders`` list, each in the dtype
            it runs in (official: float16).
        lpips: the :class:`LPIPSLayer2` network (float32).
        preset, weights, device: see :class:`~fakebench.detectors.base.Detector`.

    :meth:`predict` returns ``prob`` = the **score** ``max_AE(-mean LPIPS_2)`` (``(N,)`` float32, <= 0, higher = more
    likely fake; not a probability, see :attr:`natural_threshold`), ``logit = None``. It raises ``ValueError`` for
    images whose sides are not multiples of the AEs' downsampling factor (8 for the official AEs).
    """

    name = "aeroblade"
    card = AEROBLADE_CARD
    revision = "1"

    def __init__(self, autoencoders: Mapping[str, nn.Module], lpips: LPIPSLayer2, *, preset: Preset | str | None = None,
                 weights: WeightsInfo, device: str | torch.device = "cpu"):
        super().__init__(preset=preset, weights=weights, device=device)
        if not autoencoders:
            raise ValueError("AEROBLADE needs at least one autoencoder.")
        self.autoencoders = {tag: ae.eval().to(self.device) for tag, ae in autoencoders.items()}
        self.lpips = lpips.eval().to(self.device, torch.float32)
        self.factor = max(_downsampling(ae) for ae in self.autoencoders.values())

    # -- construction -------------------------------------------------------------------------------------------
    @classmethod
    def load(cls, weights: str | os.PathLike | None = None, *, preset: Preset | str | None = None,
             device: str | torch.device = "cpu", cache_dir: str | os.PathLike | None = None) -> "AeroBlade":
        """Build AEROBLADE from AE tags (default ``sd1+sd2+kd21``) or a bundle file.

        Raises:
            CheckpointError: a bundle that is not one, or whose tensors do not fit its configs.
            WeightsNotFoundError: a hub AE or the VGG16 weights are neither cached nor downloadable (offline: at
                once, naming the file and where to put it).
            UnknownNameError: an unknown AE tag.
        """
        if weights is not None and Path(weights).expanduser().is_file():
            return cls.from_bundle(Path(weights).expanduser(), preset=preset, device=device)
        tags = _parse_tags(weights)
        from fakebench.detectors.checkpoints import load_strict, read_checkpoint
        from fakebench.hub.weights import fetch_weights

        digests = {}
        autoencoders = {}
        for tag in tags:
            spec = cls.card.get_weights(tag)
            path = Path(fetch_weights(cls.card, spec, cache_dir=cache_dir))
            info = AEROBLADE_AUTOENCODERS[tag]
            ae = build_autoencoder(info["class"], info["config"])
            load_strict(ae, _read_safetensors(path), path, what=f"aeroblade {tag} autoencoder")
            autoencoders[tag] = _cast(ae, _DTYPES[info["dtype"]])
            digests[tag] = _sha(path)
        vgg_spec = cls.card.get_weights("vgg16")
        vgg_path = Path(fetch_weights(cls.card, vgg_spec, cache_dir=cache_dir))
        digests["vgg16"] = _sha(vgg_path)
        vgg_state = read_checkpoint(vgg_path)
        lpips = LPIPSLayer2()
        _load_lpips(lpips, {f"net.{i}.{p}": vgg_state.get(f"features.{i}.{p}") for i in _VGG_CONVS
                            for p in ("weight", "bias")}, _lpips_lin(), vgg_path)
        sha = hashlib.sha256(json.dumps(digests, sort_keys=True).encode()).hexdigest()
        return cls(autoencoders, lpips, preset=preset, device=device,
                   weights=WeightsInfo(tag="+".join(tags), path=None, sha256=sha))

    @classmethod
    def resolve_weights(cls, weights: str | os.PathLike | None,
                        cache_dir: str | os.PathLike | None = None) -> tuple[Path, Any]:
        """An existing bundle file -> ``(path, None)``; AE tags (``sd1+kd21``) are only validated here and returned
        as given (``load`` fetches their files), so the CLI's early check accepts ``+``-joined tags without
        downloading.

        Raises:
            UnknownNameError, WeightsNotFoundError: see :func:`_parse_tags`.
        """
        if weights is not None and Path(weights).expanduser().is_file():
            return Path(weights).expanduser(), None
        _parse_tags(weights)
        return Path(str(weights or "+".join(AEROBLADE_DEFAULT_SET))), None

    @classmethod
    def from_bundle(cls, path: str | os.PathLike, *, preset: Preset | str | None = None,
                    device: str | torch.device = "cpu") -> "AeroBlade":
        """Load a bundle written by :func:`write_bundle` (``torch.load(weights_only=True)``, strict keys).

        Raises:
            CheckpointError: not a bundle (the message says what ``--weights`` accepts), or tensors that do not fit.
        """
        from fakebench.detectors.checkpoints import load_strict, read_checkpoint, verify_sha256

        path = Path(path)
        data = read_checkpoint(path)
        if not isinstance(data, dict) or data.get("format") != BUNDLE_FORMAT:
            raise CheckpointError(
                f"{str(path)!r} is not an AEROBLADE bundle (no format={BUNDLE_FORMAT!r} entry). AEROBLADE has no "
                f"detector checkpoint: pass AE tags to --weights ({', '.join(AEROBLADE_AUTOENCODERS)}, joined with "
                f"'+'; default {'+'.join(AEROBLADE_DEFAULT_SET)}) or a bundle written by "
                f"fakebench.detectors.aeroblade.write_bundle.")
        autoencoders = {}
        for tag, entry in data["autoencoders"].items():
            ae = build_autoencoder(entry["class"], entry["config"])
            load_strict(ae, entry["state_dict"], path, what=f"aeroblade {tag} autoencoder")
            dtype = entry.get("dtype", "float16")
            if dtype not in _DTYPES:
                raise CheckpointError(f"{path}: autoencoder {tag!r} has unknown dtype {dtype!r}.")
            autoencoders[tag] = _cast(ae, _DTYPES[dtype])
        lpips = LPIPSLayer2()
        _load_lpips(lpips, {f"net.{k}": v for k, v in data["lpips"]["vgg16_features"].items()},
                    data["lpips"]["lin1"], path)
        sha = verify_sha256(path, None)
        return cls(autoencoders, lpips, preset=preset, device=device,
                   weights=WeightsInfo(tag="file", path=str(path), sha256=sha))

    # -- inference ----------------------------------------------------------------------------------------------
    def transform(self) -> Callable[[Image.Image], torch.Tensor]:
        """PIL RGB -> ``(3, H, W)`` float32 in [0, 1], native size: torchvision v2 ``ToImage`` + ``ToDtype(float32,
        scale=True)``, the official ``ImageFolder`` transform."""
        import torchvision.transforms.v2 as tf

        if self.preset.resize is not None or self.preset.crop is not None:
            from fakebench.detectors.preprocess import build_transform

            return build_transform(self.preset)
        return tf.Compose([tf.ToImage(), tf.ToDtype(torch.float32, scale=True)])

    def distances(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per AE, the LPIPS layer-2 distance ``(N,)`` float32 (>= 0) between each image and its reconstruction.

        Args:
            batch: ``(N, 3, H, W)`` float32 in [0, 1].

        Raises:
            ValueError: ``H`` or ``W`` is not a multiple of the AEs' downsampling factor.
        """
        import torchvision.transforms.v2.functional as TF

        height, width = batch.shape[-2:]
        if height % self.factor or width % self.factor:
            raise ValueError(f"image size {width}x{height} is not a multiple of {self.factor} (the autoencoders' "
                             f"downsampling; the official code fails on it too): crop it to "
                             f"{width - width % self.factor}x{height - height % self.factor} first (e.g. --crop-box)")
        x = batch.to(self.device, torch.float32)
        out = {}
        with torch.inference_mode():
            for tag, ae in self.autoencoders.items():
                rec = TF.to_dtype(reconstruct(ae, x), torch.float32, scale=True)
                out[tag] = self.lpips(x, rec).mean(dim=(1, 2, 3)).float().cpu()
        return out

    def predict(self, batch: torch.Tensor) -> DetectorOutput:
        """Score a batch: ``prob`` = ``max_AE(-distance)`` ``(N,)`` float32 (a score, not a probability)."""
        dists = self.distances(batch)
        score = torch.stack([-d for d in dists.values()]).amax(dim=0)
        return DetectorOutput(prob=score, logit=None)

    def to(self, device: str | torch.device) -> "AeroBlade":
        super().to(device)
        for ae in self.autoencoders.values():
            ae.to(self.device)
        self.lpips.to(self.device)
        return self


def _parse_tags(weights: str | os.PathLike | None) -> list[str]:
    """``None`` -> the official set; ``"sd1+kd21"`` -> ``["sd1", "kd21"]`` (each checked)."""
    from fakebench.core.errors import WeightsNotFoundError
    from fakebench.core.names import suggest

    if weights is None:
        return list(AEROBLADE_DEFAULT_SET)
    text = str(weights)
    if os.sep in text or text.endswith((".pth", ".pt", ".bin", ".safetensors", ".xz")):
        raise WeightsNotFoundError(f"AEROBLADE bundle file {text!r} does not exist. Pass an existing bundle to "
                                   f"--weights, or AE tags ({'+'.join(AEROBLADE_DEFAULT_SET)}).")
    tags = [t.split(".", 1)[1] if t.startswith("aeroblade.") else t for t in text.split("+")]
    for tag in tags:
        if tag == "vgg16":
            raise UnknownNameError("vgg16 is AEROBLADE's LPIPS backbone, not an autoencoder; pass AE tags to --weights "
                                   f"({', '.join(AEROBLADE_AUTOENCODERS)}, joined with '+').")
        if tag not in AEROBLADE_AUTOENCODERS:
            raise UnknownNameError(suggest(tag, list(AEROBLADE_AUTOENCODERS), "aeroblade autoencoder tag"))
    if len(set(tags)) != len(tags):
        raise UnknownNameError(f"AEROBLADE weights {text!r} name an autoencoder twice.")
    return tags


def _sha(path: Path) -> str:
    from fakebench.core.files import sha256_file

    return sha256_file(path)


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    except Exception as exc:  # safetensors raises its own error types for truncated/invalid files
        raise CheckpointError(f"Cannot read {str(path)!r} as safetensors ({exc}); delete it and download it again.") \
            from exc


def _lpips_lin() -> dict[str, torch.Tensor]:
    """The LPIPS v0.1 VGG linear layer 1 (``weight`` ``(1, 128, 1, 1)``) from the installed lpips package,
    sha256-checked."""
    import lpips

    from fakebench.detectors.checkpoints import read_checkpoint, verify_sha256

    path = Path(lpips.__file__).parent / "weights" / "v0.1" / "vgg.pth"
    verify_sha256(path, AEROBLADE_LPIPS_LIN_SHA256)
    state = read_checkpoint(path)
    return {"weight": state["lin1.model.1.weight"]}


def _load_lpips(module: LPIPSLayer2, net_state: Mapping[str, Any], lin_state: Mapping[str, Any], path: Path) -> None:
    from fakebench.detectors.checkpoints import load_strict

    missing = [k for k, v in net_state.items() if v is None]
    if missing:
        raise CheckpointError(f"{path}: the VGG16 weights lack {', '.join(missing)} (expected torchvision "
                              f"features.N.weight/bias keys).")
    state = {**net_state, **{f"lin.{k}": v for k, v in lin_state.items()}}
    state.update({f"scaling_layer.{k}": v for k, v in module.scaling_layer.state_dict().items()})
    load_strict(module, state, path, what="aeroblade LPIPS (VGG16 to relu2_2 + lin1)")


def write_bundle(path: str | os.PathLike, autoencoders: Mapping[str, nn.Module],
                 vgg16_features: Mapping[str, torch.Tensor], lin1: torch.Tensor) -> Path:
    """Write an AEROBLADE bundle: ``{"format", "autoencoders": {tag: {"class", "config", "dtype", "state_dict"}},
    "lpips": {"vgg16_features": {"0.weight", ..., "7.bias"}, "lin1": {"weight"}}}`` with ``torch.save``.

    Args:
        path: output file.
        autoencoders: ``{tag: diffusers AutoencoderKL/VQModel}`` in the order the maximum is taken, in the dtype they
            run in (saved with them).
        vgg16_features: the VGG16 ``features`` state (torchvision names without ``features.``); only indices 0, 2, 5
            and 7 are kept.
        lin1: LPIPS linear layer 1 weight ``(1, 128, 1, 1)``.
    """
    entries = {}
    for tag, ae in autoencoders.items():
        config = {k: (list(v) if isinstance(v, tuple) else v) for k, v in dict(ae.config).items()
                  if not k.startswith("_")}
        dtype = str(next(ae.parameters()).dtype).replace("torch.", "")
        entries[tag] = {"class": ae.__class__.__name__, "config": config, "dtype": dtype,
                        "state_dict": {k: v.detach().cpu().clone() for k, v in ae.state_dict().items()}}
    features = {f"{i}.{p}": vgg16_features[f"{i}.{p}"].detach().cpu().float().clone() for i in _VGG_CONVS
                for p in ("weight", "bias")}
    path = Path(path)
    torch.save({"format": BUNDLE_FORMAT, "autoencoders": entries,
                "lpips": {"vgg16_features": features, "lin1": {"weight": lin1.detach().cpu().float().clone()}}}, path)
    return path
