"""FatFormer (Liu et al., CVPR 2024): CLIP ViT-L/14 with forgery-aware adapters and language-guided alignment.

Follows ``Michel-liu/FatFormer`` @ febc24c (Apache-2.0):

* ``models/clip/model.py``: OpenAI's CLIP with a ``ForgeryAwareAdapterLayer`` in the residual blocks
  ``(i + 1) * layers / num_vit_adapter - 1`` of the visual transformer (README command: ``--num_vit_adapter 3``, so
  blocks 7, 15 and 23 of ViT-L/14). Such a block computes ``x = x + attn(ln_1(x))``, then
  ``x = x + mlp(ln_2(x)) + adapter(x)``. The adapter (``d_model`` 1024, bottleneck 64, 8 heads, ``adapter_scalar``
  0.1) adds ``0.1 * up(relu(down(x)))`` (1x1 ``Conv1d`` over the tokens) and ``freq_scale *`` a frequency branch:
  the patch tokens as a ``(N, C, g, g)`` map, a one-level Haar DWT (``pytorch_wavelets`` ``DWTForward(J=1,
  wave='haar')``; here :func:`fakebench.detectors.wavelets.dwt2_level1` and :func:`haar_idwt2`, equal on the parity
  fixture's tensors), ``GroupNorm(128, C)`` over the four bands, attention across the four bands at each position
  (the module named ``intra_band``), then over the ``(g/2)^2`` positions within each band (``inter_band``), an FFN,
  the inverse DWT, and a zero for the CLS token. The visual tower returns ``ln_post`` of every token ``@ proj``.
* ``models/clip_models.py`` ``CLIPModel``: the ``LanguageGuidedAlignment`` turns its ``n_ctx`` learned context
  vectors into image-conditioned ones (``patch_basaed_enhancer``: cross-attention over the image tokens, 12 heads,
  LayerNorm, ReLU FFN), builds the prompts ``[SOS] ctx_1..ctx_n "real." / "fake." [EOS]`` from the stored
  ``token_prefix``/``token_suffix`` embeddings and encodes them with CLIP's (causal) text transformer, reading the
  EOS position of the tokenised ``"X X X X X X X X real."`` (open_clip's tokenizer is OpenAI's BPE: same ids).
  Logits (Eq. 1) ``logit_scale.exp() * cos(CLS image feature, text feature of class k)``, plus (Eq. 9) the same with
  the patch tokens after the ``text_guided_interactor`` (cross-attention onto the two text features, 12 heads,
  LayerNorm, FFN) and a mean; the output is their sum, ``(N, 2)`` for (real, fake), and ``main.py`` reports
  ``softmax[:, 1]``. Here ``logit = l_fake - l_real``, so ``sigmoid(logit)`` is that probability.
* Test transform (``utils/dataset.py`` ``Dataset_Creator``, ``main.py`` defaults): ``Resize((256, 256))`` (bilinear,
  square), ``CenterCrop(224)``, ImageNet mean/std (preset ``resize256_crop224``).

The checkpoint is ``{'model': CLIPModel.state_dict()}`` (``main.py`` loads it with ``load_state_dict``, strict): the
WHOLE model, the CLIP towers included (the OpenAI weights read by ``clip.load`` are overwritten), with the aliased
entries the official module layout produces (``image_encoder.*`` = ``clip_model.visual.*``, ``text_encoder.*`` =
``clip_model.transformer`` / ``positional_embedding`` / ``ln_final`` / ``text_projection``, ``logit_scale`` =
``clip_model.logit_scale``). :class:`FatFormerNet` registers the same modules under the same names, so loading (and
its handling of the aliases) is that of the official code; no pretrained CLIP is fetched. The shapes are read from the
checkpoint (:meth:`FatFormerConfig.from_state_dict`), so the parity fixture's tiny configuration loads the same way.
"""

from __future__ import annotations

import math
import os
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from fakebench.core.errors import CheckpointError

from fakebench.detectors.base import DetectorOutput, LogitDetector, WeightsInfo
from fakebench.detectors.card import Preset
from fakebench.detectors.catalog_fatformer import FATFORMER_CARD

__all__ = ["FatFormerConfig", "haar_idwt2", "check_haar_filters", "ForgeryAwareAdapter", "FatFormerNet", "FatFormer",
           "VIT_L14"]

#: class names of ``CLIPModel`` (index 1 = fake)
CLASSNAMES = ("real", "fake")


@dataclass(frozen=True)
class FatFormerConfig:
    """Shape of a FatFormer network.

    Attributes:
        vision_width, vision_layers, patch_size, image_size: the CLIP ViT (ViT-L/14: 1024, 24, 14, 224); heads =
            width // 64 as in OpenAI's ``build_model``.
        adapter_blocks: indices of the visual blocks with a forgery-aware adapter (README: 7, 15, 23).
        text_width, text_layers, context_length, vocab_size: the text transformer (768, 12, 77, 49408).
        embed_dim: joint embedding width (768); must equal ``text_width`` (the official cross-attentions use the text
            width for the image and text features alike).
        n_ctx: learned context embeddings (README: 8).
    """

    vision_width: int
    vision_layers: int
    patch_size: int
    image_size: int
    adapter_blocks: tuple[int, ...]
    text_width: int
    text_layers: int
    context_length: int
    vocab_size: int
    embed_dim: int
    n_ctx: int

    @classmethod
    def from_state_dict(cls, state: Mapping[str, torch.Tensor], path: str | os.PathLike = "") -> "FatFormerConfig":
        """Read the shapes from an official state dict (keys as ``CLIPModel.state_dict()``).

        Raises:
            CheckpointError: the dict lacks FatFormer's keys (names the first missing one).
        """
        need = ("clip_model.visual.conv1.weight", "clip_model.visual.positional_embedding",
                "clip_model.ln_final.weight", "clip_model.text_projection", "clip_model.positional_embedding",
                "clip_model.token_embedding.weight", "language_guided_alignment.ctx")
        for key in need:
            if key not in state:
                raise CheckpointError(
                    f"Checkpoint {str(path)!r} is not a FatFormer checkpoint: no {key!r} (expected main.py's "
                    f"{{'model': CLIPModel.state_dict()}} with 'clip_model.*', 'language_guided_alignment.*', ...; "
                    f"first keys: {sorted(state)[:5]}).")
        conv = state["clip_model.visual.conv1.weight"]
        grid = round((state["clip_model.visual.positional_embedding"].shape[0] - 1) ** 0.5)
        prefix = "clip_model.visual.transformer.resblocks."
        blocks = {int(k[len(prefix):].split(".")[0]) for k in state if k.startswith(prefix)}
        adapters = {int(k[len(prefix):].split(".")[0]) for k in state
                    if k.startswith(prefix) and ".forgery_aware_adapter." in k}
        text = "clip_model.transformer.resblocks."
        return cls(vision_width=int(conv.shape[0]), vision_layers=len(blocks), patch_size=int(conv.shape[-1]),
                   image_size=int(conv.shape[-1]) * grid, adapter_blocks=tuple(sorted(adapters)),
                   text_width=int(state["clip_model.ln_final.weight"].shape[0]),
                   text_layers=len({k[len(text):].split(".")[0] for k in state if k.startswith(text)}),
                   context_length=int(state["clip_model.positional_embedding"].shape[0]),
                   vocab_size=int(state["clip_model.token_embedding.weight"].shape[0]),
                   embed_dim=int(state["clip_model.text_projection"].shape[1]),
                   n_ctx=int(state["language_guided_alignment.ctx"].shape[0]))


#: the published model: OpenAI CLIP ViT-L/14, 3 adapters, 8 context embeddings (README evaluation command)
VIT_L14 = FatFormerConfig(vision_width=1024, vision_layers=24, patch_size=14, image_size=224,
                          adapter_blocks=(7, 15, 23), text_width=768, text_layers=12, context_length=77,
                          vocab_size=49408, embed_dim=768, n_ctx=8)


def haar_idwt2(low: torch.Tensor, highs: torch.Tensor) -> torch.Tensor:
    """Inverse of a one-level 2-D Haar DWT as :func:`fakebench.detectors.wavelets.dwt2_level1` computes it.

    The Haar analysis of an even-sized map needs no boundary extension and is orthonormal, so its inverse is its
    transpose: ``conv_transpose2d`` with the analysis filters, along the height then the width (the reverse of the
    analysis order). Equal to ``pytorch_wavelets`` ``DWTInverse(wave='haar')`` up to float rounding (checked on the
    parity fixture's tensors).

    Args:
        low: ``(N, C, h, w)`` approximation band.
        highs: ``(N, C, 3, h, w)`` detail bands in ``pytorch_wavelets`` order.

    Returns:
        ``(N, C, 2h, 2w)`` float tensor.
    """
    from fakebench.detectors.wavelets import dwt_filters

    lo, hi = dwt_filters("haar")
    n, c, h, w = low.shape
    y = torch.cat([low[:, :, None], highs], dim=2).reshape(n, 4 * c, h, w)
    kernel_h = torch.stack([lo, hi]).to(y.device, y.dtype).reshape(2, 1, 2, 1).repeat(2 * c, 1, 1, 1)
    y = F.conv_transpose2d(y, kernel_h, stride=(2, 1), groups=2 * c)
    kernel_w = torch.stack([lo, hi]).to(y.device, y.dtype).reshape(2, 1, 1, 2).repeat(c, 1, 1, 1)
    return F.conv_transpose2d(y, kernel_w, stride=(1, 2), groups=c)


def _mlp(width: int) -> nn.Sequential:
    return nn.Sequential(OrderedDict([("c_fc", nn.Linear(width, width * 4)), ("gelu", _QuickGELU()),
                                      ("c_proj", nn.Linear(width * 4, width))]))


class _QuickGELU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


def _haar_filter_buffers(prefix: str) -> nn.Module:
    """A module holding ``pytorch_wavelets``' Haar filter buffers as the checkpoint stores them: ``<prefix>0_col``,
    ``<prefix>1_col`` ``(1, 1, 2, 1)``, ``<prefix>0_row``, ``<prefix>1_row`` ``(1, 1, 1, 2)`` (``h`` = time-reversed
    decomposition filters of ``DWTForward``, ``g`` = reconstruction filters of ``DWTInverse``; for Haar both are
    ``[s, s]`` and ``[s, -s]``, ``s = float32(1 / sqrt(2))``)."""
    from fakebench.detectors.wavelets import dwt_filters

    lo, hi = dwt_filters("haar")
    module = nn.Module()
    for band, taps in (("0", lo), ("1", hi)):
        module.register_buffer(f"{prefix}{band}_col", taps.reshape(1, 1, 2, 1).clone())
        module.register_buffer(f"{prefix}{band}_row", taps.reshape(1, 1, 1, 2).clone())
    return module


def check_haar_filters(model: nn.Module) -> None:
    """Check that every ``dwt_transform`` / ``idwt_transform`` buffer of ``model`` holds the Haar filters that
    :func:`dwt2_level1` / :func:`haar_idwt2` use (they are in the checkpoint, and the official code filters with
    whatever it loads).

    Raises:
        CheckpointError: a buffer differs (names it).
    """
    for name, module in model.named_modules():
        if name.endswith("dwt_transform"):
            reference = _haar_filter_buffers("h" if name.endswith(".dwt_transform") else "g")
            for key, value in module.named_buffers():
                if not torch.equal(value.float().cpu(), getattr(reference, key)):
                    raise CheckpointError(f"{name}.{key} holds {value.flatten().tolist()}, not the Haar filters "
                                          f"pytorch_wavelets builds; fakebench's DWT would not match this checkpoint.")


class ForgeryAwareAdapter(nn.Module):
    """The forgery-aware adapter (official ``ForgeryAwareAdapterLayer``; module docstring), in eval mode.

    Args:
        width: token width (ViT-L/14: 1024; divisible by 128 for the ``GroupNorm(128, width)``).
        bottleneck: the 1x1 convolution bottleneck (64).
        heads: heads of the band attentions (8).
        scale: weight of the image branch (0.1).

    Input/output: ``(1 + g*g, N, width)`` sequence-first tokens (CLS first), ``g`` even.
    """

    def __init__(self, width: int, bottleneck: int = 64, heads: int = 8, scale: float = 0.1) -> None:
        super().__init__()
        self.width, self.scale = width, scale
        self.first_conv_layer = nn.Conv1d(width, bottleneck, kernel_size=1)
        self.second_conv_layer = nn.Conv1d(bottleneck, width, kernel_size=1)
        self.freq_scale = nn.Parameter(torch.zeros(1))
        self.dwt_transform = _haar_filter_buffers("h")  # pytorch_wavelets DWTForward's buffers, checked at load
        self.idwt_transform = _haar_filter_buffers("g")  # DWTInverse's
        self.dwt_norm = nn.GroupNorm(128, width)
        self.intra_band = nn.MultiheadAttention(width, heads)
        self.norm_intra = nn.LayerNorm(width)
        self.inter_band = nn.MultiheadAttention(width, heads)
        self.norm_inter = nn.LayerNorm(width)
        self.linear1 = nn.Linear(width, width * 4)
        self.linear2 = nn.Linear(width * 4, width)
        self.norm3 = nn.LayerNorm(width)

    def frequency(self, bands: torch.Tensor) -> torch.Tensor:
        """``(N, 4, P, C)`` normalised bands -> same shape: self-attention across the 4 bands at each position
        (``intra_band``), then across the ``P`` positions of each band (``inter_band``), then the FFN; each with a
        residual and LayerNorm (the official ``forward_freq``)."""
        n, nb, p, c = bands.shape
        seq = bands.transpose(0, 1).flatten(1, 2)  # (4, N * P, C): the official "intra_band" attends over the bands
        bands = self.norm_intra(bands + self.intra_band(seq, seq, seq, need_weights=False)[0]
                                .reshape(nb, n, p, c).transpose(0, 1))
        seq = bands.flatten(0, 1).transpose(0, 1)  # (P, N * 4, C): "inter_band" attends over the positions
        bands = self.norm_inter(bands + self.inter_band(seq, seq, seq, need_weights=False)[0]
                                .transpose(0, 1).reshape(n, nb, p, c))
        return self.norm3(bands + self.linear2(F.relu(self.linear1(bands))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from fakebench.detectors.wavelets import dwt2_level1

        tokens, n, c = x.shape
        g = int(math.sqrt(tokens))  # the official int(sqrt(1 + g*g)) = g
        grid = x[1:].transpose(0, 1).reshape(n, g, g, c).permute(0, 3, 1, 2)
        low, highs = dwt2_level1(grid, "haar")
        bands = torch.cat([low[:, :, None], highs], dim=2)  # (N, C, 4, g/2, g/2)
        h, w = bands.shape[-2:]
        bands = self.dwt_norm(bands.flatten(-2)).permute(0, 2, 3, 1)  # (N, 4, P, C)
        bands = self.frequency(bands).reshape(n, 4, h, w, c).permute(0, 4, 1, 2, 3)
        freq = haar_idwt2(bands[:, :, 0], bands[:, :, 1:]).flatten(-2).permute(2, 0, 1)
        freq = torch.cat([torch.zeros_like(x[:1]), freq], dim=0)
        image = self.second_conv_layer(F.relu(self.first_conv_layer(x.permute(1, 2, 0)))).permute(2, 0, 1)
        return image * self.scale + freq * self.freq_scale


class _Block(nn.Module):
    """OpenAI CLIP residual block (``ln_1``, ``attn``, ``ln_2``, ``mlp``), optionally with ``forgery_aware_adapter``;
    sequence-first ``(L, N, width)``."""

    def __init__(self, width: int, heads: int, causal_length: int | None = None, adapter: bool = False) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = _mlp(width)
        self.ln_2 = nn.LayerNorm(width)
        self.forgery_aware_adapter = ForgeryAwareAdapter(width) if adapter else None
        mask = None
        if causal_length is not None:
            mask = torch.full((causal_length, causal_length), float("-inf")).triu_(1)
        self.register_buffer("attn_mask", mask, persistent=False)  # a plain attribute upstream: not in the state dict

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False, attn_mask=self.attn_mask)[0]
        if self.forgery_aware_adapter is None:
            return x + self.mlp(self.ln_2(x))
        return x + self.mlp(self.ln_2(x)) + self.forgery_aware_adapter(x)


class _Transformer(nn.Module):
    def __init__(self, width: int, layers: int, heads: int, causal_length: int | None = None,
                 adapter_blocks: tuple[int, ...] = ()) -> None:
        super().__init__()
        self.resblocks = nn.Sequential(*[_Block(width, heads, causal_length, i in adapter_blocks)
                                         for i in range(layers)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.resblocks(x)


class _VisionTransformer(nn.Module):
    """OpenAI CLIP ViT returning every token: ``(N, 3, S, S)`` -> ``(N, 1 + g*g, embed_dim)`` (``ln_post`` then
    ``proj`` on all tokens, the official ``return_full=True``)."""

    def __init__(self, cfg: FatFormerConfig) -> None:
        super().__init__()
        width, grid = cfg.vision_width, cfg.image_size // cfg.patch_size
        self.conv1 = nn.Conv2d(3, width, kernel_size=cfg.patch_size, stride=cfg.patch_size, bias=False)
        self.class_embedding = nn.Parameter(torch.zeros(width))
        self.positional_embedding = nn.Parameter(torch.zeros(grid * grid + 1, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = _Transformer(width, cfg.vision_layers, width // 64, adapter_blocks=cfg.adapter_blocks)
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(torch.zeros(width, cfg.embed_dim))
        self.grid_size = (grid, grid)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x).flatten(2).transpose(1, 2)
        cls = self.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = self.ln_pre(torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype))
        x = self.transformer(x.permute(1, 0, 2)).permute(1, 0, 2)
        return self.ln_post(x) @ self.proj


class _CLIP(nn.Module):
    """The official ``CLIP`` container: same attribute names and registration order (state-dict keys)."""

    def __init__(self, cfg: FatFormerConfig) -> None:
        super().__init__()
        self.visual = _VisionTransformer(cfg)
        self.transformer = _Transformer(cfg.text_width, cfg.text_layers, cfg.text_width // 64, cfg.context_length)
        self.token_embedding = nn.Embedding(cfg.vocab_size, cfg.text_width)  # in the checkpoint; unused at inference
        self.positional_embedding = nn.Parameter(torch.zeros(cfg.context_length, cfg.text_width))
        self.ln_final = nn.LayerNorm(cfg.text_width)
        self.text_projection = nn.Parameter(torch.zeros(cfg.text_width, cfg.embed_dim))
        self.logit_scale = nn.Parameter(torch.zeros([]))


class _TextEncoder(nn.Module):
    """Official ``TextEncoder``: prompts ``(M, L, width)`` embeddings -> ``(M, embed_dim)`` features at the EOS
    positions ``eos`` ``(M,)``."""

    def __init__(self, clip: _CLIP) -> None:
        super().__init__()
        self.transformer = clip.transformer
        self.positional_embedding = clip.positional_embedding
        self.ln_final = clip.ln_final
        self.text_projection = clip.text_projection

    def forward(self, prompts: torch.Tensor, eos: torch.Tensor) -> torch.Tensor:
        x = self.transformer((prompts + self.positional_embedding).permute(1, 0, 2)).permute(1, 0, 2)
        x = self.ln_final(x)
        return x[torch.arange(x.shape[0], device=x.device), eos] @ self.text_projection


def _cross_ffn(width: int) -> dict[str, nn.Module]:
    """``norm1``, then the ReLU FFN ``linear1``/``linear2`` and ``norm2`` of the official cross-attention blocks."""
    return {"norm1": nn.LayerNorm(width), "linear1": nn.Linear(width, width * 4),
            "linear2": nn.Linear(width * 4, width), "norm2": nn.LayerNorm(width)}


class _LanguageGuidedAlignment(nn.Module):
    """Official ``LanguageGuidedAlignment``: learned context ``ctx`` ``(n_ctx, width)``, prompt buffers, and the
    patch-based enhancer. ``forward(image_tokens (N, T, width))`` -> prompts ``(N, n_cls, L, width)``."""

    def __init__(self, cfg: FatFormerConfig) -> None:
        super().__init__()
        width, n_cls = cfg.text_width, len(CLASSNAMES)
        self.ctx = nn.Parameter(torch.zeros(cfg.n_ctx, width))
        self.register_buffer("token_prefix", torch.zeros(n_cls, 1, width))
        self.register_buffer("token_suffix", torch.zeros(n_cls, cfg.context_length - 1 - cfg.n_ctx, width))
        self.patch_basaed_enhancer = nn.MultiheadAttention(width, num_heads=12)  # sic, the official name
        for name, module in _cross_ffn(width).items():
            self.add_module(name, module)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        n = tokens.shape[0]
        memory = tokens.transpose(0, 1)
        tgt = self.ctx[:, None].expand(-1, n, -1)
        tgt = self.norm1(tgt + self.patch_basaed_enhancer(tgt, memory, memory, need_weights=False)[0])
        tgt = self.norm2(tgt + self.linear2(F.relu(self.linear1(tgt))))
        ctx = tgt.transpose(0, 1)[:, None].expand(-1, self.token_prefix.shape[0], -1, -1)
        return torch.cat([self.token_prefix.expand(n, -1, -1, -1), ctx, self.token_suffix.expand(n, -1, -1, -1)], dim=2)


class FatFormerNet(nn.Module):
    """The FatFormer network with the official state-dict layout (module docstring).

    Input ``(N, 3, S, S)`` float32, ImageNet-normalised (``S`` = ``cfg.image_size``); output ``(N, 2)`` logits
    (real, fake), the official ``CLIPModel.forward``.

    Raises:
        ValueError: ``embed_dim != text_width`` or an odd patch grid (the official code needs both).
    """

    def __init__(self, cfg: FatFormerConfig) -> None:
        super().__init__()
        if cfg.embed_dim != cfg.text_width:
            raise ValueError(f"FatFormer needs embed_dim == text_width (its cross-attentions mix both), got {cfg}.")
        if (cfg.image_size // cfg.patch_size) % 2:
            raise ValueError(f"FatFormer's Haar DWT needs an even patch grid, got {cfg}.")
        self.config = cfg
        self.clip_model = _CLIP(cfg)
        self.language_guided_alignment = _LanguageGuidedAlignment(cfg)
        self.image_encoder = self.clip_model.visual
        self.text_encoder = _TextEncoder(self.clip_model)
        self.logit_scale = self.clip_model.logit_scale
        self.text_guided_interactor = nn.MultiheadAttention(cfg.text_width, num_heads=12)
        for name, module in _cross_ffn(cfg.text_width).items():
            self.add_module(name, module)
        self.register_buffer("eos", _eos_positions(cfg.n_ctx), persistent=False)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        scale = self.logit_scale.exp()
        tokens = self.image_encoder(image)  # (N, T, D)
        prompts = self.language_guided_alignment(tokens)  # (N, n_cls, L, D)
        n, n_cls = prompts.shape[:2]
        text = self.text_encoder(prompts.flatten(0, 1), self.eos.repeat(n)).reshape(n, n_cls, -1)
        text_norm = text / text.norm(dim=-1, keepdim=True)
        cls = tokens[:, 0] / tokens[:, 0].norm(dim=-1, keepdim=True)
        logits = scale * torch.einsum("nd,nkd->nk", cls, text_norm)  # Eq. (1)
        tgt = tokens[:, 1:].transpose(0, 1)  # (P, N, D)
        memory = text.transpose(0, 1)  # (n_cls, N, D)
        tgt = self.norm1(tgt + self.text_guided_interactor(tgt, memory, memory, need_weights=False)[0])
        tgt = self.norm2(tgt + self.linear2(F.relu(self.linear1(tgt))))
        aug = tgt.mean(dim=0)
        aug = aug / aug.norm(dim=-1, keepdim=True)
        return logits + scale * torch.einsum("nd,nkd->nk", aug, text_norm)  # Eq. (9)


def _eos_positions(n_ctx: int) -> torch.Tensor:
    """``(n_cls,)`` EOS index of each tokenised prompt ``"X ... X <class>."`` (``tokenized_prompts.argmax(-1)``)."""
    from open_clip.tokenizer import tokenize

    prompts = [" ".join(["X"] * n_ctx) + " " + name + "." for name in CLASSNAMES]
    return tokenize(prompts).argmax(dim=-1).long()


class FatFormer(LogitDetector):
    """FatFormer detector. Preset: ``resize256_crop224`` (the official test transform).

    Output: ``logit = l_fake - l_real`` of the official two logits; ``prob = sigmoid(logit) = softmax[:, 1]``.
    """

    name = "fatformer"
    card = FATFORMER_CARD

    @classmethod
    def build_model(cls, config: FatFormerConfig = VIT_L14) -> FatFormerNet:
        """The untrained network of ``config`` (ViT-L/14 by default)."""
        return FatFormerNet(config)

    @classmethod
    def load(cls, weights: str | os.PathLike | None = None, *, preset: Preset | str | None = None,
             device: str | torch.device = "cpu", cache_dir: str | os.PathLike | None = None) -> "FatFormer":
        """Load an official FatFormer checkpoint (tag or path): ``{'model': state_dict}`` (or the bare state dict,
        with or without DataParallel ``module.`` prefixes); shapes are read from it and every key must match.

        Raises:
            CheckpointError: unreadable file, not a FatFormer checkpoint, keys/shapes that do not match (listed), or a
                tag's file that is not the published ViT-L/14 configuration.
        """
        from fakebench.core.files import sha256_file
        from fakebench.detectors.checkpoints import (load_strict, read_checkpoint, require_published,
                                                    unwrap_state_dict)

        path, spec = cls.resolve_weights(weights, cache_dir)
        state = unwrap_state_dict(read_checkpoint(path), path, nested_keys=("model",))
        config = FatFormerConfig.from_state_dict(state, path)
        require_published(path, cls.name, spec, config, VIT_L14, name="ViT-L/14")
        try:
            model = FatFormerNet(config)
        except ValueError as exc:
            raise CheckpointError(f"Checkpoint {str(path)!r}: {exc}") from exc
        load_strict(model, state, path, what="FatFormer (CLIPModel) model")
        try:
            check_haar_filters(model)
        except CheckpointError as exc:
            raise CheckpointError(f"Checkpoint {str(path)!r}: {exc}") from exc
        model.requires_grad_(False)
        info = WeightsInfo.of_file(path, spec, sha256_file(path))
        return cls(model, preset=preset, weights=info, device=device)

    @torch.inference_mode()
    def predict(self, batch: torch.Tensor) -> DetectorOutput:
        """``(N, 3, 224, 224)`` -> ``(N,)`` fake probabilities ``softmax[:, 1]`` and logits ``l_fake - l_real``."""
        logits = self.model(batch.to(self.device, torch.float32)).float()
        logit = (logits[:, 1] - logits[:, 0]).cpu()
        return DetectorOutput(prob=torch.sigmoid(logit), logit=logit)

    def identity(self) -> dict[str, Any]:
        ident = super().identity()
        cfg = self.model.config
        ident["config"] = {"layers": cfg.vision_layers, "width": cfg.vision_width, "adapters": list(cfg.adapter_blocks)}
        return ident
