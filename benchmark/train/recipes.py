"""Named training recipes: the optimiser, schedule, batch size and augmentation of each official training script.

A :class:`Recipe` is plain data (no torch import), recorded in full in every checkpoint it produces. The values are
read from the official repositories (re-implemented here, not copied):

* ``npr`` -- ``chuangchuangtan/NPR-DeepfakeDetection``: README "Training the model" (``--batch_size 32 --delr_freq 10
  --lr 0.0002 --niter 50``), ``train.py`` (decay at the end of every epoch ``e`` with ``e % delr_freq == 0 and e != 0``;
  validation every epoch; the last model is saved), ``networks/trainer.py`` (Adam, betas (0.9, 0.999),
  ``BCEWithLogitsLoss``, ``lr *= 0.9`` per decay; an earlier revision of the same file used 0.8), ``data/datasets.py``
  (train: square ``Resize((256, 256))``, ``RandomCrop(224)``, ``RandomHorizontalFlip``, ImageNet mean/std; the
  blur/JPEG ``data_augment`` call is commented out; validation: square resize then ``CenterCrop(224)``), and
  ``networks/resnet.py`` (trained from scratch: Kaiming-normal convolutions, BN weight 1 / bias 0).
* ``cnnspot_blur_jpg_prob0.5`` / ``cnnspot_blur_jpg_prob0.1`` -- ``PeterWang512/CNNDetection``: README section (4)
  (``--blur_prob P --blur_sig 0.0,3.0 --jpg_prob P --jpg_method cv2,pil --jpg_qual 30,100``; the final model is
  ``model_epoch_best.pth``), ``options/*.py`` (Adam lr 1e-4, beta1 0.9, batch 64, loadSize 256, cropSize 224,
  ``niter`` 10000, ``earlystop_epoch`` 5, ``init_gain`` 0.02), ``networks/trainer.py`` (ImageNet ResNet-50 with a new
  ``fc`` = Linear(2048, 1) whose weight is drawn from N(0, 0.02); ``lr /= 10`` per drop, stop below 1e-6),
  ``train.py`` + ``earlystop.py`` (early stopping on validation accuracy: patience 5, an improvement must beat the best
  by 0.001, then 0.002 after each drop; validation blur sigma = mid-range 1.5, JPEG quality 65 with PIL, same
  probabilities), ``data/datasets.py`` (train: ``Resize(256)`` of the shorter side, bilinear, then blur/JPEG, then
  ``RandomCrop(224)``, ``RandomHorizontalFlip``; validation: ``CenterCrop(224)``).
* ``univfd_probe`` -- ``Yuheng-Li/UniversalFakeDetect`` (= WisconsinAIVision), README "Training"
  (``--arch=CLIP:ViT-L/14 --fix_backbone``), ``options/*.py`` (AdamW, lr 1e-4, beta1 0.9, weight decay 0, batch 256,
  ``niter`` 100, blur_prob 0.5, blur_sig 0-3, jpg_prob 0.5, jpg_method cv2,pil, jpg_qual 30-100, loadSize 256,
  cropSize 224, ``earlystop_epoch`` 5), ``networks/trainer.py`` (only ``fc.weight``/``fc.bias`` train; fc weight from
  N(0, 0.02)), ``train.py`` (same early stopping as CNNDetection), ``data/datasets.py`` (the CNNDetection pipeline with
  CLIP mean/std).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from fakebench.core.errors import UnknownNameError
from fakebench.detectors.card import CLIP_MEAN, CLIP_STD, IMAGENET_MEAN, IMAGENET_STD

__all__ = ["Recipe", "RECIPES", "DEFAULT_RECIPE", "get_recipe", "IMAGENET_MEAN", "IMAGENET_STD", "CLIP_MEAN",
           "CLIP_STD"]


@dataclass(frozen=True)
class Recipe:
    """One official training recipe.

    Attributes:
        name: preset name (``npr``, ``cnnspot_blur_jpg_prob0.5``, ...); recorded in the checkpoint.
        detector: registry name of the detector it trains (``npr``, ``cnnspot``, ``univfd``).
        source: repository @ commit and files the values come from.
        optimizer: ``adam`` (``torch.optim.Adam``) or ``adamw`` (``torch.optim.AdamW``).
        lr: initial learning rate.
        betas: Adam betas.
        weight_decay: weight decay (0 in all three recipes).
        batch_size: images per optimisation step (global; split across processes under DDP).
        epochs: maximum number of epochs (``niter``).
        schedule: ``step`` (multiply the lr by ``lr_factor`` at the end of every epoch index ``e`` with
            ``e % step_every == 0 and e != 0``, 0-based, as NPR's ``train.py``) or ``plateau`` (CNNDetection's early
            stopping on validation accuracy: after ``patience`` epochs without an improvement of at least
            ``min_delta[0]`` (``min_delta[1]`` after the first drop), multiply the lr by ``lr_factor``; stop when
            it falls below ``min_lr``).
        lr_factor: multiplier per decay/drop.
        step_every: epochs between decays for ``step``.
        patience: epochs without improvement before a drop, for ``plateau``.
        min_delta: required improvement of validation accuracy (fraction) before and after the first drop.
        min_lr: ``plateau`` stops training once the lr falls below it.
        resize: training/validation resize target (pixels).
        resize_mode: ``square`` = ``Resize((s, s))`` (NPR), ``shorter`` = shorter side to ``s`` (CNNDetection).
        crop: random crop (training) / center crop (validation) size.
        flip: random horizontal flip with probability 0.5 during training.
        blur_prob: probability of a Gaussian blur (training), sigma uniform in ``blur_sig``.
        blur_sig: ``(low, high)`` sigma range in pixels.
        jpg_prob: probability of a JPEG re-encode (training), method drawn from ``jpg_method``, quality an integer
            drawn uniformly from ``jpg_qual`` (inclusive).
        jpg_method: JPEG encoders to draw from (``cv2``, ``pil``).
        jpg_qual: ``(low, high)`` inclusive quality range.
        val_blur_sig: the fixed sigma the official validation uses (mid-range), applied with ``blur_prob``.
        val_jpg_qual: the fixed quality the official validation uses (mid-range, PIL), applied with ``jpg_prob``.
        mean: normalisation mean (RGB, [0, 1] scale).
        std: normalisation std.
        init: ``scratch`` (NPR), ``imagenet`` (CNNSpot) or ``frozen-backbone`` (UnivFD); for CNNSpot the user must
            confirm it (``--init imagenet|scratch``).
        trainable: ``all`` parameters, or only the ``fc`` head (UnivFD's ``--fix_backbone``).
        fc_init_std: if set, the head weight is re-drawn from N(0, std) (``init_gain``); ``None`` keeps the default.
        final: which epoch's weights the recipe publishes: ``last`` (NPR saves the last epoch) or ``best``
            (CNNDetection/UnivFD use ``model_epoch_best.pth``, the best validation accuracy).
        notes: deviations and caveats.
    """

    name: str
    detector: str
    source: str
    optimizer: str = "adam"
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    batch_size: int = 64
    epochs: int = 100
    schedule: str = "plateau"
    lr_factor: float = 0.1
    step_every: int = 10
    patience: int = 5
    min_delta: tuple[float, float] = (0.001, 0.002)
    min_lr: float = 1e-6
    resize: int = 256
    resize_mode: str = "shorter"
    crop: int = 224
    flip: bool = True
    blur_prob: float = 0.0
    blur_sig: tuple[float, float] = (0.0, 3.0)
    jpg_prob: float = 0.0
    jpg_method: tuple[str, ...] = ("cv2", "pil")
    jpg_qual: tuple[int, int] = (30, 100)
    val_blur_sig: float = 1.5
    val_jpg_qual: int = 65
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    init: str = "scratch"
    trainable: str = "all"
    fc_init_std: float | None = None
    final: str = "last"
    notes: str = ""

    def __post_init__(self) -> None:
        if self.optimizer not in ("adam", "adamw"):
            raise ValueError(f"Recipe {self.name!r}: optimizer must be 'adam' or 'adamw', got {self.optimizer!r}.")
        if self.schedule not in ("step", "plateau"):
            raise ValueError(f"Recipe {self.name!r}: schedule must be 'step' or 'plateau', got {self.schedule!r}.")
        if self.resize_mode not in ("square", "shorter"):
            raise ValueError(f"Recipe {self.name!r}: resize_mode must be 'square' or 'shorter'.")
        if self.final not in ("last", "best"):
            raise ValueError(f"Recipe {self.name!r}: final must be 'last' or 'best'.")
        if self.batch_size < 1 or self.epochs < 1 or self.lr <= 0:
            raise ValueError(f"Recipe {self.name!r}: batch_size, epochs and lr must be positive.")
        if not 0 < self.crop <= self.resize:
            raise ValueError(f"Recipe {self.name!r}: crop ({self.crop}) must be positive and at most resize "
                             f"({self.resize}).")

    @property
    def uses_validation(self) -> bool:
        """True when the schedule or the published model depends on validation accuracy."""
        return self.schedule == "plateau" or self.final == "best"

    def with_overrides(self, **overrides: Any) -> "Recipe":
        """A copy with some fields replaced (``None`` values are ignored).

        Raises:
            ValueError: an unknown field, or a value the recipe rejects.
        """
        changes = {k: v for k, v in overrides.items() if v is not None}
        unknown = set(changes) - set(self.__dataclass_fields__)
        if unknown:
            raise ValueError(f"Unknown recipe field(s): {', '.join(sorted(unknown))}; valid fields: "
                             f"{', '.join(self.__dataclass_fields__)}.")
        if {"name", "detector", "source"} & set(changes):
            raise ValueError("A recipe's name, detector and source cannot be overridden; pick another --recipe.")
        for key, value in changes.items():
            current = getattr(self, key)
            if isinstance(current, tuple):  # jpg_method=pil -> ("pil",); blur_sig=[0, 2] -> (0, 2)
                value = tuple(value) if isinstance(value, (list, tuple)) else (value,)
                if key != "jpg_method" and len(value) != len(current):
                    raise ValueError(f"Recipe field {key!r} takes {len(current)} values, got {list(value)}.")
            elif isinstance(current, bool) or current is None or isinstance(current, str):
                pass
            elif isinstance(current, (int, float)) and not isinstance(value, (int, float)):
                raise ValueError(f"Recipe field {key!r} takes a number, got {value!r}.")
            changes[key] = value
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON- and ``torch.load(weights_only=True)``-safe dict of every field (tuples become lists)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}


_NPR_SRC = ("chuangchuangtan/NPR-DeepfakeDetection @ 73cde1c: README 'Training the model', train.py, "
            "networks/trainer.py, networks/resnet.py, data/datasets.py, options/*.py")
_CNN_SRC = ("PeterWang512/CNNDetection @ ea0b562: README section (4), train.py, earlystop.py, networks/trainer.py, "
            "data/datasets.py, options/base_options.py, options/train_options.py")
_UFD_SRC = ("Yuheng-Li/UniversalFakeDetect @ 1abc486: README 'Training', train.py, networks/trainer.py, "
            "data/datasets.py, options/base_options.py, options/train_options.py")


def _cnnspot(prob: float) -> Recipe:
    return Recipe(
        name=f"cnnspot_blur_jpg_prob{prob}", detector="cnnspot", source=_CNN_SRC, optimizer="adam", lr=1e-4,
        batch_size=64, epochs=10000, schedule="plateau", lr_factor=0.1, patience=5, min_delta=(0.001, 0.002),
        min_lr=1e-6, resize=256, resize_mode="shorter", crop=224, flip=True, blur_prob=prob, blur_sig=(0.0, 3.0),
        jpg_prob=prob, jpg_method=("cv2", "pil"), jpg_qual=(30, 100), val_blur_sig=1.5, val_jpg_qual=65,
        init="imagenet", trainable="all", fc_init_std=0.02, final="best",
        notes=f"Blur+JPEG({prob}). ProGAN 20 LSUN classes upstream; niter 10000 is a cap, early stopping ends the "
              "run. The official train.py saves the 'best' model whenever the early-stopping counter records a new "
              "best, including the first epoch after each lr drop (a fresh EarlyStopping); reproduced here.")


RECIPES: dict[str, Recipe] = {
    "npr": Recipe(
        name="npr", detector="npr", source=_NPR_SRC, optimizer="adam", lr=2e-4, batch_size=32, epochs=50,
        schedule="step", lr_factor=0.9, step_every=10, resize=256, resize_mode="square", crop=224, flip=True,
        blur_prob=0.0, jpg_prob=0.0, init="scratch", trainable="all", fc_init_std=None, final="last",
        notes="ProGAN 4 classes (car, cat, chair, horse) upstream. lr x0.9 per decay as in networks/trainer.py at "
              "the snapshot (an earlier revision used x0.8). No blur/JPEG augmentation (commented out upstream)."),
    "cnnspot_blur_jpg_prob0.5": _cnnspot(0.5),
    "cnnspot_blur_jpg_prob0.1": _cnnspot(0.1),
    "univfd_probe": Recipe(
        name="univfd_probe", detector="univfd", source=_UFD_SRC, optimizer="adamw", lr=1e-4, weight_decay=0.0,
        batch_size=256, epochs=100, schedule="plateau", lr_factor=0.1, patience=5, min_delta=(0.001, 0.002),
        min_lr=1e-6, resize=256, resize_mode="shorter", crop=224, flip=True, blur_prob=0.5, blur_sig=(0.0, 3.0),
        jpg_prob=0.5, jpg_method=("cv2", "pil"), jpg_qual=(30, 100), val_blur_sig=1.5, val_jpg_qual=65,
        mean=CLIP_MEAN, std=CLIP_STD, init="frozen-backbone", trainable="fc", fc_init_std=0.02, final="best",
        notes="Linear probe (fc 768->1) on frozen OpenAI CLIP ViT-L/14 image embeddings (--fix_backbone). The "
              "official train.py also overwrites model_epoch_best.pth every epoch (save_epoch_freq 1) before "
              "validating; the best-validation rule of CNNDetection is used here instead."),
}

#: The recipe used when ``fakebench train DETECTOR`` is given no ``--recipe``.
DEFAULT_RECIPE = {"npr": "npr", "cnnspot": "cnnspot_blur_jpg_prob0.5", "univfd": "univfd_probe"}


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name``.

    Raises:
        UnknownNameError: no such recipe (with suggestions).
    """
    from fakebench.core.names import suggest

    try:
        return RECIPES[name]
    except KeyError:
        raise UnknownNameError(suggest(name, RECIPES, "training recipe")) from None
