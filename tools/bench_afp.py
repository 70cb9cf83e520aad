"""Speed and memory of AntifakePrompt's scoring path (:meth:`AntifakePrompt.predict`) on a synthetic model.

``--config tiny`` (default) builds the tiny offline InstructBLIP of ``tests/_tiny_instructblip.py`` (224-pixel images,
32 query tokens, the real prompt and tokenization, widths 32/32/48), so it measures the pipeline's own overhead on any
machine. ``--config full`` builds the real InstructBLIP Vicuna-7B architecture (ViT-g 39 layers, Q-Former 768, LLaMA-7B
4096 x 32 layers, 32064-row vocabulary) with random weights in fp16 on a CUDA GPU: the speed and GPU memory of the real
model without downloading it (it needs about 16 GB of GPU memory). Scores are meaningless in both (random weights).

Reported: images/s over ``--repeats`` timed passes after one warm-up pass; the RSS with the model built, the process's
peak RSS (``resource.getrusage``) and what scoring added to it; on CUDA ``torch.cuda.max_memory_allocated`` during
scoring. On a shared CPU, ``--threads 1`` avoids OpenMP spin-waiting against other processes (which can make tiny
models ~50x slower).

Run from the checkout (it imports the test fixtures)::

    python -m benchmark.bench_afp --images 32 --batch-size 8
    python -m benchmark.bench_afp --config full --device cuda --images 64 --batch-size 8
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import torch

__all__ = ["build_bench_detector", "bench_scoring", "main"]

_TESTS = Path(__file__).resolve().parent.parent / "tests"


def _rss_mb() -> float:
    """Current resident set size of this process in MiB (Linux ``/proc``; 0 elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def build_bench_detector(config: str = "tiny", device: str = "cpu", seed: int = 0):
    """An :class:`~fakebench.detectors.antifakeprompt.AntifakePrompt` with random pseudo-word vectors
    (``WeightsInfo(tag='random-init')``) on the ``tiny`` or ``full`` synthetic model.

    Raises:
        SystemExit: ``full`` without CUDA.
    """
    sys.path.insert(0, str(_TESTS))
    from _tiny_instructblip import build_tiny, tiny_config, tiny_llm_tokenizer, tiny_qformer_tokenizer

    from fakebench.detectors.antifakeprompt import AntifakePrompt, apply_lavis_precision

    if config == "tiny":
        parts = build_tiny(seed)
        return AntifakePrompt.from_model(parts.model, parts.qformer_tokenizer, parts.tokenizer, random_init=True,
                                         seed=seed, device=device)
    if not device.startswith("cuda") or not torch.cuda.is_available():
        raise SystemExit("--config full needs a CUDA GPU (about 16 GB of memory); use --device cuda.")
    from transformers import InstructBlipConfig, InstructBlipForConditionalGeneration, LlamaConfig

    tok, qtok = tiny_llm_tokenizer(), tiny_qformer_tokenizer()
    small = tiny_config(tok, qtok)
    text = LlamaConfig(vocab_size=32064, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                       num_attention_heads=32, num_key_value_heads=32, max_position_embeddings=2048,
                       bos_token_id=1, eos_token_id=2, pad_token_id=0)
    cfg = InstructBlipConfig(vision_config={"intermediate_size": 6144}, qformer_config={"vocab_size": 30523},
                             text_config=text.to_dict(), num_query_tokens=32,
                             image_token_index=small.image_token_index)
    torch.manual_seed(seed)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float16)
    try:
        with torch.device(device):
            model = InstructBlipForConditionalGeneration(cfg)
    finally:
        torch.set_default_dtype(default)
    apply_lavis_precision(model.eval())
    return AntifakePrompt.from_model(model, qtok, tok, random_init=True, seed=seed, device=device)


def bench_scoring(detector, *, images: int, batch_size: int, repeats: int = 3) -> dict:
    """Time ``detector.predict`` on ``images`` random ``(3, 224, 224)`` inputs in batches of ``batch_size``.

    Returns:
        ``images_per_s``, ``seconds`` (timed passes), ``rss_model_mb`` (RSS with the model built, before scoring),
        ``peak_rss_mb`` (process high-water mark), ``scoring_extra_rss_mb`` (peak minus the pre-scoring RSS: what
        scoring added on top of the model, CPU only), ``rss_growth_timed_mb`` (RSS growth during the timed passes:
        leaks, CPU only) and ``cuda_peak_mb`` (``torch.cuda.max_memory_allocated`` during the timed passes, CUDA only).
    """
    size = int(detector.model.config.vision_config.image_size)
    data = torch.randn(images, 3, size, size, generator=torch.Generator().manual_seed(0))
    batches = [data[i:i + batch_size] for i in range(0, images, batch_size)]
    cuda = detector.device.type == "cuda"
    rss_model = _rss_mb()  # model built, nothing scored yet
    for batch in batches:  # warm-up
        detector.predict(batch)
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    rss_before = _rss_mb()
    start = time.perf_counter()
    for _ in range(repeats):
        for batch in batches:
            detector.predict(batch)
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {"images_per_s": images * repeats / seconds, "seconds": seconds, "rss_model_mb": rss_model,
            "peak_rss_mb": peak_rss, "scoring_extra_rss_mb": None if cuda else max(peak_rss - rss_model, 0.0),
            "rss_growth_timed_mb": None if cuda else _rss_mb() - rss_before,
            "cuda_peak_mb": torch.cuda.max_memory_allocated() / 2 ** 20 if cuda else None}


def main(argv: list[str] | None = None) -> dict:
    """Command line entry point; prints one JSON line and returns it as a dict."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", choices=("tiny", "full"), default="tiny")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    detector = build_bench_detector(args.config, args.device)
    result = {"config": args.config, "device": str(detector.device), "images": args.images,
              "batch_size": args.batch_size, "repeats": args.repeats, "threads": torch.get_num_threads(),
              **bench_scoring(detector, images=args.images, batch_size=args.batch_size, repeats=args.repeats)}
    print(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in result.items()}))
    return result


if __name__ == "__main__":
    main()
