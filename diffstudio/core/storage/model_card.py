"""The model card of an exported run: the Hub's README.md, with the metadata header the Hub reads (library,
pipeline tag, licence), how the model was trained, and its samples. `huggingface-cli upload USER/NAME DIR` then
publishes a run as the paper's models were published (issue 39)."""

from __future__ import annotations

import re

from diffstudio import __version__
from diffstudio.core.diffusion.sampler_settings import default_eta
from diffstudio.core.errors import DiffstudioError

# The Hub's licence ids a user most likely wants (any id of https://huggingface.co/docs/hub/repositories-licenses
# is accepted); "other" says: read the card.
LICENCES = ("mit", "apache-2.0", "cc-by-4.0", "cc-by-sa-4.0", "cc-by-nc-4.0", "openrail", "other")
SAMPLES_FILE = "samples.png"
LICENCE_ID = re.compile(r"[a-z0-9][a-z0-9.+-]*")

# (label, the run config's training field) of the card's training table
TRAINING_ROWS = (("model preset", "preset"), ("batch", "batch"), ("learning rate", "lr"),
                 ("learning-rate schedule", "lr_schedule"), ("prediction", "prediction_type"),
                 ("loss weighting", "loss_weighting"), ("EMA decay", "ema_decay"), ("precision", "precision"))


def check_licence(licence: str) -> str:
    if not LICENCE_ID.fullmatch(licence):
        raise DiffstudioError(f"{licence!r} is not a Hub licence id: use one such as {', '.join(LICENCES)}")
    return licence


def model_card(name: str, run_config: dict, step: int, parameters: int, licence: str, has_samples: bool,
               student_steps: int | None = None) -> str:
    """README.md for the diffusers folder of run `name` (its config.json as `run_config`) at `step`, or of its
    student distilled to `student_steps`."""
    model, schedule = run_config["model"], run_config["schedule"]
    training, data = run_config.get("training", {}), run_config.get("data", {})
    classes = run_config.get("classes") or []
    header = ["---", "library_name: diffusers", "pipeline_tag: unconditional-image-generation",
              f"license: {licence}", "tags:", "- diffstudio", "- ddpm", "- diffusion",
              *(["- class-conditional"] if classes else []), "---", ""]
    rows = [("resolution", f"{model['resolution']} px, {model['channels']} channel(s)"),
            ("parameters", f"{parameters / 1e6:.1f} M"), ("trained steps", f"{step:,}"),
            ("noise schedule", f"{schedule['beta_schedule']}, T = {schedule['num_timesteps']}")]
    rows += [(label, str(training[key])) for label, key in TRAINING_ROWS if training.get(key) is not None]
    if data.get("count"):
        rows.append(("training images", f"{data['count']:,}"))
    if classes:
        rows.append(("classes", ", ".join(classes)))
    if run_config.get("imported_from"):
        rows.append(("imported from", str(run_config["imported_from"])))
    # a student steps with the ε̂ its clipped x̂_0 implies, as diffstudio's DDIM does (ddim.ddim_step)
    student_call = (f"num_inference_steps={student_steps}, eta={default_eta('distilled'):g}, "
                    "use_clipped_model_output=True")
    pipeline, call = ("DDIMPipeline", student_call) if student_steps else ("DDPMPipeline", "num_inference_steps=1000")
    distilled = (["", f"Distilled to {student_steps} steps from the trained model by progressive distillation "
                      "(Salimans & Ho 2022): sample it with exactly that many steps."] if student_steps else [])
    body = [f"# {name}", "",
            f"A denoising diffusion model (DDPM, Ho et al. 2020) made with diffstudio {__version__}, a desktop app "
            "for training and exploring diffusion models on your own images.", *distilled, "",
            "```python", f"from diffusers import {pipeline}", "",
            f'pipeline = {pipeline}.from_pretrained("USER/{name}")  # the repo this folder was uploaded to',
            f"image = pipeline({call}).images[0]", "```", "",
            "## Training", "", "| setting | value |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows), ""]
    if has_samples:
        body += ["## Samples", "", f"![samples drawn during training]({SAMPLES_FILE})", ""]
    return "\n".join(header + body)
