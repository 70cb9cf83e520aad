"""Build the Effort parity fixture by running the OFFICIAL Effort code (YZY-stack/Effort-AIGI-Detection @ 96f5dea,
``DeepfakeBench/training``).

Usage (its imports need a few side packages; install them into a side folder)::

    git clone https://github.com/YZY-stack/Effort-AIGI-Detection /tmp/effort && git -C /tmp/effort checkout 96f5dea
    pip install --target /tmp/effort_deps --no-deps loralib efficientnet_pytorch albumentations==1.3.0 qudida \
        scikit-image lazy_loader imageio tifffile networkx
    PYTHONPATH=/tmp/effort_deps python tools/parity/effort.py --official /tmp/effort/DeepfakeBench/training \
        --data ../shared/data --out tests/fixtures/parity/effort

What runs from the official repository, unmodified:

* ``detectors/effort_detector.py`` ``EffortDetector(config)`` (``effort.yaml``): transformers ``CLIPModel``'s
  ``vision_model`` with every ``nn.Linear`` of every ``self_attn`` replaced by ``SVDResidualLinear``
  (``apply_svd_residual_to_self_attn``: SVD of the weight, the top ``r`` components kept frozen as ``weight_main``, the
  rest as trainable ``U_residual``/``S_residual``/``V_residual``), ``pooler_output`` -> ``head`` (2 classes);
  ``forward(...)['prob'] = softmax(cls)[:, 1]``;
* ``demo.py`` ``load_detector`` (``ckpt.get('state_dict', ckpt)``, ``module.`` removed, ``load_state_dict``) and
  ``preprocess_face`` (cv2 RGB image, ``cv2.resize((224, 224), INTER_LINEAR)``, ToTensor, CLIP Normalize), as its
  ``main`` runs them without a landmark model (``cv2.imread`` then ``infer_single_image``);
* ``dataset/abstract_dataset.py`` ``DeepfakeAbstractBaseDataset.load_rgb`` (``cv2.imread``, BGR -> RGB,
  ``cv2.resize((224, 224), INTER_CUBIC)``) then its ``to_tensor`` and ``normalize`` (the config's CLIP mean/std), the
  test-time path of ``test.py``.

Shims, applied from outside: the OpenAI CLIP ViT-L/14 weights cannot be downloaded, so ``CLIPModel.from_pretrained``
(as seen by ``effort_detector``) returns a TINY seeded transformers ``CLIPModel`` (vision: 2 layers, width 64, 1 head of 64 as in every OpenAI CLIP ViT,
MLP 256, patch 14, 224 px); ``apply_svd_residual_to_self_attn`` is called with ``r = width - 1`` (the official
``1024 - 1`` for ViT-L/14: a rank-1 residual); and the detector's ``head`` (hard-coded ``nn.Linear(1024, 2)``) is
replaced by ``nn.Linear(64, 2)`` after construction. Residuals, biases and norms then get seeded non-default values
(as training would move them), and the head is scaled so the logits spread. ``dlib``, ``imutils``, ``lmdb`` and
``torch.utils.tensorboard``, imported by the official modules but not used on this path, are stubbed.

Outputs in ``--out``: ``effort_tiny.pth`` (``{'module.' + key: tensor}`` of the detector's state dict, the layout of
the released GenImage checkpoint: DataParallel keys ``module.backbone.*`` / ``module.head.*``), ``expected.csv``
(preset, image, width, height, logit0, logit1, logit = logit1 - logit0, prob = softmax[:, 1]) and ``README.md``.
"""

from __future__ import annotations

import argparse
import sys
import types
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from foundation_images import IMAGES, write_expected  # noqa: E402

WIDTH = 64


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", type=Path, required=True, help="Effort @ 96f5dea, DeepfakeBench/training")
    parser.add_argument("--data", type=Path, required=True, help="../shared/data")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    sys.path.insert(0, str(args.official))
    tensorboard = types.ModuleType("torch.utils.tensorboard")
    tensorboard.SummaryWriter = object
    sys.modules["torch.utils.tensorboard"] = tensorboard
    for name in ("dlib", "imutils", "lmdb"):
        sys.modules[name] = types.ModuleType(name)
    sys.modules["imutils"].face_utils = None

    import cv2
    import transformers
    import yaml
    from transformers import CLIPConfig, CLIPModel

    import demo
    from dataset.abstract_dataset import DeepfakeAbstractBaseDataset
    from detectors import effort_detector as official

    def tiny_clip(path):
        torch.manual_seed(40)
        config = CLIPConfig(
            vision_config={"hidden_size": WIDTH, "intermediate_size": 256, "num_hidden_layers": 2,
                           "num_attention_heads": 1, "patch_size": 14, "image_size": 224},
            text_config={"vocab_size": 100, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
                         "num_attention_heads": 1, "max_position_embeddings": 77},
            projection_dim=32)
        return CLIPModel(config).eval()

    real_svd = official.apply_svd_residual_to_self_attn
    official.CLIPModel = types.SimpleNamespace(from_pretrained=tiny_clip)
    official.apply_svd_residual_to_self_attn = lambda model, r: real_svd(model, r=WIDTH - 1)

    cfg_path = args.official / "config" / "detector" / "effort.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    model = official.EffortDetector(cfg)
    torch.manual_seed(41)
    model.head = torch.nn.Linear(WIDTH, 2)
    gen = torch.Generator().manual_seed(42)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            noise = torch.randn(tensor.shape, generator=gen)
            if name.endswith(("S_residual",)):
                tensor.copy_(tensor.abs() + 2.0 + noise.abs())
            elif name.endswith(("U_residual", "V_residual")):
                tensor.add_(0.3 * noise)
            elif "norm" in name:
                tensor.copy_((1 + 0.2 * noise) if name.endswith("weight") else 0.1 * noise)
            elif name.endswith("bias"):
                tensor.copy_(0.05 * noise)
    model.eval()

    presets = {}

    def linear_input(path):  # demo.py main: cv2.imread -> infer_single_image -> preprocess_face
        return demo.preprocess_face(cv2.imread(str(path)))

    stub = types.SimpleNamespace(config=cfg, lmdb=False)

    def cubic_input(path):  # test.py's dataset: load_rgb -> to_tensor -> normalize
        img = DeepfakeAbstractBaseDataset.load_rgb(stub, str(path))
        return DeepfakeAbstractBaseDataset.normalize(stub, DeepfakeAbstractBaseDataset.to_tensor(stub, img)).unsqueeze(0)

    presets["cv2_cubic224"], presets["cv2_linear224"] = cubic_input, linear_input

    def run(m, x):
        return m({"image": x, "label": torch.tensor([0])}, inference=True)

    inputs = {p: [(rel, fn(args.data / rel)) for rel in IMAGES] for p, fn in presets.items()}
    with torch.no_grad():
        cls = torch.cat([run(model, x)["cls"] for _, x in inputs["cv2_cubic224"]])
        diff = cls[:, 1] - cls[:, 0]
        scale = 1.5 / diff.std().item()
        model.head.weight.mul_(scale)
        model.head.bias.mul_(scale)
        shift = (diff * scale).mean().item() / 2
        model.head.bias[1] -= shift
        model.head.bias[0] += shift
    args.out.mkdir(parents=True, exist_ok=True)
    ckpt = args.out / "effort_tiny.pth"
    torch.save({"module." + k: v for k, v in model.state_dict().items()}, ckpt)

    # reload as demo.load_detector does (by hand: its EffortDetector would get the hard-coded 1024-wide head)
    reloaded = official.EffortDetector(cfg)
    reloaded.head = torch.nn.Linear(WIDTH, 2)
    state = torch.load(ckpt, map_location="cpu")
    state = {k.replace("module.", ""): v for k, v in state.get("state_dict", state).items()}  # as demo.load_detector
    missing, unexpected = reloaded.load_state_dict(state, strict=False)
    assert not missing and not unexpected, (missing, unexpected)
    reloaded.eval()
    rows = []
    with torch.no_grad():
        for preset, items in inputs.items():
            for rel, x in items:
                out = run(reloaded, x)
                lg = out["cls"][0]
                width, height = cv2.imread(str(args.data / rel)).shape[1::-1]
                rows.append({"preset": preset, "image": rel, "width": width, "height": height,
                             "logit0": f"{lg[0].item():.8f}", "logit1": f"{lg[1].item():.8f}",
                             "logit": f"{(lg[1] - lg[0]).item():.8f}", "prob": f"{out['prob'][0].item():.8f}"})
    write_expected(args.out / "expected.csv", rows)
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, cv2 {cv2.__version__}; head scaled by "
          f"{scale:.4f}; wrote {len(rows)} rows")


if __name__ == "__main__":
    main()
