"""``fakebench explain`` -- explain verdicts: LLaVA-NeXT rationales or Grad-CAM heatmaps of a detector."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import click
from fakebench.cli.common import (image_failure, import_plugins, parse_key_values, require_detector_extras,
                                  require_extra, resolve_device, user_errors, DEVICE_HELP)


def _csv_text(columns: list[str], rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row.get(k) for k in columns})
    return buf.getvalue()


def _run_llava(images: tuple[str, ...], output: Path, *, model: str | None, adapter: str | None,
               template: str | None, max_new_tokens: int, temperature: float, top_p: float | None, seed: int,
               dtype: str | None, device: str | None) -> int:
    from fakebench import __version__
    from fakebench.core.errors import DataError
    from fakebench.core.files import atomic_write_text
    from fakebench.explain.llava import (
        DEFAULT_MODEL,
        DecodingSettings,
        LlavaExplainer,
        explain_images,
    )

    decoding = DecodingSettings(max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, seed=seed)
    explainer = LlavaExplainer.load(model or DEFAULT_MODEL, adapter=adapter, dtype=dtype,
                                    device=None if device in (None, "auto") else device,
                                    decoding=decoding, template=None if template in (None, "auto") else template)
    how = " (picked from the checkpoint name as LLaVA does; --template overrides)" if template in (None, "auto") else ""
    click.echo(f"conversation template: {explainer.template}{how}")
    rows, records, failed = [], [], 0
    for path in images:
        try:
            (exp,) = explain_images(explainer, [path])
        except DataError as exc:
            failed += 1
            click.echo(f"{path}\terror: {exc}", err=True)
            rows.append({"image": path, "error": str(exc)})
            records.append({"image": path, "error": str(exc), "model": explainer.model_id,
                            "template": explainer.template,
                            "adapter": explainer.adapter, "adapter_sha256": explainer.adapter_sha256,
                            "fakebench_version": __version__})
            continue
        record = exp.to_dict()
        record["error"] = None
        records.append(record)
        rows.append({"image": path, "verdict": exp.verdict, "rationale": exp.rationale})
        click.echo(f"{path}\t{exp.verdict}")
    output.mkdir(parents=True, exist_ok=True)
    atomic_write_text(output / "explanations.csv", _csv_text(["image", "verdict", "rationale", "error"], rows))
    atomic_write_text(output / "explanations.jsonl",
                      "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    return failed


def _run_gradcam(images: tuple[str, ...], output: Path, *, detector: str, weights: str | None,
                 preset: str | None, target: str, device: str | None, plugins: tuple[str, ...],
                 options: tuple[str, ...]) -> int:
    import importlib.metadata

    from fakebench import __version__
    from fakebench.api import load_detector
    from fakebench.core.files import (
        atomic_write_bytes,
        atomic_write_json,
        atomic_write_text,
    )
    from fakebench.data.images import UnreadableImage, load_image
    from fakebench.explain.gradcam import (
        default_target_layer,
        gradcam,
        input_view,
        overlay,
    )

    kwargs = parse_key_values(options)
    import_plugins(plugins)
    device = resolve_device(device)
    det = load_detector(detector, weights, preset=preset, device=device, **kwargs)
    layer = default_target_layer(det)
    (output / "overlays").mkdir(parents=True, exist_ok=True)
    rows, failed = [], 0
    for i, path in enumerate(images):
        try:
            img, _ = load_image(path)
        except UnreadableImage as exc:
            failed += 1
            click.echo(f"{path}\terror: {exc}", err=True)
            rows.append({"image": path, "error": str(exc)})
            continue
        try:  # one image the detector fails on (too small, ...) costs only its own row, as in `evaluate`
            out = det.predict_images([img])
            if bool(det.non_finite(out)[0]):
                raise FloatingPointError(det.non_finite_message(out, 0))
            heat = gradcam(det, img, target=target)
        except Exception as exc:
            failed += 1
            message = image_failure(path, det.name, exc)
            click.echo(f"{path}\terror: {message}", err=True)
            rows.append({"image": path, "error": message})
            continue
        name = f"overlays/{i:04d}_{Path(path).stem}.png"
        buf = io.BytesIO()
        overlay(input_view(det, img), heat).save(buf, format="PNG")
        atomic_write_bytes(output / name, buf.getvalue())
        prob = float(out.prob.item())
        rows.append({"image": path, "fake_prob": f"{prob:.8f}",
                     "logit": "" if out.logit is None else f"{float(out.logit.item()):.8f}",
                     "decision": ("n/a: no threshold" if det.natural_threshold is None else
                                  "fake" if prob > det.natural_threshold else "real"), "overlay": name,
                     "heat_peak_yx": "{},{}".format(*[int(v) for v in divmod(int(heat.argmax()), heat.shape[1])])})
        click.echo(f"{path}\t{prob:.6f}\t{name}")
    atomic_write_text(output / "gradcam.csv", _csv_text(
        ["image", "fake_prob", "logit", "decision", "overlay", "heat_peak_yx", "error"], rows))
    atomic_write_json(output / "gradcam.json", {
        "schema": "fakebench.gradcam/1", "detector": det.identity(), "target": target, "target_layer": layer.name,
        "method": "Grad-CAM (Selvaraju et al., ICCV 2017), grad-cam " + importlib.metadata.version("grad-cam"),
        "heatmap": "min-max scaled to [0, 1] per image, at the detector's input size; overlays on its input view",
        "n_images": len(images), "n_failed": failed, "fakebench_version": __version__})
    return failed


@click.command("explain")
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--explainer", required=True, type=click.Choice(["llava", "gradcam"]),
              help="llava: a rationale and verdict per image; gradcam: heatmap overlays of a detector.")
@click.option("--output", "-o", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder.")
@click.option("--model", help="[llava] Hub id or local folder (default llava-hf/llava-v1.6-vicuna-7b-hf).")
@click.option("--adapter", type=click.Path(file_okay=False), help="[llava] LoRA adapter folder (peft).")
@click.option("--template", default="auto", show_default=True,
              type=click.Choice(["auto", "llava_v0", "llava_v1", "vicuna_v1", "mistral_instruct"]),
              help="[llava] Conversation template; auto = what LLaVA's scripts pick from the checkpoint name (the "
                   "adapter folder when given, else --model): llava_v1 for a 'v1' name, mistral_instruct for "
                   "Mistral, else llava_v0 (the CS545 fine-tuned checkpoint).")
@click.option("--max-new-tokens", default=200, show_default=True, type=int, help="[llava] Generated-token limit.")
@click.option("--temperature", default=0.0, show_default=True, type=float, help="[llava] 0 = greedy decoding.")
@click.option("--top-p", type=float, help="[llava] Nucleus sampling mass (sampling only).")
@click.option("--seed", default=0, show_default=True, type=int, help="[llava] Seed set before each image.")
@click.option("--dtype", type=click.Choice(["fp16", "bf16", "fp32"]), help="[llava] Default fp16 on CUDA, else fp32.")
@click.option("--detector", help="[gradcam] Detector name (npr, cnnspot, univfd).")
@click.option("--weights", help="[gradcam] Weights tag or checkpoint path.")
@click.option("--preset", help="[gradcam] Preprocessing preset.")
@click.option("--target", default="fake", show_default=True, type=click.Choice(["fake", "real"]),
              help="[gradcam] Explain the fake logit or its negative.")
@click.option("--device", default="auto", show_default=True, help=DEVICE_HELP)
@click.option("--plugin", "plugins", multiple=True, help="[gradcam] Import a module that registers a detector.")
@click.option("--detector-option", "-O", "options", multiple=True,
              help="[gradcam] KEY=VALUE for the detector's load().")
@user_errors
def explain(images: tuple[str, ...], explainer: str, output: Path, model: str | None, adapter: str | None,
            template: str, max_new_tokens: int, temperature: float, top_p: float | None, seed: int, dtype: str | None,
            detector: str | None, weights: str | None, preset: str | None, target: str, device: str | None,
            plugins: tuple[str, ...], options: tuple[str, ...]) -> None:
    """Explain the verdicts on IMAGES.

    \b
    llava:   explanations.csv (image, verdict, rationale, error) and explanations.jsonl (plus the prompt, decoding
             settings, model, adapter sha256 and fakebench version); verdict = the last 'Answer: real|fake'.
    gradcam: overlays/*.png (Grad-CAM of the fake logit over the detector's input view), gradcam.csv (fake
             probability, logit, decision per image) and gradcam.json (detector, target layer).
    """
    if explainer == "gradcam":
        if not detector:
            raise click.UsageError("--explainer gradcam needs --detector (npr, cnnspot or univfd).")
        require_extra("explain", ("pytorch_grad_cam", "matplotlib"), "explain --explainer gradcam")
        require_detector_extras(detector)
    else:
        require_extra("explain", ("transformers", "accelerate") + (("peft",) if adapter else ()),
                      "explain --explainer llava")
    if explainer == "gradcam":
        failed = _run_gradcam(images, output, detector=detector, weights=weights, preset=preset, target=target,
                              device=device, plugins=plugins, options=options)
    else:
        failed = _run_llava(images, output, model=model, adapter=adapter, template=template,
                            max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, seed=seed,
                            dtype=dtype, device=device)
    if failed:
        raise click.ClickException(f"{failed} of {len(images)} images could not be read or explained (see above); the "
                                   f"others are in {output}.")
