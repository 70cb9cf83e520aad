"""Training and validation image pipelines of the official recipes, driven by an explicit random generator.

The official scripts draw every random choice from Python's global ``random`` module and torch's global generator,
inside DataLoader workers, so a run cannot be repeated. Here each image gets its own ``random.Random`` seeded from
``(seed, epoch, index)`` (see :func:`sample_rng`), so a run is repeatable on CPU, does not depend on the number of
worker processes, and a resumed run draws exactly what the uninterrupted run would have drawn.

Order of operations (CNNDetection / UnivFD ``data/datasets.py``; NPR skips step 2):

1. resize: shorter side to ``recipe.resize`` (CNNDetection ``TF.resize(img, loadSize)``) or a square
   ``(resize, resize)`` (NPR ``transforms.Resize((loadSize, loadSize))``), PIL bilinear;
2. ``data_augment``: with probability ``blur_prob`` a per-channel Gaussian blur (``scipy.ndimage.gaussian_filter``,
   sigma uniform in ``blur_sig``), then with probability ``jpg_prob`` a JPEG re-encode (method drawn from
   ``jpg_method``, integer quality uniform in ``jpg_qual`` inclusive). Validation uses the same probabilities with the
   fixed mid-range sigma and quality and the PIL encoder (``train.py`` ``get_val_opt``);
3. ``RandomCrop(crop)`` for training, ``CenterCrop(crop)`` for validation;
4. random horizontal flip (training only, probability 0.5);
5. ``ToTensor`` (uint8 HWC -> float32 CHW in [0, 1]) and ``Normalize(mean, std)``.

JPEG: the recipes draw ``cv2`` or ``pil`` per image. OpenCV's encoder (``cv2.imencode`` on the BGR array) is used when
OpenCV is installed; otherwise every JPEG is encoded with PIL, and :func:`jpeg_methods` returns a note saying so, which
the trainer prints and records in the checkpoint.
"""

from __future__ import annotations

import io
import random
import numpy as np
import torch
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as TF

from fakebench.train.recipes import Recipe

__all__ = ["has_opencv", "jpeg_methods", "gaussian_blur", "jpeg_reencode", "sample_rng", "RecipeTransform"]


def has_opencv() -> bool:
    """True when ``cv2`` (OpenCV) can be imported."""
    try:
        import cv2  # noqa: F401
    except ImportError:
        return False
    return True


def jpeg_methods(requested: tuple[str, ...] | list[str]) -> tuple[tuple[str, ...], str]:
    """The JPEG encoders actually available for a recipe's ``jpg_method``.

    Args:
        requested: encoder names from the recipe (``cv2``, ``pil``).

    Returns:
        ``(methods, note)``: the encoders to draw from, and a note ('' when nothing changed). Without OpenCV,
        ``cv2`` is replaced by ``pil`` (the only other encoder of the official code).

    Raises:
        ValueError: an encoder name other than ``cv2``/``pil``.
    """
    bad = [m for m in requested if m not in ("cv2", "pil")]
    if bad:
        raise ValueError(f"Unknown JPEG method(s) {bad}; expected 'cv2' and/or 'pil'.")
    if "cv2" in requested and not has_opencv():
        methods = tuple(dict.fromkeys("pil" for _ in requested))
        return methods, ("OpenCV (cv2) is not installed, so every JPEG augmentation uses PIL's encoder instead of "
                         f"drawing from {list(requested)}; install opencv-python-headless for the exact recipe.")
    return tuple(requested), ""


def gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Blur each channel of a uint8 ``(H, W, 3)`` array with ``scipy.ndimage.gaussian_filter`` (in place, uint8 output,
    as the official ``gaussian_blur``). Returns the same array."""
    from scipy.ndimage import gaussian_filter

    for c in range(img.shape[2]):
        gaussian_filter(img[:, :, c], output=img[:, :, c], sigma=sigma)
    return img


def jpeg_reencode(img: np.ndarray, quality: int, method: str) -> np.ndarray:
    """JPEG-encode and decode a uint8 RGB ``(H, W, 3)`` array in memory.

    Args:
        img: the image.
        quality: JPEG quality 1-100.
        method: ``pil`` (``Image.save(format='jpeg', quality=q)``) or ``cv2`` (``cv2.imencode`` of the BGR array with
            ``IMWRITE_JPEG_QUALITY``; needs OpenCV).

    Returns:
        A new uint8 ``(H, W, 3)`` RGB array.
    """
    if method == "cv2":
        import cv2

        ok, encoded = cv2.imencode(".jpg", np.ascontiguousarray(img[:, :, ::-1]), [int(cv2.IMWRITE_JPEG_QUALITY), quality])
        if not ok:  # pragma: no cover - OpenCV only fails on invalid input
            raise ValueError("cv2.imencode failed")
        return np.ascontiguousarray(cv2.imdecode(encoded, cv2.IMREAD_COLOR)[:, :, ::-1])
    buffer = io.BytesIO()
    Image.fromarray(img).save(buffer, format="jpeg", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.array(decoded.convert("RGB"))


def sample_rng(seed: int, epoch: int | str, index: int) -> random.Random:
    """The generator of one image's random choices: seeded from the string ``"seed/epoch/index"`` (Python seeds
    ``random.Random`` from a string through SHA-512, so it does not depend on ``PYTHONHASHSEED``)."""
    return random.Random(f"{seed}/{epoch}/{index}")


class RecipeTransform:
    """PIL RGB image -> normalised ``(3, crop, crop)`` float32 tensor, following a recipe (see the module docstring).

    Args:
        recipe: the training recipe.
        train: training pipeline (random crop, flip, random blur/JPEG) or validation pipeline (center crop, fixed
            blur sigma and JPEG quality with PIL, same probabilities).
        methods: JPEG encoders to draw from during training (from :func:`jpeg_methods`).

    Raises:
        ValueError: ``crop`` larger than the resized image would be (checked per image).
    """

    def __init__(self, recipe: Recipe, *, train: bool, methods: tuple[str, ...] = ("pil",)) -> None:
        self.recipe = recipe
        self.train = train
        self.methods = tuple(methods)

    def _resize(self, img: Image.Image) -> Image.Image:
        r = self.recipe
        size = [r.resize, r.resize] if r.resize_mode == "square" else r.resize
        return TF.resize(img, size, interpolation=InterpolationMode.BILINEAR)

    def _augment(self, img: Image.Image, rng: random.Random) -> Image.Image:
        r = self.recipe
        if r.blur_prob <= 0 and r.jpg_prob <= 0:
            return img
        arr = np.array(img)
        if rng.random() < r.blur_prob:
            sigma = r.val_blur_sig if not self.train else r.blur_sig[0] + rng.random() * (r.blur_sig[1] - r.blur_sig[0])
            gaussian_blur(arr, sigma)
        if rng.random() < r.jpg_prob:
            if self.train:
                method = rng.choice(self.methods)
                quality = rng.randint(r.jpg_qual[0], r.jpg_qual[1])
            else:
                method, quality = "pil", r.val_jpg_qual
            arr = jpeg_reencode(arr, quality, method)
        return Image.fromarray(arr)

    def _crop(self, img: Image.Image, rng: random.Random) -> Image.Image:
        size = self.recipe.crop
        if img.width < size or img.height < size:
            raise ValueError(f"A {img.width}x{img.height} image is smaller than the {size}px crop; raise the recipe's "
                             f"resize (now {self.recipe.resize}) or lower its crop.")
        if not self.train:
            return TF.center_crop(img, [size, size])
        top = rng.randint(0, img.height - size)
        left = rng.randint(0, img.width - size)
        return TF.crop(img, top, left, size, size)

    def __call__(self, img: Image.Image, rng: random.Random) -> torch.Tensor:
        img = self._crop(self._augment(self._resize(img), rng), rng)
        if self.train and self.recipe.flip and rng.random() < 0.5:
            img = TF.hflip(img)
        tensor = TF.to_tensor(img)
        return TF.normalize(tensor, mean=list(self.recipe.mean), std=list(self.recipe.std))
