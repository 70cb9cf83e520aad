"""Explanations of verdicts: a LLaVA-NeXT explainer (CS545 study) and Grad-CAM maps for the CNN/CLIP detectors.

The LLaVA tests run on a tiny, randomly initialised ``LlavaNextForConditionalGeneration`` built here offline (a CLIP
vision tower of width 32, a two-layer Llama of width 48 and a WordLevel tokenizer of a few words): the real
architecture and processor code path, not the real weights, so the generated words are gibberish and only the
plumbing (prompt, decoding, verdict parsing, adapters, files) is checked. The one test with the real
``llava-hf/llava-v1.6-vicuna-7b-hf`` weights is marked ``weights`` and skips when they are not in the hub cache.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from _tiny_instructblip import randomize_
from click.testing import CliRunner
from conftest import make_image
from fakebench.core.errors import (
    CheckpointError,
    DataError,
    FakebenchError,
    WeightsNotFoundError,
)
from PIL import Image

WORDS = ("USER", "ASSISTANT", ":", "Answer", "real", "fake", "the", "image", "is", "a", "photo", "because", "of",
         "texture", "lighting", ".", ",", "looks", "smooth", "noise", "edges", "hair", "eyes", "sky")


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Tiny models: one intra-op thread is faster than contended OpenMP threads on the 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# -- tiny LLaVA-NeXT -----------------------------------------------------------------------------------------------
def tiny_tokenizer():
    """A whitespace WordLevel tokenizer (``<unk> <s> </s> <pad>`` then :data:`WORDS`) with ``<image>`` added."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import AddedToken, PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(("<unk>", "<s>", "</s>", "<pad>") + WORDS)}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                  pad_token="<pad>")
    tok.add_tokens([AddedToken("<image>", special=True, normalized=False)], special_tokens=True)
    return tok


def build_tiny_llava(seed: int = 0):
    """``(model, processor)``: a seeded tiny LLaVA-NeXT (anyres grid of 32-pixel tiles, 8-pixel patches) in eval
    mode, fp32, with the ``eos`` row of the output layer lowered so answers run to ``max_new_tokens``."""
    from transformers import (
        CLIPVisionConfig,
        LlamaConfig,
        LlavaNextConfig,
        LlavaNextForConditionalGeneration,
        LlavaNextImageProcessor,
        LlavaNextProcessor,
    )

    tok = tiny_tokenizer()
    grid = [[32, 64], [64, 32], [64, 64]]
    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                              image_size=32, patch_size=8, projection_dim=32)
    text = LlamaConfig(vocab_size=len(tok), hidden_size=48, intermediate_size=96, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=512,
                       bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    config = LlavaNextConfig(vision_config=vision.to_dict(), text_config=text.to_dict(),
                             image_token_index=tok.convert_tokens_to_ids("<image>"), image_grid_pinpoints=grid,
                             vision_feature_layer=-2, vision_feature_select_strategy="default")
    model = randomize_(LlavaNextForConditionalGeneration(config), seed).eval()
    with torch.no_grad():
        model.lm_head.weight[tok.eos_token_id] = 0.0  # eos logit 0: never the arg-max of a spread-out row
    processor = LlavaNextProcessor(
        image_processor=LlavaNextImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32},
                                                image_grid_pinpoints=grid),
        tokenizer=tok, patch_size=8, vision_feature_select_strategy="default", num_additional_image_tokens=1)
    return model, processor


@pytest.fixture(scope="module")
def tiny_llava():
    return build_tiny_llava(0)


@pytest.fixture(scope="module")
def tiny_llava_dir(tmp_path_factory, tiny_llava):
    """The tiny model and processor saved with ``save_pretrained`` (a local "hub" folder)."""
    folder = tmp_path_factory.mktemp("tiny-llava")
    model, processor = tiny_llava
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def _rgb(seed: int, size=(40, 56)) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8), "RGB")


@pytest.mark.parametrize("text, verdict, rationale", [
    ("The skin is too smooth. Answer: fake", "fake", "The skin is too smooth."),
    ("Natural noise and lighting.\n\nAnswer: Real.", "real", "Natural noise and lighting."),
    ("Edges look odd.\n**Answer:** FAKE", "fake", "Edges look odd."),
    ("Answer : real", "real", ""),
    ("First I thought Answer: real, but the eyes differ. Answer: 'fake'", "fake",
     "First I thought Answer: real, but the eyes differ."),
    ("I think this image is real.", "unknown", "I think this image is real."),
    ("Answer: maybe", "unknown", "Answer: maybe"),
    ("Answer: unreal", "unknown", "Answer: unreal"),
    ("", "unknown", ""),
])
def test_parse_verdict(text, verdict, rationale):
    from fakebench.explain.llava import parse_verdict

    assert parse_verdict(text) == (verdict, rationale)


def test_decoding_settings_validate_and_record():
    from fakebench.explain.llava import DecodingSettings

    greedy = DecodingSettings()
    assert greedy.mode == "greedy" and greedy.to_dict()["max_new_tokens"] == 200  # the CS545 settings
    assert greedy.generate_kwargs() == {"do_sample": False, "num_beams": 1, "max_new_tokens": 200}
    sampling = DecodingSettings(temperature=0.7, top_p=0.9, max_new_tokens=5, seed=3)
    assert sampling.mode == "sampling"
    assert sampling.generate_kwargs() == {"do_sample": True, "num_beams": 1, "max_new_tokens": 5,
                                          "temperature": 0.7, "top_k": 50, "top_p": 0.9}
    for bad in ({"temperature": -1.0}, {"max_new_tokens": 0}, {"top_p": 0.0}, {"top_p": 1.5}, {"num_beams": 0},
                {"top_k": 0}):
        with pytest.raises(FakebenchError):
            DecodingSettings(**bad)


def test_explain_tiny_greedy(tiny_llava):
    from fakebench import __version__
    from fakebench.explain.llava import (
        CS545_QUESTION,
        DecodingSettings,
        LlavaExplainer,
        explain_images,
        parse_verdict,
    )

    model, processor = tiny_llava
    explainer = LlavaExplainer(model, processor, model_id="tiny", decoding=DecodingSettings(max_new_tokens=6))
    images = [_rgb(1), _rgb(2, (48, 32))]
    out = explain_images(explainer, images)
    assert len(out) == 2
    prompt = explainer.prompt()
    assert prompt.startswith("A chat between") and "USER: <image>\n" + CS545_QUESTION + " ASSISTANT:" in prompt
    for img, exp in zip(images, out):
        # the text is what the model generates greedily for the processor's inputs
        inputs = processor(images=img, text=prompt, return_tensors="pt")
        ids = model.generate(**inputs, do_sample=False, max_new_tokens=6)[0, inputs["input_ids"].shape[1]:]
        assert exp.text == processor.tokenizer.decode(ids, skip_special_tokens=True).strip()
        assert len(exp.text.split()) == 6
        assert (exp.verdict, exp.rationale) == parse_verdict(exp.text)
        rec = exp.to_dict()
        assert rec["prompt"] == prompt and rec["question"] == CS545_QUESTION and rec["model"] == "tiny"
        assert rec["decoding"] == {"mode": "greedy", "max_new_tokens": 6, "temperature": 0.0, "top_p": None,
                                   "top_k": 50, "num_beams": 1, "seed": 0}
        assert rec["adapter"] is None and rec["adapter_sha256"] is None and rec["fakebench_version"] == __version__
    assert out[0].text != out[1].text  # the image reaches the answer
    assert [e.text for e in explain_images(explainer, images)] == [e.text for e in out]  # greedy is deterministic


def test_explain_sampling_is_seeded(tiny_llava):
    from fakebench.explain.llava import DecodingSettings, LlavaExplainer

    model, processor = tiny_llava
    img = _rgb(5)

    def text(seed: int) -> str:
        settings = DecodingSettings(temperature=1.5, max_new_tokens=8, seed=seed)
        return LlavaExplainer(model, processor, model_id="tiny", decoding=settings).explain(img).text

    assert text(0) == text(0)
    assert len({text(s) for s in range(4)}) > 1


def test_explain_paths_and_unreadable(tmp_path, tiny_llava):
    from fakebench.explain.llava import DecodingSettings, LlavaExplainer, explain_images

    model, processor = tiny_llava
    good = make_image(tmp_path / "a.png", "real", size=40)
    bad = tmp_path / "b.png"
    bad.write_bytes(b"not an image")
    explainer = LlavaExplainer(model, processor, model_id="tiny", decoding=DecodingSettings(max_new_tokens=2))
    (exp,) = explain_images(explainer, [good])
    assert exp.image == str(good)
    with pytest.raises(DataError, match="b.png"):
        explain_images(explainer, [bad])


def _lora_adapter(model, folder: Path, seed: int = 0) -> Path:
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    import copy

    peft_model = get_peft_model(copy.deepcopy(model), config)
    peft_model.save_pretrained(folder)
    return folder


def test_lora_adapter_loads_and_is_recorded(tmp_path, tiny_llava, tiny_llava_dir):
    pytest.importorskip("peft")
    from fakebench.core.files import sha256_file
    from fakebench.explain.llava import DecodingSettings, LlavaExplainer

    model, processor = tiny_llava
    adapter = _lora_adapter(model, tmp_path / "adapter")
    settings = DecodingSettings(max_new_tokens=3)
    base = LlavaExplainer.load(tiny_llava_dir, decoding=settings, device="cpu")
    tuned = LlavaExplainer.load(tiny_llava_dir, adapter=adapter, decoding=settings, device="cpu")
    exp = tuned.explain(_rgb(1))
    assert exp.adapter == str(adapter)
    assert exp.adapter_sha256 == sha256_file(adapter / "adapter_model.safetensors")
    assert exp.model == str(tiny_llava_dir)
    inputs = processor(images=_rgb(1), text=base.prompt(), return_tensors="pt")
    with torch.no_grad():
        delta = (tuned.model(**inputs).logits - base.model(**inputs).logits).abs().max().item()
    assert delta > 1e-4  # the adapter's non-zero B matrices change the logits


@pytest.mark.filterwarnings("ignore:Found missing adapter keys")  # peft only warns; our check must refuse
def test_lora_adapter_with_foreign_names_is_refused(tmp_path, tiny_llava, tiny_llava_dir):
    pytest.importorskip("peft")
    from fakebench.explain.llava import LlavaExplainer
    from safetensors.torch import load_file, save_file

    model, _ = tiny_llava
    adapter = _lora_adapter(model, tmp_path / "adapter")
    state = load_file(adapter / "adapter_model.safetensors")
    # the module names of the original LLaVA code base (model.layers.N...), as a haotian-liu/LLaVA LoRA has them
    save_file({k.replace("model.language_model.", "model."): v for k, v in state.items()},
              adapter / "adapter_model.safetensors")
    with pytest.raises(CheckpointError, match="adapter"):
        LlavaExplainer.load(tiny_llava_dir, adapter=adapter, device="cpu")
    with pytest.raises(CheckpointError, match="adapter"):
        LlavaExplainer.load(tiny_llava_dir, adapter=tmp_path / "missing", device="cpu")


def test_load_unavailable_model_says_how_to_get_it(monkeypatch, tmp_path):
    from fakebench.explain.llava import LlavaExplainer

    monkeypatch.setenv("FAKEBENCH_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsNotFoundError, match="hf download fakebench-test/no-such-llava"):
        LlavaExplainer.load("fakebench-test/no-such-llava", device="cpu")
    with pytest.raises(WeightsNotFoundError, match="empty-folder"):
        LlavaExplainer.load((tmp_path / "empty-folder"), device="cpu")


@pytest.mark.weights
def test_real_llava_weights_explain_a_photo(shared):
    """The real llava-hf/llava-v1.6-vicuna-7b-hf (about 14 GB, fp32 on CPU: slow) from the Hugging Face cache."""
    from fakebench.explain.llava import DEFAULT_MODEL, DecodingSettings, LlavaExplainer
    from huggingface_hub import try_to_load_from_cache

    if not isinstance(try_to_load_from_cache(DEFAULT_MODEL, "config.json"), str):
        pytest.skip(f"{DEFAULT_MODEL} is not in the Hugging Face cache (hf download {DEFAULT_MODEL})")
    explainer = LlavaExplainer.load(DEFAULT_MODEL, decoding=DecodingSettings(max_new_tokens=60))
    image = Image.open(shared / "parity" / "images" / "cbsd68_0_real_0.png").convert("RGB")
    exp = explainer.explain(image)
    assert len(exp.text.split()) > 5 and exp.verdict in ("real", "fake", "unknown")


# -- Grad-CAM ------------------------------------------------------------------------------------------------------
def _check_map(heat: np.ndarray, shape: tuple[int, int]) -> None:
    assert heat.shape == shape and heat.dtype == np.float32
    assert np.isfinite(heat).all() and heat.min() >= 0.0 and heat.max() <= 1.0
    assert heat.max() - heat.min() > 0.1  # not constant


@pytest.mark.parametrize("name", ["npr", "cnnspot"])
def test_gradcam_untrained_cnn(tmp_path, name):
    pytest.importorskip("pytorch_grad_cam")
    from fakebench.detectors import get_detector_class
    from fakebench.explain.gradcam import gradcam

    torch.manual_seed(0)
    det = get_detector_class(name).untrained(preset="native")
    img = Image.open(make_image(tmp_path / "f.png", "fake", size=96)).convert("RGB")
    heat = gradcam(det, img)
    _check_map(heat, (96, 96))
    assert not np.allclose(heat, gradcam(det, img, target="real"))


def _tiny_univfd():
    from fakebench.detectors.base import WeightsInfo
    from fakebench.detectors.univfd import UnivFD, UnivFDNet
    from open_clip.transformer import VisionTransformer

    torch.manual_seed(0)
    visual = VisionTransformer(image_size=224, patch_size=32, width=32, layers=2, heads=2, mlp_ratio=2.0,
                               output_dim=768).eval()
    visual.requires_grad_(False)  # frozen, as UnivFD.load leaves it
    return UnivFD(UnivFDNet(visual, torch.nn.Linear(768, 1)), weights=WeightsInfo(tag="random-init"))


def test_gradcam_univfd_vit_tokens(tmp_path):
    pytest.importorskip("pytorch_grad_cam")
    from fakebench.explain.gradcam import gradcam

    det = _tiny_univfd()
    img = Image.open(make_image(tmp_path / "f.png", "fake", size=160)).convert("RGB")  # zero-padded to 224
    _check_map(gradcam(det, img), (224, 224))


class _PatternNet(torch.nn.Module):
    """Toy detector: a fixed 2x2 checkerboard filter (high response where the image alternates pixel by pixel), ReLU,
    global average pool, positive weight. Its logit rises with the amount of checkerboard anywhere in the image."""

    def __init__(self) -> None:
        super().__init__()
        self.features = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 2, stride=2), torch.nn.ReLU())
        with torch.no_grad():
            kernel = torch.tensor([[1.0, -1.0], [-1.0, 1.0]])
            signs = torch.tensor([1.0, 1.0, -1.0, -1.0])[:, None, None, None]  # both checkerboard phases
            self.features[0].weight.copy_(kernel.expand(4, 3, 2, 2) * signs)
            self.features[0].bias.fill_(-0.5)
        self.head = torch.nn.Linear(4, 1)
        with torch.no_grad():
            self.head.weight.fill_(1.0)
            self.head.bias.fill_(-1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean((2, 3)))


@pytest.mark.parametrize("side", ["left", "right"])
def test_gradcam_follows_the_evidence(side):
    pytest.importorskip("pytorch_grad_cam")
    from fakebench.detectors.base import WeightsInfo
    from fakebench.detectors.cnnspot import CNNSpot
    from fakebench.explain.gradcam import gradcam

    net = _PatternNet()
    det = CNNSpot(net, preset="native", weights=WeightsInfo(tag="random-init"))
    arr = np.full((64, 64, 3), 128, np.uint8)
    yy, xx = np.mgrid[0:64, 0:32]
    board = np.where((yy + xx) % 2 == 0, 200, 56).astype(np.uint8)[..., None]
    if side == "left":
        arr[:, :32] = board
    else:
        arr[:, 32:] = board
    heat = gradcam(det, Image.fromarray(arr, "RGB"), target_layer=net.features)
    _check_map(heat, (64, 64))
    share_left = heat[:, :32].sum() / heat.sum()
    assert (share_left if side == "left" else 1 - share_left) > 0.9


def test_gradcam_refuses_other_detectors():
    pytest.importorskip("pytorch_grad_cam")
    from fakebench.explain.gradcam import gradcam

    class NotACnn:
        name = "antifakeprompt"

    with pytest.raises(FakebenchError, match="antifakeprompt"):
        gradcam(NotACnn(), Image.new("RGB", (32, 32)))


def test_overlay_and_input_view():
    from fakebench.detectors import get_detector_class
    from fakebench.explain.gradcam import input_view, overlay

    img = Image.fromarray(np.random.default_rng(0).integers(0, 256, (50, 70, 3), dtype=np.uint8), "RGB")
    heat = np.tile(np.linspace(0, 1, 70, dtype=np.float32), (50, 1))
    out = overlay(img, heat)
    assert out.size == img.size and out.mode == "RGB"
    assert overlay(img, heat, alpha=0.0).tobytes() == img.tobytes()
    hot, cold = np.asarray(overlay(img, heat, alpha=1.0), np.int32)[:, [-1, 0]].transpose(1, 0, 2)
    assert hot[:, 0].mean() > hot[:, 2].mean() and cold[:, 2].mean() > cold[:, 0].mean()  # jet: red hot, blue cold
    with pytest.raises(DataError, match="70x50"):
        overlay(img, heat[:, :60])
    with pytest.raises(DataError, match="0, 1"):
        overlay(img, heat * 2)
    # the detector's input view: the center crop of a larger image, de-normalised back to 8-bit RGB
    det = get_detector_class("cnnspot").untrained(preset="crop224")
    big = Image.fromarray(np.random.default_rng(1).integers(0, 256, (300, 260, 3), dtype=np.uint8), "RGB")
    view = input_view(det, big)
    assert view.size == (224, 224)
    assert np.abs(np.asarray(view, np.int32) - np.asarray(big.crop((18, 38, 242, 262)), np.int32)).max() <= 1


@pytest.mark.shared
@pytest.mark.parametrize("name, checkpoint", [("npr", "npr/model_epoch_last_3090_format.pth"),
                                              ("cnnspot", "cnnspot/blur_jpg_prob0.5_format.pth.xz")])
def test_gradcam_parity_checkpoints(shared, name, checkpoint):
    pytest.importorskip("pytorch_grad_cam")
    from fakebench.detectors import get_detector_class
    from fakebench.explain.gradcam import gradcam

    det = get_detector_class(name).load(shared / "parity" / checkpoint, preset="native")
    maps = []
    for image in ("gangen_began_1_fake_0.png", "gangen_began_0_real_0.png"):
        img = Image.open(shared / "parity" / "images" / image).convert("RGB")
        maps.append(gradcam(det, img))
        _check_map(maps[-1], (128, 128))
    assert not np.allclose(maps[0], maps[1])


@pytest.mark.shared
def test_gradcam_univfd_parity_backbone(shared):
    pytest.importorskip("pytorch_grad_cam")
    from fakebench.detectors.base import WeightsInfo
    from fakebench.detectors.univfd import UnivFD, UnivFDNet, load_openai_clip_visual
    from fakebench.explain.gradcam import gradcam

    visual = load_openai_clip_visual(shared / "parity" / "univfd" / "tiny_clip_vit_openai_format.pt")
    visual.requires_grad_(False)
    torch.manual_seed(0)
    det = UnivFD(UnivFDNet(visual, torch.nn.Linear(768, 1)), weights=WeightsInfo(tag="random-init"))
    img = Image.open(min((shared / "parity" / "univfd" / "images").glob("*.png"))).convert("RGB")
    _check_map(gradcam(det, img), (224, 224))


# -- CLI -----------------------------------------------------------------------------------------------------------
def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_cli_explain_llava(tmp_path, tiny_llava_dir):
    from fakebench import __version__
    from fakebench.cli.explain import explain

    imgs = [make_image(tmp_path / "in" / f"{k}.png", k, size=40) for k in ("real", "fake")]
    bad = tmp_path / "in" / "broken.png"
    bad.write_bytes(b"nope")
    out = tmp_path / "out"
    res = CliRunner().invoke(explain, ["--explainer", "llava", "--model", str(tiny_llava_dir), "--max-new-tokens", "4",
                                       "--device", "cpu", *map(str, imgs), str(bad), "--output", str(out)])
    assert res.exit_code == 1, res.output  # one unreadable image: reported, the others written
    assert "1 of 3 images" in res.output
    rows = _read_csv(out / "explanations.csv")
    assert [r["image"] for r in rows] == [str(p) for p in (*imgs, bad)]
    assert all(r["verdict"] in ("real", "fake", "unknown") for r in rows[:2]) and "not an image" in rows[2]["error"]
    records = [json.loads(line) for line in (out / "explanations.jsonl").read_text().splitlines()]
    assert len(records) == 3
    first = records[0]
    assert first["model"] == str(tiny_llava_dir) and first["fakebench_version"] == __version__
    assert first["decoding"]["max_new_tokens"] == 4 and first["decoding"]["mode"] == "greedy"
    assert first["verdict"] == rows[0]["verdict"] and first["rationale"] == rows[0]["rationale"]
    # the folder's name has no "v1": LLaVA's scripts (and so the CS545 study) query it with llava_v0
    assert first["template"] == "llava_v0" and "###Human: <image>\n" in first["prompt"]
    assert first["prompt"].endswith("###Assistant:") and "conversation template: llava_v0" in res.output
    again = CliRunner().invoke(explain, ["--explainer", "llava", "--model", str(tiny_llava_dir), "--max-new-tokens",
                                         "2", "--device", "cpu", str(imgs[0]), "--output", str(tmp_path / "v1"),
                                         "--template", "llava_v1"])
    assert again.exit_code == 0, again.output
    (rec,) = [json.loads(line) for line in (tmp_path / "v1" / "explanations.jsonl").read_text().splitlines()]
    assert rec["template"] == "llava_v1" and " USER: <image>\n" in rec["prompt"]
    assert rec["prompt"].endswith(" ASSISTANT:")


def test_cli_explain_gradcam(tmp_path, npr_checkpoint):
    pytest.importorskip("pytorch_grad_cam")
    from fakebench.cli.explain import explain
    from fakebench.detectors.npr import NPR

    imgs = [make_image(tmp_path / "in" / "a" / "x.png", "fake", size=64),
            make_image(tmp_path / "in" / "b" / "x.png", "real", size=64, seed=3)]  # same file name twice
    out = tmp_path / "out"
    res = CliRunner().invoke(explain, ["--explainer", "gradcam", "--detector", "npr", "--weights", str(npr_checkpoint),
                                       *map(str, imgs), "--output", str(out)])
    assert res.exit_code == 0, res.output
    rows = _read_csv(out / "gradcam.csv")
    det = NPR.load(npr_checkpoint)
    for path, row in zip(imgs, rows):
        assert row["image"] == str(path)
        prob = det.predict_images([Image.open(path).convert("RGB")]).prob.item()
        assert abs(float(row["fake_prob"]) - prob) < 1e-6
        png = Image.open(out / row["overlay"])
        assert png.size == (64, 64) and png.mode == "RGB"
    assert len({r["overlay"] for r in rows}) == 2
    info = json.loads((out / "gradcam.json").read_text())
    assert info["detector"]["detector"] == "npr" and info["target_layer"] == "layer2"


def test_cli_explain_bad_options(tmp_path):
    from fakebench.cli.explain import explain

    img = make_image(tmp_path / "a.png", "real", size=32)
    res = CliRunner().invoke(explain, ["--explainer", "gradcam", str(img), "--output", str(tmp_path / "o")])
    assert res.exit_code != 0 and "--detector" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(explain, ["--explainer", "llava", "--adapter", str(tmp_path / "nope"), str(img),
                                       "--output", str(tmp_path / "o")])
    assert res.exit_code != 0 and "Traceback" not in res.output


class _Payload:
    def __reduce__(self):
        return (print, ("pickled code ran",))


def test_lora_adapter_bin_with_a_pickle_payload_is_refused_by_name(tmp_path, tiny_llava, tiny_llava_dir):
    """Issue #20 item 6: an ``adapter_model.bin`` holding pickled code is refused as a CheckpointError naming the
    file (fakebench reads it with weights_only=True before peft sees it), not torch's UnpicklingError advising
    ``weights_only=False``."""
    pytest.importorskip("peft")
    from fakebench.explain.llava import LlavaExplainer, apply_lora
    from safetensors.torch import load_file

    model, _ = tiny_llava
    adapter = _lora_adapter(model, tmp_path / "adapter")
    state = load_file(adapter / "adapter_model.safetensors")
    (adapter / "adapter_model.safetensors").unlink()
    torch.save({**state, "payload": _Payload()}, adapter / "adapter_model.bin")
    for load in (lambda: LlavaExplainer.load(tiny_llava_dir, adapter=adapter, device="cpu"),
                 lambda: apply_lora(model, adapter)):
        with pytest.raises(CheckpointError) as info:
            load()
        message = str(info.value)
        assert "adapter_model.bin" in message and "would execute code" in message
        assert "weights_only=False" not in message


@pytest.mark.parametrize("path, template", [
    ("llava-hf/llava-v1.6-vicuna-7b-hf", "llava_v1"),  # the default model: LLaVA's v1 template
    ("checkpoints/llava-7b-real-fake-500/checkpoint-690", "llava_v0"),  # the CS545 fine-tuned checkpoint
    ("llava-hf/llava-v1.6-mistral-7b-hf", "mistral_instruct"),
    ("/data/my-lora", "llava_v0"),
])
def test_template_follows_llavas_rule_for_the_checkpoint_name(path, template):
    """Issue #20: the template is the one LLaVA's run_llava.py picks from the checkpoint name (the CS545 checkpoint
    has no "v1" in its name, so the study asked with llava_v0), and the prompts are LLaVA's own layouts."""
    from fakebench.explain.llava import TEMPLATES, template_for

    assert template_for(path) == template
    assert TEMPLATES["llava_v0"].format(question="Q?") == (
        "A chat between a curious human and an artificial intelligence assistant. The assistant gives helpful, "
        "detailed, and polite answers to the human's questions.###Human: <image>\nQ?###Assistant:")


def test_template_llava_does_not_offer_here_is_refused():
    from fakebench.explain.llava import template_for

    with pytest.raises(FakebenchError, match="llava_llama_2"):
        template_for("liuhaotian/llava-llama-2-13b-chat-lightning-preview")
