"""Batch-norm folding for scoring (:mod:`fakebench.detectors.fold`): which pairs are folded, that the folded copy gives
the unfolded outputs, that the official network is never changed, and that a stale copy is never used."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fakebench.detectors.fold import conv_bn_pairs, fold_batchnorm


def _randomise_batchnorm(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial running statistics and affine parameters (fresh ones would make every batch norm the identity)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d) and m.running_mean is not None:
                m.running_mean.copy_(torch.randn(m.num_features, generator=g))
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.randn(m.num_features, generator=g))
                m.bias.copy_(torch.randn(m.num_features, generator=g))
    return model.eval()


def _count(model: nn.Module, kind: type) -> int:
    return sum(type(m) is kind for m in model.modules())


def test_npr_network_folds_every_pair_and_keeps_its_outputs():
    from fakebench.detectors.npr import NPRNet

    torch.manual_seed(0)
    model = _randomise_batchnorm(NPRNet())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    folded, n = fold_batchnorm(model)
    # the stem (conv1 -> bn1), 7 Bottlenecks x 3, 2 downsample Sequentials
    assert n == 24 == _count(model, nn.BatchNorm2d) and _count(folded, nn.BatchNorm2d) == 0
    x = torch.randn(3, 3, 66, 70)
    with torch.no_grad():
        ref, out = model(x), folded(x)
    assert ref.abs().max() > 1  # a network whose batch norms matter
    assert torch.allclose(out, ref, rtol=1e-5, atol=1e-5)
    after = model.state_dict()  # the official network is untouched
    assert after.keys() == before.keys() and all(torch.equal(after[k], before[k]) for k in before)
    assert not any(p.requires_grad for p in folded.parameters())


def test_torchvision_resnet50_folds_every_pair():
    from torchvision.models import resnet50

    model = _randomise_batchnorm(resnet50(weights=None, num_classes=1), seed=1)
    folded, n = fold_batchnorm(model)
    assert n == 53 == _count(model, nn.BatchNorm2d)  # stem + 16 blocks x 3 + 4 downsamples
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(folded(x), model(x), rtol=1e-4, atol=1e-4)


class _ConvBN(nn.Module):
    conv_bn_pairs = (("conv1", "bn1"),)

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(4)

    def forward(self, x):
        return self.bn1(self.conv1(x))


class _InheritsForward(_ConvBN):
    pass


class _OverridesForward(_ConvBN):
    def forward(self, x):  # bn1 sees more than conv1's output: folding would be wrong
        return self.bn1(self.conv1(x) + 1.0)


def test_declared_pairs_hold_only_for_the_forward_that_declares_them():
    assert len(conv_bn_pairs(_ConvBN())) == 1
    assert len(conv_bn_pairs(_InheritsForward())) == 1
    model = _randomise_batchnorm(_OverridesForward())
    folded, n = fold_batchnorm(model)
    assert n == 0 and _count(folded, nn.BatchNorm2d) == 1
    x = torch.randn(1, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(folded(x), model(x))


def test_only_adjacent_conv_bn_in_sequential_with_running_stats():
    seq = nn.Sequential(nn.Conv2d(3, 4, 1), nn.ReLU(), nn.BatchNorm2d(4),  # not adjacent: kept
                        nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4, track_running_stats=False),  # batch statistics: kept
                        nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4))  # folded
    model = _randomise_batchnorm(seq)
    folded, n = fold_batchnorm(model)
    assert n == 1 and _count(folded, nn.BatchNorm2d) == 2
    x = torch.randn(2, 3, 5, 5)
    with torch.no_grad():
        assert torch.allclose(folded(x), model(x), rtol=1e-5, atol=1e-5)


def test_training_mode_is_refused():
    with pytest.raises(ValueError, match="eval mode"):
        fold_batchnorm(nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4)).train())


def test_detector_scores_with_a_fresh_folded_copy_and_keeps_the_official_modules():
    from fakebench.detectors.identity import WeightsInfo
    from fakebench.detectors.npr import NPR, NPRNet

    torch.manual_seed(0)
    net = _randomise_batchnorm(NPRNet())
    det = NPR(net, weights=WeightsInfo(tag="random-init"))
    assert det.fold_batchnorm
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        ref = det.model(x.contiguous(memory_format=det.memory_format)).reshape(-1)
    out = det.predict(x)
    assert torch.allclose(out.logit, ref, rtol=1e-5, atol=1e-5)
    folded = det.inference_model()
    assert folded is not det.model and det.inference_model() is folded  # built once, reused
    assert _count(det.model, nn.BatchNorm2d) == 24  # Grad-CAM, state dicts and fine-tuning see the official network
    with torch.no_grad():  # an in-place change (an optimiser step, load_state_dict) rebuilds the copy
        det.model.fc1.bias.add_(3.0)
    assert det.inference_model() is not folded
    assert torch.allclose(det.predict(x).logit, out.logit + 3.0, rtol=1e-5, atol=1e-5)
    rebuilt = det.inference_model()
    det.model.fc1.bias.data = det.model.fc1.bias.data - 3.0  # new storage, no version bump: rebuilt as well
    assert det.inference_model() is not rebuilt
    assert torch.allclose(det.predict(x).logit, out.logit, rtol=1e-5, atol=1e-5)
    det.model.train()  # training mode: the network itself (batch statistics), never a folded copy
    assert det.inference_model() is det.model
    det.model.eval()


def test_folding_can_be_off():
    from fakebench.detectors.identity import WeightsInfo
    from fakebench.detectors.npr import NPR, NPRNet

    class Unfolded(NPR):
        fold_batchnorm = False

    det = Unfolded(NPRNet(), weights=WeightsInfo(tag="random-init"))
    assert det.inference_model() is det.model


@pytest.mark.parametrize("num_classes", [1, 1000])
def test_own_resnet50_stages_equal_torchvision_under_the_same_seed(num_classes):
    """fakebench.detectors.resnet builds NPR's and SAFE's stages without torchvision: same module names, the same
    random numbers drawn in the same order (bit-identical parameters), the same outputs."""
    from torchvision.models.resnet import Bottleneck, ResNet

    from fakebench.detectors.resnet import ResNet50Stages

    torch.manual_seed(7)
    theirs = ResNet(Bottleneck, [3, 4, 6, 3], num_classes=num_classes)
    after_theirs = torch.rand(1)
    torch.manual_seed(7)
    ours = ResNet50Stages(num_classes)
    after_ours = torch.rand(1)
    a, b = theirs.state_dict(), ours.state_dict()
    assert list(a) == list(b)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert torch.equal(after_theirs, after_ours)  # both left the random-number stream at the same place
    _randomise_batchnorm(theirs, seed=3)
    ours.load_state_dict(theirs.state_dict())
    ours.eval()
    x = torch.randn(2, 64, 20, 20)
    with torch.no_grad():
        assert torch.equal(ours.layer2(ours.layer1(x)), theirs.layer2(theirs.layer1(x)))


def test_npr_module_does_not_import_torchvision():
    import subprocess
    import sys

    code = "import sys, fakebench.detectors.npr; print('torchvision' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


@pytest.mark.parametrize("name,size", [("npr", 64), ("cnnspot", 64), ("corvi2023", 32), ("ladeda", 64)])
def test_every_folding_detector_folds_all_its_batch_norms_and_keeps_its_outputs(name, size):
    """For each detector that scores with folded batch norms: every batch norm of its network is covered by a known
    conv -> batch-norm pair, and scores equal the official network's up to float rounding."""
    from fakebench.detectors import get_detector_class

    cls = get_detector_class(name)
    assert cls.fold_batchnorm
    torch.manual_seed(0)
    det = cls.untrained()
    _randomise_batchnorm(det.model, seed=5)
    assert len(conv_bn_pairs(det.model)) == _count(det.model, nn.BatchNorm2d) > 0
    assert _count(det.inference_model(), nn.BatchNorm2d) == 0
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        ref = det.model(x.contiguous(memory_format=det.memory_format)).reshape(-1)
    assert torch.allclose(det.predict(x).logit, ref, rtol=1e-4, atol=1e-4)
