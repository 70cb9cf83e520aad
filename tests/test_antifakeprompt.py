"""AntifakePrompt / zero-shot InstructBLIP on a tiny offline InstructBLIP (tests/_tiny_instructblip.py).

Covers: pseudo-word insertion (ids, collisions), the exact prompt ids (slow-tokenizer rule), official checkpoint
loading (and its errors), preprocessing, the yes/no score against a direct computation of the official per-candidate
loss, the decision rule, batch/single equality, prompt tuning (only the two vectors change, save -> load, resume) and
loading from Hugging Face folders. Real-weight checks are marked ``weights``/``gpu`` and skip without them.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from _tiny_instructblip import build_tiny, save_tiny_hub, tiny_llm_tokenizer, write_official_checkpoint
from fakebench.core.errors import CheckpointError, DataError, FakebenchError, WeightsNotFoundError
from conftest import REPO, make_image
from fakebench.detectors.catalog import AFP_LAMA_MEAN, AFP_LAMA_STD, AFP_SD2_MEAN, AFP_SD2_STD
from fakebench.detectors.antifakeprompt import (AFP_PROMPT, LAVIS_LLM_KEY, LAVIS_QFORMER_KEY, AntifakePrompt,
                                      InstructBlipZeroShot, PseudoWordEmbedding, apply_lavis_precision,
                                      encode_chunk, read_pseudo_word_checkpoint)
from fakebench.detectors.card import Preset

AFP_PIECES = ["</s>", "▁Is", "▁this", "▁photo", "▁real", "[*]", "▁?"]  # LAVIS slow-tokenizer pieces
SMALL = dict(image_size=64, patch_size=16, num_query_tokens=8)  # cheaper model for the training tests
SMALL_PRESET = Preset("tiny64", resize=64, resize_mode="shorter", interpolation="bicubic", crop=64,
                      mean=AFP_SD2_MEAN, std=AFP_SD2_STD)


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Tiny models: one intra-op thread is much faster than contended OpenMP threads; restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _afp(seed: int = 0, vec_seed: int = 1, **kwargs) -> AntifakePrompt:
    parts = build_tiny(seed)
    return AntifakePrompt.from_model(parts.model, parts.qformer_tokenizer, parts.tokenizer, random_init=True,
                                     seed=vec_seed, **kwargs)


def _images(n: int, size: int = 224) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(n))


# -- registry and cards ------------------------------------------------------------------------------------------------
def test_registered_names_cards_and_default_presets():
    from fakebench import detectors

    assert detectors.get_detector_class("antifakeprompt") is AntifakePrompt
    assert detectors.get_detector_class("instructblip") is InstructBlipZeroShot
    # two leaves of one private yes/no base: the zero-shot baseline is not an AntifakePrompt, nor the reverse
    assert not issubclass(AntifakePrompt, InstructBlipZeroShot) and not issubclass(InstructBlipZeroShot, AntifakePrompt)
    assert AntifakePrompt.__mro__[1] is InstructBlipZeroShot.__mro__[1]
    assert AntifakePrompt.name == "antifakeprompt" and InstructBlipZeroShot.name == "instructblip"
    assert AntifakePrompt.card.get_preset().name == "afp"
    assert AntifakePrompt.card.get_weights("coco_sd2_sd2ip_lama").preset == "afp_lama"
    assert "GB" in AntifakePrompt.card.memory and "GB" in InstructBlipZeroShot.card.memory


# -- pseudo-word and prompt ids ----------------------------------------------------------------------------------------
def test_pseudo_word_gets_new_ids_distinct_from_image_token():
    parts = build_tiny(0)
    n_llm, n_q = len(parts.tokenizer), len(parts.qformer_tokenizer)
    image_id = parts.model.config.image_token_index
    det = AntifakePrompt.from_model(parts.model, parts.qformer_tokenizer, parts.tokenizer, random_init=True)
    assert det.pseudo_ids.llm == n_llm != image_id
    assert det.pseudo_ids.qformer == n_q
    assert parts.tokenizer.convert_tokens_to_ids("[*]") == det.pseudo_ids.llm
    q_emb, l_emb = parts.model.qformer.get_input_embeddings(), parts.model.get_input_embeddings()
    assert isinstance(q_emb, PseudoWordEmbedding) and isinstance(l_emb, PseudoWordEmbedding)
    # the vectors are the only new parameters: 32 + 48 here (768 + 4096 = 4,864 in the real model)
    assert [tuple(v.shape) for v in det.pseudo_word_vectors] == [(1, 32), (1, 48)]
    # building again on the same tokenizers/model reuses the ids instead of adding a second token
    again = AntifakePrompt.from_model(parts.model, parts.qformer_tokenizer, parts.tokenizer, random_init=True)
    assert again.pseudo_ids == det.pseudo_ids and len(parts.tokenizer) == n_llm + 1


def test_tokenizer_without_image_token_cannot_hand_its_id_to_the_pseudo_word():
    # Older HF tokenizer revisions lack <image>; LAVIS's [*] id (32001) is then HF's image_token_index.
    parts = build_tiny(0, image_token=False)
    image_id = parts.model.config.image_token_index
    assert image_id == len(parts.tokenizer) and "<image>" not in parts.tokenizer.get_vocab()
    det = AntifakePrompt.from_model(parts.model, parts.qformer_tokenizer, parts.tokenizer, random_init=True)
    assert parts.tokenizer.convert_tokens_to_ids("<image>") == image_id
    assert det.pseudo_ids.llm == image_id + 1
    assert det.ids.llm.count(image_id) == parts.model.config.num_query_tokens


def test_pseudo_word_that_is_a_regular_token_is_refused():
    parts = build_tiny(0)
    with pytest.raises(FakebenchError, match="already a regular token"):
        from fakebench.detectors.antifakeprompt import install_pseudo_word

        install_pseudo_word(parts.model, parts.qformer_tokenizer, parts.tokenizer, pseudo_word="photo")


def test_llm_and_qformer_prompt_ids_follow_the_lavis_slow_tokenizer():
    det = _afp()
    n_query = det.model.config.num_query_tokens
    pieces = det.llm_pieces()
    assert pieces[:n_query] == ["<image>"] * n_query and pieces[n_query:] == AFP_PIECES
    assert det.ids.llm[n_query] == det.tokenizer.convert_tokens_to_ids("</s>") == 2
    # the tokenizers-backed tokenizer alone would put a bare '▁' before [*] and glue '?' (the fidelity risk)
    whole = det.tokenizer.convert_ids_to_tokens(det.tokenizer.encode(AFP_PROMPT, add_special_tokens=False))
    assert whole != AFP_PIECES[1:] and "▁?" not in whole
    assert det.qformer_pieces() == ["[CLS]", "is", "this", "photo", "real", "[*]", "?", "[SEP]"]
    assert list(det.ids.qformer) == det.qformer_tokenizer(AFP_PROMPT).input_ids
    assert [det.tokenizer.convert_ids_to_tokens(list(a)) for a in det.ids.answers] == [["▁yes"], ["▁no"]]


def test_zero_shot_prompt_has_no_pseudo_word():
    parts = build_tiny(0)
    n_llm = len(parts.tokenizer)
    det = InstructBlipZeroShot.from_model(parts.model, parts.qformer_tokenizer, parts.tokenizer)
    assert det.pseudo_ids is None and len(parts.tokenizer) == n_llm and "[*]" not in parts.tokenizer.get_vocab()
    assert det.llm_pieces()[32:] == ["</s>", "▁Is", "▁this", "▁photo", "▁real", "?"]
    assert det.qformer_pieces() == ["[CLS]", "is", "this", "photo", "real", "?", "[SEP]"]
    assert not isinstance(parts.model.get_input_embeddings(), PseudoWordEmbedding)
    out = det.predict(_images(2))
    assert out.prob.shape == (2,) and det.weights.tag == "zero-shot"


def test_tokenizer_without_sentencepiece_prefix_is_refused():
    tok = tiny_llm_tokenizer(add_prefix_space=False)
    assert tok.convert_ids_to_tokens(tok.encode("Is", add_special_tokens=False))[0] == "I"
    with pytest.raises(FakebenchError, match="SentencePiece"):
        encode_chunk(tok, "Is this photo real", sentencepiece_prefix=True)


# -- checkpoints -------------------------------------------------------------------------------------------------------
def test_official_checkpoint_vectors_land_in_the_pseudo_word_rows(tmp_path):
    parts = build_tiny(0)
    path = tmp_path / "COCO_150k_SD2_SD2IP_lama.pth"  # an official release name: tag and preset come from the card
    vectors = write_official_checkpoint(path, 32, 48, seed=3)
    base_llm = parts.model.get_input_embeddings().weight.detach().clone()
    det = AntifakePrompt.from_model(parts.model, parts.qformer_tokenizer, parts.tokenizer, checkpoint=path)
    assert det.weights.tag == "coco_sd2_sd2ip_lama" and det.preset.name == "afp_lama"
    from fakebench.core.files import sha256_file

    assert det.weights.sha256 == sha256_file(path)
    q_id, l_id = det.pseudo_ids.qformer, det.pseudo_ids.llm
    with torch.no_grad():
        q_rows = parts.model.qformer.get_input_embeddings()(torch.tensor([[q_id, 5]]))
        l_rows = parts.model.get_input_embeddings()(torch.tensor([[l_id, 29, 2]]))
    assert torch.equal(q_rows[0, 0], vectors[LAVIS_QFORMER_KEY][0])
    assert torch.equal(l_rows[0, 0], vectors[LAVIS_LLM_KEY][0])
    assert torch.equal(q_rows[0, 1], parts.model.qformer.embeddings.word_embeddings.weight[5])
    assert torch.equal(l_rows[0, 1:], base_llm[[29, 2]])  # every pretrained row untouched
    assert torch.equal(parts.model.get_input_embeddings().weight, base_llm)


def test_pseudo_word_id_beyond_the_matrix_is_routed_to_the_vector(tmp_path):
    parts = build_tiny(0, llm_rows=len(tiny_llm_tokenizer()))  # unpadded vocabulary: [*] id == number of rows
    det = AntifakePrompt.from_model(parts.model, parts.qformer_tokenizer, parts.tokenizer, random_init=True)
    assert det.pseudo_ids.llm == parts.model.get_input_embeddings().num_embeddings
    with torch.no_grad():
        row = parts.model.get_input_embeddings()(torch.tensor([det.pseudo_ids.llm]))
    assert torch.equal(row[0], det.pseudo_word_vectors[1][0])
    assert det.predict(_images(1)).prob.shape == (1,)


@pytest.mark.parametrize("case, match", [
    ("missing", "1 missing: llm_model.model.train_embed_tokens.weight"),
    ("unexpected", "1 unexpected: Qformer.bert.encoder.layer.0.attention.self.query.weight"),
    ("width", r"LLM hidden size gives \[1, 48\]"),
    ("garbage", "not a torch.save checkpoint but a text file"),
    ("not_a_state_dict", "holds no state dict"),
])
def test_bad_checkpoints_raise_clear_errors(tmp_path, case, match):
    path = tmp_path / f"{case}.pth"
    if case == "missing":
        write_official_checkpoint(path, 32, 48, drop=(LAVIS_LLM_KEY,))
    elif case == "unexpected":
        write_official_checkpoint(path, 32, 48, extra={"Qformer.bert.encoder.layer.0.attention.self.query.weight":
                                                       torch.zeros(32, 32)})
    elif case == "width":
        write_official_checkpoint(path, 768, 4096)  # the real model's widths do not fit the tiny one
    elif case == "garbage":
        path.write_bytes(b"not a torch file")
    else:
        torch.save({"epoch": 3}, path)
    parts = build_tiny(0)
    with pytest.raises(CheckpointError, match=match) as info:
        AntifakePrompt.from_model(parts.model, parts.qformer_tokenizer, parts.tokenizer, checkpoint=path)
    assert str(path) in str(info.value)


def test_no_checkpoint_and_no_random_init_is_an_error():
    parts = build_tiny(0)
    with pytest.raises(WeightsNotFoundError, match="random_init=True"):
        AntifakePrompt.from_model(parts.model, parts.qformer_tokenizer, parts.tokenizer)


# -- preprocessing -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("preset, mean, std", [("afp", AFP_SD2_MEAN, AFP_SD2_STD),
                                               ("afp_lama", AFP_LAMA_MEAN, AFP_LAMA_STD)])
def test_transform_is_shorter_side_bicubic_center_crop_with_afp_stats(preset, mean, std):
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 256, (200, 300, 3), dtype=np.uint8))  # 300 wide, 200 high
    det = _afp(preset=preset)
    got = det.transform()(img)
    resized = np.asarray(img.resize((336, 224), Image.BICUBIC), dtype=np.float32) / 255.0  # 224 * 300 / 200 = 336
    crop = resized[:, 56:280]  # centre crop 224: left = (336 - 224) / 2
    expected = (crop - np.array(mean, dtype=np.float32)) / np.array(std, dtype=np.float32)
    assert got.shape == (3, 224, 224) and got.dtype == torch.float32
    assert np.allclose(got.permute(1, 2, 0).numpy(), expected, atol=1e-5)


def test_preset_that_does_not_match_the_model_size_is_refused():
    parts = build_tiny(0)
    with pytest.raises(FakebenchError, match="crops to 64 px"):
        AntifakePrompt.from_model(parts.model, parts.qformer_tokenizer, parts.tokenizer, random_init=True,
                                  preset=SMALL_PRESET)


# -- scoring -----------------------------------------------------------------------------------------------------------
def _lavis_rows(tokenizer) -> int:
    """Output rows of LAVIS' Vicuna: the base vocabulary plus [PAD] (32,001), written out independently of the port:
    every id up to and including [PAD]."""
    return tokenizer.convert_tokens_to_ids("[PAD]") + 1


def _official_losses(det, pixels: torch.Tensor, candidates: list[list[int]],
                     pieces: list[str] = AFP_PIECES) -> torch.Tensor:
    """LAVIS ``_predict_class``: per candidate, the LM loss on prompt + candidate with only the candidate labelled,
    reduction 'none' = mean over all (padded, equal-length) positions, ignored ones counting 0, over the output rows
    LAVIS' Vicuna has (:func:`_lavis_rows`). Ids are built by hand from the expected pieces, independently of the
    detector's builder. Returns (N, C) losses and the length."""
    tok, qtok, model = det.tokenizer, det.qformer_tokenizer, det.model
    n_query = model.config.num_query_tokens
    prompt = [model.config.image_token_index] * n_query + tok.convert_tokens_to_ids(pieces)
    rows = _lavis_rows(tok)
    q_ids = torch.tensor([qtok.convert_tokens_to_ids(["[CLS]", "is", "this", "photo", "real", "[*]", "?", "[SEP]"])])
    width = max(len(c) for c in candidates)
    losses = []
    with torch.no_grad():
        for cand in candidates:
            pad = width - len(cand)
            ids = torch.tensor([prompt + cand + [2] * pad]).expand(len(pixels), -1)
            labels = torch.tensor([[-100] * len(prompt) + cand + [-100] * pad]).expand(len(pixels), -1)
            mask = ((labels != -100) | (torch.arange(ids.shape[1]) < len(prompt))).long()
            logits = model(pixel_values=pixels, qformer_input_ids=q_ids.expand(len(pixels), -1), input_ids=ids,
                           attention_mask=mask).logits[..., :rows]
            ce = F.cross_entropy(logits[:, :-1].transpose(1, 2), labels[:, 1:], ignore_index=-100, reduction="none")
            losses.append(ce.mean(1))
    return torch.stack(losses, 1), ids.shape[1] - 1


def test_scores_equal_the_official_candidate_losses():
    det = _afp()
    pixels = _images(4)
    yes, no = [list(a) for a in det.ids.answers]
    losses, positions = _official_losses(det, pixels, [yes, no])
    ll = det.answer_log_likelihoods(pixels)
    assert torch.allclose(ll, -losses * positions, atol=1e-4)  # mean over positions * positions = -log p(answer)
    out = det.predict(pixels)
    assert torch.allclose(out.logit, ll[:, 1] - ll[:, 0], atol=1e-6)
    assert torch.allclose(out.prob, torch.sigmoid(out.logit), atol=1e-7)
    assert torch.allclose(out.prob, torch.softmax(ll, 1)[:, 1], atol=1e-6)
    assert out.prob.dtype == out.logit.dtype == torch.float32 and out.prob.shape == (4,)
    # official decision: real iff loss(yes) < loss(no); ours: fake iff prob > 0.5
    assert torch.equal(out.prob > 0.5, ~(losses[:, 0] < losses[:, 1]))


def test_decision_rule_on_one_fake_and_one_real_image():
    det = _afp()
    pixels = _images(2)
    captured = []
    hook = det.model.language_model.lm_head.register_forward_hook(lambda m, i, o: captured.append(i[0][:, -1]))
    det.predict(pixels)
    hook.remove()
    hidden = captured[0].float()  # (2, 48): final hidden state at the last prompt position
    # make logit(no) - logit(yes) = +2 for image 0 and -2 for image 1
    direction = torch.linalg.lstsq(hidden, torch.tensor([[2.0], [-2.0]])).solution[:, 0]
    yes, no = det.ids.answers[0][0], det.ids.answers[1][0]
    with torch.no_grad():
        det.model.language_model.lm_head.weight[no] = det.model.language_model.lm_head.weight[yes] + direction
    out = det.predict(pixels)
    assert torch.allclose(out.logit, torch.tensor([2.0, -2.0]), atol=1e-3)
    assert out.prob[0] > 0.5 > out.prob[1]  # image 0 fake ("no" more likely), image 1 real
    losses, _ = _official_losses(det, pixels, [[yes], [no]])
    assert losses[1, 0] < losses[1, 1] and losses[0, 1] < losses[0, 0]  # test.py: Real iff loss(yes) < loss(no)


def test_batch_scores_equal_single_image_scores():
    det = _afp()
    pixels = _images(4)
    batch = det.predict(pixels)
    single = torch.cat([det.predict(pixels[i:i + 1]).logit for i in range(4)])
    assert torch.allclose(batch.logit, single, atol=1e-5)
    assert batch.logit.std() > 1e-3  # the images really differ in score
    pil = [Image.fromarray(np.full((120 + 40 * i, 160, 3), 60 * i, dtype=np.uint8)) for i in range(3)]
    by_image = det.predict_images(pil)
    stacked = det.predict(torch.stack([det.transform()(p) for p in pil]))
    assert torch.allclose(by_image.logit, stacked.logit, atol=1e-5)


def test_multi_token_answers_use_the_summed_log_likelihood():
    det = _afp(answers=("yes", "nope"))
    assert len(det.ids.answers[1]) == 3 and not det.ids.single_token_answers
    pixels = _images(2)
    losses, positions = _official_losses(det, pixels, [list(a) for a in det.ids.answers])
    ll = det.answer_log_likelihoods(pixels)
    assert torch.allclose(ll, -losses * positions, atol=1e-4)
    assert torch.equal(det.predict(pixels).prob > 0.5, ~(losses[:, 0] < losses[:, 1]))


def _dtypes(module) -> set:
    return {p.dtype for p in module.parameters()}


@pytest.mark.parametrize("half", [torch.float16, torch.bfloat16])
def test_lavis_mixed_precision_layout(half):
    """LAVIS on a GPU (eva_vit convert_weights_to_fp16, LlamaModelTextualInversion, maybe_autocast): ViT matmuls in
    half, ViT embeddings and LayerNorms fp32; Q-Former, query tokens and projection fp32; LLM half except its input
    embeddings (fp32, with the pseudo-word vector). Checked on CPU: the module dtypes after the precision function."""
    det = _afp()
    model = det.model
    pos_before = model.vision_model.embeddings.position_embedding.detach().clone()
    emb_before = model.language_model.get_input_embeddings().weight.detach().clone()
    apply_lavis_precision(model, half)
    vision = model.vision_model
    assert _dtypes(vision.embeddings) == {torch.float32}  # patch conv, class and position embeddings
    assert torch.equal(vision.embeddings.position_embedding, pos_before)  # fp32 values kept exactly
    norms = [m for m in vision.modules() if isinstance(m, torch.nn.LayerNorm)]
    assert len(norms) == 5 and all(_dtypes(m) == {torch.float32} for m in norms)  # 2 per layer + post_layernorm
    linears = [m for m in vision.modules() if isinstance(m, torch.nn.Linear)]
    assert linears and all(_dtypes(m) == {half} for m in linears)
    assert _dtypes(model.qformer) == _dtypes(model.language_projection) == {torch.float32}
    assert model.query_tokens.dtype == torch.float32
    llm = model.language_model
    embedding = llm.get_input_embeddings()
    assert isinstance(embedding, PseudoWordEmbedding) and embedding.weight.dtype == torch.float32
    assert embedding.pseudo_vector.dtype == torch.float32 and torch.equal(embedding.weight, emb_before)
    others = {p.dtype for n, p in llm.named_parameters() if not n.startswith("model.embed_tokens")}
    assert others == {half} and llm.lm_head.weight.dtype == half
    assert det.identity()["dtype"] == f"lavis-mixed-{str(half).replace('torch.', '')}"


def test_lavis_mixed_precision_runs_under_autocast_and_stays_close():
    """The forward of the mixed model (vision and LLM under autocast, Q-Former and projection outside it) runs and
    stays near fp32; the Q-Former really computes in fp32."""
    det = _afp()
    pixels = _images(2)
    ref = det.predict(pixels).logit
    apply_lavis_precision(det.model, torch.bfloat16)  # CPU autocast: bfloat16
    seen = {}
    def record(name, tensor):
        seen.setdefault(name, tensor.dtype)  # returns None: the hook leaves the output alone

    hooks = [det.model.qformer.register_forward_hook(lambda m, i, o: record("qformer", o[0])),
             det.model.language_model.lm_head.register_forward_hook(lambda m, i, o: record("head", o))]
    got = det.predict(pixels)
    for hook in hooks:
        hook.remove()
    assert seen == {"qformer": torch.float32, "head": torch.bfloat16}
    assert got.logit.dtype == torch.float32 and torch.allclose(got.logit, ref, atol=0.15)
    apply_lavis_precision(det.model, torch.bfloat16)  # idempotent
    assert torch.equal(det.predict(pixels).logit, got.logit)


def test_large_model_on_cpu_warns(monkeypatch):
    from fakebench.detectors.antifakeprompt.detectors import _YesNoInstructBlip

    monkeypatch.setattr(_YesNoInstructBlip, "cpu_warn_params", 1)
    with pytest.warns(RuntimeWarning, match="on the CPU"):
        _afp()


def test_identity_records_prompt_models_and_dtype():
    afp, zero = _afp(), InstructBlipZeroShot.from_model(*_parts_tuple())
    ident = afp.identity()
    assert ident["prompt"] == AFP_PROMPT and ident["dtype"] == "float32" and ident["base_model"] == "custom"
    assert ident["weights"]["tag"] == "random-init"
    assert afp.fingerprint() != zero.fingerprint()


def _parts_tuple():
    parts = build_tiny(0)
    return parts.model, parts.qformer_tokenizer, parts.tokenizer


def test_runs_through_the_evaluation_runner(tmp_path, image_tree):
    from fakebench.eval.harness import run_evaluation, sets_from_data_dir
    from fakebench.eval.runner import read_predictions

    det = _afp()
    run_dir, results = run_evaluation(det, sets_from_data_dir(image_tree), output=tmp_path / "out", data_label="t",
                                      num_workers=0, progress=False, use_cache=False)
    metrics = results["metrics"]["per_dataset"]
    assert [m["n"] for m in metrics] == [8, 8] and all(0 <= m["ap"] <= 1 and 0 <= m["auc"] <= 1 for m in metrics)
    preds = read_predictions(run_dir / "predictions.csv").sort_values("image")
    direct = det.predict_images([Image.open(p).convert("RGB") for p in preds["image"]])
    assert np.allclose(preds["logit"].to_numpy(), direct.logit.numpy(), atol=1e-4)
    assert (preds["decision"].to_numpy() == (direct.prob.numpy() > 0.5)).all()



# -- issue 12: vocabulary rows, prompt-token variants, decision rules --------------------------------------------------
def _amplify_padding_rows(det, factor: float = 40.0) -> int:
    """Scale the LM-head rows beyond LAVIS' vocabulary so they would dominate an unmasked softmax; returns the number
    of LAVIS rows."""
    rows = _lavis_rows(det.tokenizer)
    head = det.model.language_model.lm_head.weight
    assert head.shape[0] > rows  # the tiny head is padded like HF's 32,064 rows
    with torch.no_grad():
        head[rows:] *= factor
    return rows


def test_padding_rows_of_the_lm_head_never_enter_the_softmax():
    det = _afp()
    rows = _amplify_padding_rows(det)
    assert det.scored_vocab == rows and det.identity()["scored_vocab"] == rows
    pixels = _images(3)
    yes, no = [list(a) for a in det.ids.answers]
    losses, positions = _official_losses(det, pixels, [yes, no])
    ll = det.answer_log_likelihoods(pixels)
    assert torch.allclose(ll, -losses * positions, atol=1e-4)
    assert det.restrict_vocab(torch.zeros(2, 5, 96)).shape == (2, 5, rows)
    # multi-token answers (sequence path) use the same rows
    multi = _afp(answers=("yes", "nope"))
    _amplify_padding_rows(multi)
    losses, positions = _official_losses(multi, pixels, [list(a) for a in multi.ids.answers])
    assert torch.allclose(multi.answer_log_likelihoods(pixels), -losses * positions, atol=1e-4)


def test_training_loss_uses_the_lavis_rows():
    """LAVIS' training loss: cross-entropy of 'yes</s>' / 'no</s>' over Vicuna's 32,001 rows."""
    from fakebench.train.antifakeprompt import prompt_tuning_loss

    det = _afp()
    rows = _amplify_padding_rows(det)
    pixels, labels = _images(2), torch.tensor([0, 1])
    loss, _ = prompt_tuning_loss(det, pixels, labels)
    inputs = det.model_inputs(pixels)
    prompt = list(det.ids.llm)
    seqs = [prompt + list(det.ids.answers[int(y)]) + [det.ids.eos] for y in labels]
    inputs["input_ids"] = torch.tensor(seqs)
    inputs["attention_mask"] = torch.ones_like(inputs["input_ids"])
    with torch.no_grad():
        logits = det.model(**inputs).logits[..., :rows].float()
    targets = torch.tensor([[-100] * len(prompt) + s[len(prompt):] for s in seqs])
    official = F.cross_entropy(logits[:, :-1].transpose(1, 2), targets[:, 1:], ignore_index=-100)
    assert torch.allclose(loss.detach(), official, atol=1e-5)


SPACED_PIECES = ["</s>", "▁Is", "▁this", "▁photo", "▁real", "▁", "[*]", "▁?"]  # transformers >= 4.34


def test_prompt_token_variants_are_selectable_and_recorded():
    legacy, spaced = _afp(), _afp(prompt_tokens="spaced")
    n_query = legacy.model.config.num_query_tokens
    assert legacy.prompt_tokens == "legacy" and legacy.llm_pieces()[n_query:] == AFP_PIECES
    assert spaced.prompt_tokens == "spaced" and spaced.llm_pieces()[n_query:] == SPACED_PIECES
    assert spaced.qformer_pieces() == legacy.qformer_pieces()  # BERT side unchanged
    ident = spaced.identity()
    assert ident["prompt_tokens"] == "spaced" and ident["llm_prompt_ids"] == list(spaced.ids.llm)
    assert legacy.fingerprint() != spaced.fingerprint()
    # the spaced prompt is the official loss computation on the spaced pieces
    pixels = _images(2)
    yes, no = [list(a) for a in spaced.ids.answers]
    losses, positions = _official_losses(spaced, pixels, [yes, no], pieces=SPACED_PIECES)
    assert torch.allclose(spaced.answer_log_likelihoods(pixels), -losses * positions, atol=1e-4)
    with pytest.raises(FakebenchError, match="prompt-token variant"):
        _afp(prompt_tokens="v4.34")


def test_zero_shot_prompt_ids_do_not_depend_on_the_variant():
    a = InstructBlipZeroShot.from_model(*_parts_tuple())
    b = InstructBlipZeroShot.from_model(*_parts_tuple(), prompt_tokens="spaced")
    assert a.ids.llm == b.ids.llm


def test_prompt_token_default_comes_from_the_checkpoint_with_a_reason(tmp_path):
    from fakebench.detectors.catalog import AFP_PROMPT_TOKENS

    assert set(AFP_PROMPT_TOKENS) == {w.tag for w in AntifakePrompt.card.weights}
    for spec in AntifakePrompt.card.weights:
        variant, reason = AFP_PROMPT_TOKENS[spec.tag]
        assert variant in ("legacy", "spaced") and len(reason) > 40
        assert f"Prompt tokens: '{variant}' by default" in spec.notes
    parts = build_tiny(0)
    path = tmp_path / "COCO_150k_SD3_SD2IP.pth"
    write_official_checkpoint(path, 32, 48)
    det = AntifakePrompt.from_model(parts.model, parts.qformer_tokenizer, parts.tokenizer, checkpoint=path)
    assert det.weights.tag == "coco_sd3_sd2ip" and det.prompt_tokens == AFP_PROMPT_TOKENS["coco_sd3_sd2ip"][0]


def test_paper_era_decision_rule_is_an_exact_yes_match(monkeypatch):
    det = InstructBlipZeroShot.from_model(*_parts_tuple(), decision="generate")
    assert det.decision == "generate" and det.continuous_scores is False and det.identity()["decision"] == "generate"
    answers = ["yes", "Yes", "yes.", "yes, it is", "no", ""]
    monkeypatch.setattr(det, "generate_answers", lambda batch: answers[: len(batch)])
    out = det.predict(_images(6))
    assert out.logit is None and out.prob.tolist() == [0.0, 1.0, 1.0, 1.0, 1.0, 1.0]  # only 'yes' is real
    assert InstructBlipZeroShot.from_model(*_parts_tuple()).continuous_scores is True
    with pytest.raises(FakebenchError, match="decision rule"):
        InstructBlipZeroShot.from_model(*_parts_tuple(), decision="argmax")


def test_generated_answers_follow_the_lavis_generate_call():
    """generate_answers = :func:`lavis_generate` (checked against the official call below) on the same input
    embeddings HF's forward builds, never producing a padding row, decoded as LAVIS decodes."""
    from fakebench.detectors.antifakeprompt.generation import lavis_generate

    det = InstructBlipZeroShot.from_model(*_parts_tuple(), decision="generate")
    rows = _amplify_padding_rows(det, 4.0)
    pixels = _images(2)
    captured = {}
    llm = det.model.language_model

    def grab(module, args, kwargs):
        captured.setdefault("embeds", kwargs["inputs_embeds"].detach().clone())

    hook = llm.register_forward_pre_hook(grab, with_kwargs=True)
    with torch.no_grad():
        det.model(**det.model_inputs(pixels))
    hook.remove()
    texts = det.generate_answers(pixels)
    assert len(texts) == 2 and all(isinstance(t, str) for t in texts)
    expected = lavis_generate(llm, captured["embeds"], torch.ones(captured["embeds"].shape[:2], dtype=torch.long),
                              scored_vocab=rows, eos=2)
    assert int(expected.max()) < rows and expected.shape[1] <= 9  # padding rows never generated; at most 9 tokens
    assert texts == [t.strip() for t in det.tokenizer.batch_decode(expected, skip_special_tokens=True)]


# -- training ----------------------------------------------------------------------------------------------------------
@pytest.fixture
def train_dirs(tmp_path) -> tuple[Path, Path]:
    for i in range(3):
        make_image(tmp_path / "data" / "real" / f"r{i}.png", "real", size=80, seed=i)
        make_image(tmp_path / "data" / "fake" / "sub" / f"f{i}.png", "fake", size=80, seed=50 + i)
    return tmp_path / "data" / "real", tmp_path / "data" / "fake"


def _small_afp(vec_seed: int = 1) -> AntifakePrompt:
    parts = build_tiny(0, **SMALL)
    return AntifakePrompt.from_model(parts.model, parts.qformer_tokenizer, parts.tokenizer, random_init=True,
                                     seed=vec_seed, preset=SMALL_PRESET)


def test_training_changes_only_the_two_vectors_and_round_trips(tmp_path, train_dirs):
    from fakebench.train.antifakeprompt import train_prompt

    det = _small_afp()
    before = {k: v.clone() for k, v in det.model.state_dict().items()}
    out = train_prompt(real_dir=train_dirs[0], fake_dir=train_dirs[1], out=tmp_path / "afp.pth", epochs=2,
                       batch_size=3, lr=1e-2, max_steps=2, model=det)
    changed = {k for k, v in det.model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed == {"qformer.embeddings.word_embeddings.pseudo_vector",
                       "language_model.model.embed_tokens.pseudo_vector"}
    assert not any(p.requires_grad for p in det.model.parameters())

    saved = torch.load(out, weights_only=True)
    assert set(saved["model"]) == {LAVIS_QFORMER_KEY, LAVIS_LLM_KEY}
    assert saved["model"][LAVIS_QFORMER_KEY].shape == (1, 32) and saved["model"][LAVIS_LLM_KEY].dtype == torch.float32
    meta = saved["fakebench"]
    assert meta["data"]["n_real"] == 3 and meta["data"]["n_fake"] == 3 and len(meta["data"]["digest"]) == 64
    assert meta["data"]["real_dir"] == str(train_dirs[0].resolve())
    assert meta["recipe"]["lr"] == 1e-2 and meta["recipe"]["weight_decay"] == 0.05 and meta["recipe"]["seed"] == 42
    assert meta["progress"]["global_step"] == 2 and meta["parameters"] == 32 + 48
    assert det.weights.path == str(out)

    fresh = build_tiny(0, **SMALL)
    loaded = AntifakePrompt.from_model(fresh.model, fresh.qformer_tokenizer, fresh.tokenizer, checkpoint=out,
                                       preset=SMALL_PRESET)
    for a, b in zip(loaded.pseudo_word_vectors, det.pseudo_word_vectors):
        assert torch.equal(a, b)
    pixels = _images(2, 64)
    assert torch.equal(loaded.predict(pixels).logit, det.predict(pixels).logit)
    assert read_pseudo_word_checkpoint(out).metadata["format"] == "antifakeprompt-prompt-tuning/1"


def test_training_lowers_the_validation_loss(tmp_path, train_dirs):
    from fakebench.train.antifakeprompt import train_prompt

    det = _small_afp()
    out = train_prompt(real_dir=train_dirs[0], fake_dir=train_dirs[1], val_real_dir=train_dirs[0],
                       val_fake_dir=train_dirs[1], out=tmp_path / "afp.pth", epochs=3, batch_size=6, lr=5e-2,
                       model=det)
    history = torch.load(out, weights_only=True)["fakebench"]["progress"]["history"]
    assert [h["epoch"] for h in history] == [0, 1, 2]
    assert history[-1]["val_loss"] < history[0]["val_loss"]
    # LAVIS per-epoch cosine: lr(e) = lr * (1 + cos(pi e / E)) / 2
    assert [h["lr"] for h in history] == pytest.approx([5e-2 * (1 + math.cos(math.pi * e / 3)) / 2 for e in range(3)])


def test_resumed_training_matches_an_uninterrupted_run(tmp_path, train_dirs):
    from fakebench.train.antifakeprompt import resume_state_path, train_prompt

    args = dict(real_dir=train_dirs[0], fake_dir=train_dirs[1], epochs=2, batch_size=4, lr=1e-2)
    clean = _small_afp()
    train_prompt(out=tmp_path / "clean.pth", model=clean, **args)  # 2 epochs x 2 steps

    resumed = _small_afp()
    out = tmp_path / "resumed.pth"
    train_prompt(out=out, model=resumed, max_steps=3, **args)  # stops after step 1 of epoch 2
    state = torch.load(resume_state_path(out), weights_only=True)
    assert state["fakebench"]["progress"]["epoch"] == 1 and state["fakebench"]["progress"]["step_in_epoch"] == 1
    assert {"optimizer", "scheduler"} <= set(state)
    resumed_again = _small_afp(vec_seed=99)  # a new process: its vectors come from the resume state
    train_prompt(out=out, model=resumed_again, **args)
    for a, b in zip(resumed_again.pseudo_word_vectors, clean.pseudo_word_vectors):
        assert torch.equal(a, b)

    data = out.read_bytes()
    train_prompt(out=out, model=_small_afp(), **args)  # already complete: nothing to do, file untouched
    assert out.read_bytes() == data
    with pytest.raises(FakebenchError, match="lr: saved 0.01, now 0.02"):
        train_prompt(out=out, model=_small_afp(), **{**args, "lr": 2e-2})


def test_training_argument_errors(tmp_path, train_dirs):
    from fakebench.train.antifakeprompt import train_prompt

    with pytest.raises(DataError, match="both val_real_dir and val_fake_dir"):
        train_prompt(real_dir=train_dirs[0], fake_dir=train_dirs[1], val_real_dir=train_dirs[0], out=tmp_path / "a",
                     model=_small_afp())
    with pytest.raises(DataError, match="does not exist"):
        train_prompt(real_dir=tmp_path / "nope", fake_dir=train_dirs[1], out=tmp_path / "a", model=_small_afp())
    with pytest.raises(FakebenchError, match="AntifakePrompt detector"):
        train_prompt(real_dir=train_dirs[0], fake_dir=train_dirs[1], out=tmp_path / "a", model=object())


# -- loading from Hugging Face folders ---------------------------------------------------------------------------------
def test_load_swaps_in_the_separate_llm_and_scores_like_from_model(tmp_path):
    base_dir, llm_dir, base_parts, llm = save_tiny_hub(tmp_path)
    ckpt = tmp_path / "afp.pth"
    write_official_checkpoint(ckpt, 32, 48, seed=5)
    det = AntifakePrompt.load(ckpt, base_model=str(base_dir), llm_model=str(llm_dir), device="cpu")
    model = det.model
    assert det.base_model == str(base_dir) and det.weights.tag == "file"
    assert len(model.language_model.model.layers) == 2
    rows = model.get_input_embeddings().weight
    assert rows.shape[0] == base_parts.model.config.text_config.vocab_size  # resized to the base vocabulary
    assert torch.equal(rows[:llm.config.vocab_size], llm.get_input_embeddings().weight)  # the "Vicuna" rows
    assert torch.equal(model.language_model.lm_head.weight[:llm.config.vocab_size], llm.lm_head.weight)
    assert torch.equal(model.qformer.encoder.layer[0].attention.attention.query.weight,
                       base_parts.model.qformer.encoder.layer[0].attention.attention.query.weight)
    assert torch.equal(model.query_tokens, base_parts.model.query_tokens)

    base_parts.model.language_model = llm  # the same assembly by hand; the added rows (<image>, [*]) never score
    llm.resize_token_embeddings(rows.shape[0], mean_resizing=False)
    by_hand = AntifakePrompt.from_model(base_parts.model, base_parts.qformer_tokenizer, base_parts.tokenizer,
                                        checkpoint=ckpt)
    pixels = _images(2)
    assert torch.allclose(det.predict(pixels).logit, by_hand.predict(pixels).logit, atol=1e-5)

    zero = InstructBlipZeroShot.load(base_model=str(base_dir), llm_model=str(llm_dir), device="cpu")
    assert zero.predict(pixels).prob.shape == (2,)
    with pytest.raises(WeightsNotFoundError, match="takes no checkpoint"):
        InstructBlipZeroShot.load(ckpt, base_model=str(base_dir))


def test_missing_base_model_offline_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKEBENCH_OFFLINE", "1")
    ckpt = tmp_path / "afp.pth"
    write_official_checkpoint(ckpt, 32, 48)
    with pytest.raises(WeightsNotFoundError, match="huggingface-cli download fakebench-test/no-such-model"):
        AntifakePrompt.load(ckpt, base_model="fakebench-test/no-such-model", device="cpu")
    with pytest.raises(WeightsNotFoundError, match="does not exist"):
        AntifakePrompt.load(tmp_path / "missing.pth", device="cpu")


# -- real weights (skipped unless present) -----------------------------------------------------------------------------
def _real_tokenizers():
    from transformers import AutoTokenizer

    try:
        return (AutoTokenizer.from_pretrained("Salesforce/instructblip-vicuna-7b", local_files_only=True),
                AutoTokenizer.from_pretrained("Salesforce/instructblip-vicuna-7b", subfolder="qformer_tokenizer",
                                              local_files_only=True))
    except OSError:
        pytest.skip("Salesforce/instructblip-vicuna-7b tokenizers are not in the Hugging Face cache")


@pytest.mark.weights
def test_real_tokenizers_give_the_lavis_ids():
    from fakebench.detectors.antifakeprompt import build_llm_prompt_ids, ensure_image_token

    tok, qtok = _real_tokenizers()
    ensure_image_token(tok, 32001)
    pid = len(tok)
    tok.add_tokens(["[*]"], special_tokens=True)
    ids = build_llm_prompt_ids(tok, AFP_PROMPT, pseudo_word="[*]", pseudo_id=pid)
    assert tok.convert_ids_to_tokens(ids) == AFP_PIECES and ids[0] == 2 and pid not in (32000, 32001)
    assert [tok.convert_ids_to_tokens(encode_chunk(tok, a)) for a in ("yes", "no")] == [["▁yes"], ["▁no"]]
    q_ids = qtok(AFP_PROMPT).input_ids
    assert qtok.convert_ids_to_tokens(q_ids)[:5] == ["[CLS]", "is", "this", "photo", "real"]


@pytest.mark.weights
@pytest.mark.gpu
def test_real_checkpoint_on_gpu():
    checkpoint = os.environ.get("FAKEBENCH_AFP_CHECKPOINT")
    if not checkpoint or not Path(checkpoint).is_file():
        pytest.skip("set FAKEBENCH_AFP_CHECKPOINT to an official AntifakePrompt .pth")
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    try:
        det = AntifakePrompt.load(checkpoint, device="cuda")
    except WeightsNotFoundError as exc:
        pytest.skip(str(exc))
    assert sum(v.numel() for v in det.pseudo_word_vectors) == 4864
    assert det.llm_pieces()[32:] == AFP_PIECES
    img = Image.fromarray(np.random.default_rng(0).integers(0, 256, (256, 320, 3), dtype=np.uint8))
    out = det.predict_images([img, img])
    assert out.prob.shape == (2,) and torch.allclose(out.prob[0], out.prob[1])


# -- the paper-era generate rule against the official call (transformers 4.33.3 under LAVIS' arguments) -----------------
AFP_GENERATE_FIXTURE = REPO / "tests" / "fixtures" / "parity" / "afp_generate"


def _until_eos(row: list[int], eos: int = 2) -> list[int]:
    return row[: row.index(eos) + 1] if eos in row else row


@pytest.mark.parametrize("setting", ["random", "eos_first", "random_b"])
def test_lavis_generate_reproduces_the_official_call(setting):
    """The port, on an HF-layout head with 63 large padding rows, generates exactly the tokens the official
    ``llm_model.generate(inputs_embeds=..., max_length=10, min_length=1, ...)`` generated under transformers 4.33.3
    with the 1,001-row LAVIS-layout head (``tools/parity/afp_generate.py``): at most 9 new tokens, end-of-sequence
    allowed first, padding rows outside the softmax. The pre-fix settings (10/1 new tokens, rows masked after the
    softmax) disagree on this fixture."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from fakebench.detectors.antifakeprompt.generation import lavis_generate

    meta = json.loads((AFP_GENERATE_FIXTURE / "expected.json").read_text())
    tensors = torch.load(AFP_GENERATE_FIXTURE / "tensors.pt", weights_only=True)
    cfg = meta["config"]
    scored, pad_rows = cfg["vocab_size"], meta["pad_rows"]
    config = LlamaConfig(**{**cfg, "vocab_size": scored + pad_rows}, bos_token_id=meta["bos"], eos_token_id=meta["eos"],
                         pad_token_id=meta["pad"], tie_word_embeddings=False)
    model = LlamaForCausalLM(config).eval()
    state = {k.split(".", 1)[1]: v.float() for k, v in tensors.items() if k.startswith(setting + ".")}
    gen = torch.Generator().manual_seed(7)
    for key in ("model.embed_tokens.weight", "lm_head.weight"):  # the HF layout's extra rows, large on purpose
        extra = 4.0 * state[key].abs().max() * torch.randn(pad_rows, state[key].shape[1], generator=gen)
        state[key] = torch.cat([state[key], extra])
    model.load_state_dict(state, strict=True)
    case = next(c for c in meta["cases"] if c["setting"] == setting)
    out = lavis_generate(model, tensors["embeds"].float(), tensors["mask"], scored_vocab=scored, eos=meta["eos"])
    assert out.shape[1] <= 9
    expected = [_until_eos(row[1:]) for row in case["lavis_outputs"]]  # row[0]: 4.33's bos placeholder
    assert [_until_eos(row) for row in out.tolist()] == expected
    if setting == "eos_first":
        assert sum(row == [2] for row in expected) >= 4  # end-of-sequence first: decoded '' (fake)
