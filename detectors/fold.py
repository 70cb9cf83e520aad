"""Inference-time folding of eval-mode BatchNorm layers into the convolutions that feed them.

In eval mode a ``BatchNorm2d`` is an affine map per channel, ``y = (x - mean) / sqrt(var + eps) * gamma + beta``, so a
convolution followed directly by it equals one convolution with rescaled weights and a bias (Ioffe & Szegedy, 2015,
section 3.2; torch's :func:`torch.nn.utils.fusion.fuse_conv_bn_eval` computes the folded weights). The network then
skips one full pass over every feature map per layer: on the CPU the batch-norm passes were a quarter of NPR's forward
time (``tools/bench_pipeline.py``, docs/scale.md). The outputs differ from the unfolded network by float rounding only
(NPR: logits within about 6e-6 on 256-512 px images), so a detector that turns it on bumps its revision.

Which convolution feeds which batch norm is a fact of a module's ``forward``, not of its attributes, so pairs are only
taken where the forward is known:

* consecutive ``Conv2d``, ``BatchNorm2d`` children of an ``nn.Sequential`` (e.g. a ResNet ``downsample``);
* ``conv{k}`` -> ``bn{k}`` inside torchvision's ``ResNet``, ``BasicBlock`` and ``Bottleneck`` (exact types, not
  subclasses: torchvision ``models/resnet.py``) and inside any module whose class lists its pairs in a
  ``conv_bn_pairs`` class attribute (e.g. :class:`fakebench.detectors.npr.TruncatedResNet50`); the declaration holds
  for subclasses that do not override ``forward``.

Anything else is left as it is. The unfolded network is never changed: :func:`fold_batchnorm` returns a folded copy.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

__all__ = ["conv_bn_pairs", "fold_batchnorm", "state_versions"]

_TORCHVISION_RESNET = ("torchvision.models.resnet", {"ResNet", "BasicBlock", "Bottleneck"})
_NUMBERED_PAIRS = (("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3"))


def _declared_pairs(module: nn.Module) -> tuple[tuple[str, str], ...]:
    for cls in type(module).__mro__:  # a declaration holds for its own forward, not for a subclass that overrides it
        if "conv_bn_pairs" in cls.__dict__:
            return tuple(cls.__dict__["conv_bn_pairs"])
        if "forward" in cls.__dict__:
            break
    module_name, names = _TORCHVISION_RESNET
    if type(module).__module__ == module_name and type(module).__name__ in names:
        return _NUMBERED_PAIRS
    return ()


def _foldable(conv: nn.Module | None, bn: nn.Module | None) -> bool:
    return (type(conv) is nn.Conv2d and type(bn) is nn.BatchNorm2d and bn.track_running_stats
            and bn.running_mean is not None and conv.out_channels == bn.num_features)


def conv_bn_pairs(model: nn.Module) -> list[tuple[nn.Module, str, str]]:
    """The ``(parent, conv attribute, batch-norm attribute)`` triples of ``model`` that :func:`fold_batchnorm` folds
    (see the module docstring for the rule), in :meth:`~torch.nn.Module.modules` order."""
    pairs: list[tuple[nn.Module, str, str]] = []
    for module in model.modules():
        if type(module) is nn.Sequential:
            names = list(module._modules)
            for a, b in zip(names, names[1:]):
                if _foldable(module._modules[a], module._modules[b]):
                    pairs.append((module, a, b))
        for conv_name, bn_name in _declared_pairs(module):
            if _foldable(module._modules.get(conv_name), module._modules.get(bn_name)):
                pairs.append((module, conv_name, bn_name))
    return pairs


def fold_batchnorm(model: nn.Module) -> tuple[nn.Module, int]:
    """A copy of ``model`` with every known conv -> batch-norm pair folded into one convolution.

    Args:
        model: a network in eval mode (its batch norms use their running statistics). Not modified.

    Returns:
        ``(folded copy, number of pairs folded)``; the copy is in eval mode, with the folded convolutions holding a
        bias and the batch norms replaced by ``nn.Identity``. Its parameters do not require gradients.

    Raises:
        ValueError: ``model`` is in training mode (its batch norms would use batch statistics, which cannot be
            folded).
    """
    if model.training:
        raise ValueError("fold_batchnorm needs a model in eval mode; call model.eval() first")
    with torch.inference_mode(False), torch.no_grad():
        folded = copy.deepcopy(model)
        pairs = conv_bn_pairs(folded)
        for parent, conv_name, bn_name in pairs:
            parent._modules[conv_name] = fuse_conv_bn_eval(parent._modules[conv_name], parent._modules[bn_name])
            parent._modules[bn_name] = nn.Identity()
    return folded.requires_grad_(False).eval(), len(pairs)


def state_versions(model: nn.Module) -> tuple[tuple[int, int, int, torch.dtype], ...]:
    """``(id, version counter, data pointer, dtype)`` of every parameter and buffer of ``model``: it changes when a
    tensor is replaced, modified in place (an optimiser step, ``load_state_dict``) or given new storage (``.data =``,
    ``.to()``), so a folded copy keyed by it is never stale. (Writes through ``tensor.data`` in place bypass the version
    counter; fakebench never scores after such a write.)"""
    return tuple((id(t), t._version, t.data_ptr(), t.dtype) for t in (*model.parameters(), *model.buffers()))
