"""Quality per CPU-minute: train for a fixed wall-clock budget with a named setting, sample, and score the samples.

One command per table, seeded. Each setting is one training run that yields a row at every budget it passes
(`--minutes 10 30 60`); each row is appended to a JSON-lines file at once, so a long study loses nothing when it
is stopped, and `--table` prints what the file holds.

Data sets (--data):
- shapes: 2,000 flat-coloured discs and squares on pure black (benchmarks/shapes_data.py); the score is the
  share of samples that would pass for a training image, with the coverage of the 12 kinds.
- fashion: the first 10,000 Fashion-MNIST training images (Debian's dataset-fashion-mnist); the score is a
  Fréchet distance on the features of a classifier trained on the real training split, against the real
  test split, printed beside its real-vs-real floor and its noise ceiling (benchmarks/fashion_data.py).
- demo: 512 of the app's demo discs (navy gradient, never saturated); demo-like % and a pooled-pixel FD.

Settings (--settings, comma-separated): "baseline" (the defaults before this study), "defaults" (TrainConfig's
now), or changes to the baseline joined by "+" (see CHANGES): TrainConfig fields and, optionally, the sampler.
Training goes through `Trainer` exactly as `diffstudio train` does (its previews and checkpoints at their
intervals), and stops when the budget is spent; samples are drawn by DDIM-50 from the EMA weights (256 for
shapes and demo, 512 for fashion), as `diffstudio sample --sampler ddim --steps 50`.

    python benchmarks/train_quality.py --data shapes --minutes 10 30 60 --settings defaults,baseline
    python benchmarks/train_quality.py --data fashion --table
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, fields, replace
from pathlib import Path

import numpy as np

from diffstudio.core.cpu_threads import let_waiting_threads_sleep

let_waiting_threads_sleep()  # before torch loads OpenMP, as the app does
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))


from capacity import config_for as capacity_config  # noqa: E402

from diffstudio.core.demo_data import demo_image, is_demo_like, make_demo_images  # noqa: E402
from diffstudio.core.devices import pick_device  # noqa: E402
from diffstudio.core.diffusion.sampler_settings import SamplerSettings  # noqa: E402
from diffstudio.core.diffusion.samplers import final_sample, run_sampler  # noqa: E402
from diffstudio.core.diffusion.sampling import seeded_start  # noqa: E402
from diffstudio.core.images import image_grid, save_png, to_uint8  # noqa: E402
from diffstudio.core.metrics.frechet import frechet_distance  # noqa: E402
from diffstudio.core.settings import declared  # noqa: E402
from diffstudio.core.storage.checkpoint import Denoiser, load_denoiser  # noqa: E402
from diffstudio.core.storage.run_folder import CONFIG_FILE, GUIDE_FILE  # noqa: E402
from diffstudio.core.train_config import BEFORE_RECIPES, PRESET_LR  # noqa: E402
from diffstudio.core.trainer import TrainConfig, Trainer  # noqa: E402
from diffstudio.core.unet import PRESETS  # noqa: E402

OUT = Path(__file__).parent / "out"
RESULTS = Path(__file__).parent / "results"
PAUSE_FILE = OUT / "PAUSE"
SAMPLES = {"shapes": 256, "fashion": 512, "demo": 256, "twemoji": 512, "noto": 512, "oxygen": 256}
RGB_SETS = ("twemoji", "noto", "oxygen")  # rgb_data.py: scored by the app's own default sampler only
SAMPLE_SEED, SAMPLE_BATCH = 0, 128
# the samplers of the studies' first tables, without autoguidance, as they were
ETA0 = SamplerSettings(kind="ddim", steps=50, eta=0.0, autoguidance=1.0)  # the default sampler before this study
STUDY_SAMPLER = SamplerSettings(kind="ddim", steps=50, eta=1.0, autoguidance=1.0)  # every row's measure
DPM_SOLVER = SamplerSettings(kind="dpm++2m", steps=20, autoguidance=1.0)

# The defaults before this study: what `diffstudio train` did with no options. Every field the study changed
# is spelt out, so that the baseline stays the old defaults whatever the defaults are now.
BASELINE = {**{k: v for k, v in BEFORE_RECIPES.items() if k != "recipe"},
            "lr": 2e-4, "warmup": 500, "ema_decay": 0.9999, "batch": 32, "beta_schedule": "linear"}

# A setting is "baseline", "defaults" (TrainConfig's defaults as they are now), or changes joined by "+" to the
# baseline ("lr1e-3+bf16+v+minsnr") or to the defaults ("defaults+cos").
CHANGES: dict[str, dict] = {
    "lr5e-4": {"lr": 5e-4, "warmup": 100},
    "lr1e-3": {"lr": 1e-3, "warmup": 100},
    "lr2e-3": {"lr": 2e-3, "warmup": 100},
    "bf16": {"precision": "bfloat16"},
    "b8": {"batch": 8},
    "b16": {"batch": 16},
    "b64": {"batch": 64},
    "ema999": {"ema_decay": 0.999},
    "ema9995": {"ema_decay": 0.9995},
    "cosine": {"beta_schedule": "cosine"},
    "v": {"prediction_type": "v_prediction"},
    "minsnr": {"loss_weighting": "min_snr"},
    "zsnr": {"prediction_type": "v_prediction", "zero_terminal_snr": True},
    "noclip": {"sampler": {"kind": "ddim", "steps": 50, "clip": False}},
    # cosine decay to zero at the end of the budget, by the trainer's clock (as `diffstudio train --minutes`)
    "cos": {"lr_schedule": "cosine"},
    "const": {"lr_schedule": "constant"},  # the defaults' schedule for a time budget before "auto" (2026-12-05)
    "lognt": {"timestep_sampling": "logit_normal"},  # more of the middle noise levels (Esser et al. 2024)
    "g20": {"min_snr_gamma": 20.0},  # min-SNR's cap at 20: the low noise levels weigh up to 4× more than at 5
    # the learning rate dips to zero over this share before the guide is kept (the defaults' 0.1 since session 7)
    "cool0": {"guide_cooldown": 0.0},
    "cool10": {"guide_cooldown": 0.1},
    "r64": {"resolution": 64},
    "shift4": {"snr_shift": 0.25},  # (32/64)²: 64 px noised as 32 px looks (Hoogeboom et al. 2023)
    # a resolution curriculum: the first half (quarter) of the budget on the images at half the resolution
    "lowres50": {"low_res_share": 0.5},
    "lowres25": {"low_res_share": 0.25},
    # … with the low-resolution images noised as the full-resolution ones look pooled (SNR × 4)
    "lowres50m": {"low_res_share": 0.5, "low_res_snr_shift": 4.0},
    "p1": {"patch_size": 1},  # the U-Net at the images' resolution (the defaults' at 64 px before patch auto)
    "p2": {"patch_size": 2},  # 2×2 pixels folded into channels: a 64-px model computes at 32 × 32
    "m124": {"preset": "tiny-m124"},  # study shapes (benchmarks/capacity.py), registered below
    "m1244": {"preset": "tiny-m1244"},
    "a8": {"preset": "tiny-a8"},  # attention on the 8×8 maps: 16 % faster here (capacity.py)
    "m124a8": {"preset": "tiny-m124-a8"},
}


# U-Net shapes under study (capacity.py's), as presets of this process only: a run stores its whole U-Net config,
# so its samples load anywhere. The declared preset choices are widened for this process too (the declaration is
# frozen, being the app's; a study may reach past it).
_STUDY_PRESETS = tuple(f"tiny-{shape}" for shape in ("m124", "m1244", "a8", "m124-a8"))
for _name in _STUDY_PRESETS:
    PRESETS[_name] = capacity_config(_name.removeprefix("tiny-"), 32)
    PRESET_LR[_name] = PRESET_LR["tiny"]
_preset_setting = declared(TrainConfig, "preset").setting
object.__setattr__(_preset_setting, "choices", (*_preset_setting.choices, *_STUDY_PRESETS))


def setting_from_name(name: str) -> dict:
    """Changes joined by "+" to the baseline, or to the defaults where the name begins with "defaults"."""
    setting = {} if name.split("+")[0] == "defaults" else dict(BASELINE)
    for change in name.split("+"):
        if change in ("baseline", "defaults"):
            continue
        if change not in CHANGES:
            raise SystemExit(f"unknown change {change!r} in {name!r}: use baseline, defaults, or + of "
                             f"{', '.join(CHANGES)}")
        setting.update(CHANGES[change])
    return setting


def sampler_settings(setting: dict, data_name: str = "shapes") -> SamplerSettings:
    if "sampler" in setting:
        return SamplerSettings(**setting["sampler"])
    return SamplerSettings() if data_name in RGB_SETS else STUDY_SAMPLER


def train_config(setting: dict, data: Path) -> TrainConfig:
    known = {f.name for f in fields(TrainConfig)}
    return TrainConfig(data=str(data), steps=setting.get("steps", 10**7),
                       **{k: v for k, v in setting.items() if k in known and k != "steps"})


# --- data sets and their scores ---

def dataset_folder(name: str) -> Path:
    folder = OUT / "data" / name
    if name == "shapes":
        from shapes_data import make_shapes_images
        if len(list(folder.glob("*.png"))) != 2000:
            make_shapes_images(folder, 2000, seed=0)
    elif name == "fashion":
        from fashion_data import write_fashion_folder
        write_fashion_folder(folder, 10_000)
    elif name == "demo":
        if len(list(folder.glob("*.png"))) != 512:
            make_demo_images(folder, 512, seed=0)
    elif name in RGB_SETS:
        from rgb_data import write_training_folder
        write_training_folder(name, folder)
    else:
        raise SystemExit(f"unknown data set {name!r}: shapes, fashion, demo or {', '.join(RGB_SETS)}")
    return folder


def pooled_features(images: np.ndarray) -> np.ndarray:
    """(B, 32, 32, C) uint8 → (B, 64·C): 4×4 average pooling to 8×8, in [0, 1]."""
    x = images.astype(np.float64) / 255.0
    b, h, w, c = x.shape
    return x.reshape(b, 8, h // 8, 8, w // 8, c).mean(axis=(2, 4)).reshape(b, -1)


def score_samples(name: str, samples: np.ndarray) -> dict:
    if name == "shapes":
        from shapes_data import score
        s = score(samples)
        background = np.median(samples.max(axis=3)[samples.max(axis=3) < 90])
        return {"good_pct": 100 * s.good_share, "kinds": s.kinds_covered, "rarest": s.rarest_kind,
                "reasons": s.reasons, "background_median": float(background)}
    if name in RGB_SETS:
        return rgb_score(name, samples.shape[1]).score(samples)
    if name == "fashion":
        from fashion_data import FashionFrechet
        fd = FashionFrechet()
        return {"fd": fd.distance(samples), "fd_floor": fd.floor(len(samples)), "fd_ceiling": fd.ceiling(len(samples))}
    rng = np.random.default_rng(1)
    reference = np.stack([demo_image(rng) for _ in range(len(samples))])
    return {"demo_like_pct": 100 * float(is_demo_like(samples).mean()),
            "pixel_fd": frechet_distance(pooled_features(samples), pooled_features(reference))}


RGB_SCORES: dict = {}


def rgb_score(name: str, resolution: int):
    """rgb_data.RGBScore, made once per set and resolution (it decodes the set and loads its classifier)."""
    from rgb_data import RGBScore
    if (name, resolution) not in RGB_SCORES:
        RGB_SCORES[name, resolution] = RGBScore(name, resolution)
    return RGB_SCORES[name, resolution]


# --- one run ---

@torch.no_grad()
def draw_samples(denoiser: Denoiser, settings: SamplerSettings, count: int) -> np.ndarray:
    """`count` samples, each image from its own seeded generators (as `diffstudio sample` draws them)."""
    c, network = denoiser.config, denoiser.network(None, autoguidance=settings.autoguidance)
    chunks = []
    for first in range(0, count, SAMPLE_BATCH):
        x, generators = seeded_start(SAMPLE_SEED, min(SAMPLE_BATCH, count - first), c.channels, c.resolution,
                                     denoiser.device, first)
        chunks.append(to_uint8(final_sample(run_sampler(network, denoiser.schedule, x, generators, settings))))
    return np.concatenate(chunks)


def score_run(data_name: str, run_dir: Path, samplers: dict[str, SamplerSettings],
              count: int | None = None) -> dict[str, dict]:
    """Each sampler's score of the run's final EMA weights (on `count` samples, the data set's SAMPLES unless
    given); each sampler's first 64 samples saved in the run folder as samples-SAMPLER.png. A run without a guide
    is drawn without autoguidance, as the app does, and named so."""
    denoiser = load_denoiser(run_dir)
    scores = {}
    for settings in samplers.values():
        if denoiser.guide is None:
            settings = replace(settings, autoguidance=1.0)
        name = sampler_name(settings)
        if name in scores:
            continue
        start = time.monotonic()
        samples = draw_samples(denoiser, settings, count or SAMPLES[data_name])
        scores[name] = {**score_samples(data_name, samples), "sample_seconds": time.monotonic() - start}
        save_png(image_grid(samples[:64]), run_dir / f"samples-{name}.png")
    return scores


def samplers_for(setting: dict, data_name: str) -> dict[str, SamplerSettings]:
    """The setting's sampler (the study's unless it names one) and the app's default sampler, each with and without
    autoguidance, and the sampler before the first study (DDIM-50, η = 0), or for the RGB sets DPM-Solver++(2M) at 20
    steps, which beat the stochastic default there."""
    own, app = sampler_settings(setting, data_name), SamplerSettings()
    other = DPM_SOLVER if data_name in RGB_SETS else ETA0
    return {sampler_name(s): s for s in (own, replace(own, autoguidance=1.0), app, replace(app, autoguidance=1.0),
                                         other)}


def sampler_name(settings: SamplerSettings) -> str:
    if settings.kind == "ddim":
        name = f"ddim{settings.steps}-eta{settings.eta:g}"
    elif settings.kind == "ddpm":
        name = f"ddpm-{settings.variance}"
    else:
        name = f"{settings.kind}-{settings.steps}-{settings.spacing}"
    return name + ("" if settings.clip else "-noclip") + ("" if settings.autoguidance == 1 else
                                                          f"-ag{settings.autoguidance:g}")


def run_budgets(data_name: str, setting_name: str, budgets: list[float], device: torch.device,
                score_now: bool = True, unit: str = "minutes") -> Iterator[dict]:
    """One training run, and a row at each budget it passes (10, 30, 60 minutes of training, say).

    At each budget the run's checkpoint is copied into a run folder of its own (`{data}-{setting}-{m}m`) and
    scored there, with the training clock stopped meanwhile: the budgets of one run are the same trajectory,
    which with a constant learning rate is what separate runs of those lengths would have trained. A row
    without scores (score_now False) is scored later by --rescore. With unit "steps" the budgets are step
    counts (`{data}-{setting}-{n}steps`): the model an idle machine trains in so many minutes, trained on a
    machine busy with something else."""
    setting = setting_from_name(setting_name)
    config = train_config(setting, dataset_folder(data_name))
    budgets = sorted(budgets)
    if unit == "steps":
        config.steps = round(budgets[-1])  # a cosine decay then ends where the last budget does
    else:
        config.minutes = budgets[-1]  # as `diffstudio train --minutes`: a cosine decay ends with the last budget
    run_dir = OUT / "runs" / f"{data_name}-{setting_name}"
    shutil.rmtree(run_dir, ignore_errors=True)
    trainer = Trainer.create(run_dir, config, device)
    try:
        for _ in trainer.run():  # the trainer's clock stops while a row is scored and while the study is held
            if (trainer.train_seconds >= budgets[0] * 60) if unit == "minutes" else (trainer.step >= budgets[0]):
                budget = budgets.pop(0)
                snapshot = snapshot_run(trainer, run_dir.parent / f"{run_dir.name}-{budget_name(budget, unit)}")
                row = {"data": data_name, "setting": setting_name, "run": snapshot.name, "steps": trainer.step,
                       "minutes": budget if unit == "minutes" else round(trainer.train_seconds / 60, 1),
                       "img_per_s": trainer.step * trainer.config.batch / trainer.train_seconds,
                       "loss": trainer.last_loss,  # trainer.config: with "auto" decided (the batch, the guide)
                       "config": {k: v for k, v in asdict(trainer.config).items() if k not in ("data", "steps")},
                       "torch": torch.__version__, "threads": torch.get_num_threads(), "cpu": cpu_name(),
                       "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
                       "scores": score_run(data_name, snapshot, samplers_for(setting, data_name)) if score_now else {}}
                yield row
                if not budgets:
                    break
            wait_while_paused()
    finally:
        trainer.close()


def cpu_name() -> str:
    """The CPU's model name and whether it computes bfloat16 in hardware (AMX, or AVX512-BF16: "AMD EPYC" names
    machines with and without it): rows compare only within one machine."""
    info = Path("/proc/cpuinfo").read_text(encoding="utf-8") if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")),
                 platform.processor() or "unknown")
    bf16 = " (AMX)" if "amx_bf16" in info else " (AVX512-BF16)" if "avx512_bf16" in info else ""
    return model + bf16


def budget_name(budget: float, unit: str) -> str:
    return f"{budget:g}m" if unit == "minutes" else f"{budget:g}steps"


def wait_while_paused() -> None:
    """`touch benchmarks/out/PAUSE` holds the study between two steps, so the machine can serve something else
    for a while (two torch workloads slow each other tenfold here); the time held is not counted as training."""
    while PAUSE_FILE.exists():
        time.sleep(1)


def snapshot_run(trainer: Trainer, folder: Path) -> Path:
    """The trainer's current weights as a run folder of their own: its config and one checkpoint."""
    checkpoint = trainer.save()
    shutil.rmtree(folder, ignore_errors=True)
    (folder / checkpoint.parent.name).mkdir(parents=True)
    shutil.copy2(trainer.run_dir / CONFIG_FILE, folder / CONFIG_FILE)
    shutil.copy2(checkpoint, folder / checkpoint.parent.name / checkpoint.name)
    if (trainer.run_dir / GUIDE_FILE).is_file():
        shutil.copy2(trainer.run_dir / GUIDE_FILE, folder / GUIDE_FILE)
    return folder


def rescore(results: Path) -> None:
    """Add the scores of samplers that a row lacks (rows written before a sampler was added), from its saved run."""
    rows = read_rows(results)
    for row in rows:
        if row.get("note", "").startswith("retired"):  # its setting is no longer in the code
            continue
        wanted = samplers_for(setting_from_name(row["setting"]), row["data"])
        scores = row.setdefault("scores", {})
        if "good_pct" in row or "fd" in row:  # the first rows: one sampler, DDIM-50 η = 0, at the top level
            scores.setdefault(sampler_name(ETA0), {k: row.pop(k) for k in list(row) if k in SCORE_KEYS})
        missing = {name: s for name, s in wanted.items() if name not in scores}
        run_dir = OUT / "runs" / row.get("run", f"{row['data']}-{row['setting']}-{row['minutes']:g}m")
        if missing and run_dir.is_dir():
            scores.update(score_run(row["data"], run_dir, missing))
            print(f"rescored {run_dir.name}: {', '.join(missing)}", flush=True)
    results.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


SCORE_KEYS = ("good_pct", "kinds", "rarest", "reasons", "background_median", "fd", "fd_floor", "fd_ceiling",
              "demo_like_pct", "pixel_fd", "sample_seconds")


def read_rows(results: Path) -> list[dict]:
    return [json.loads(line) for line in results.read_text(encoding="utf-8").splitlines() if line.strip()]


# --- the table ---

def score_text(score: dict, samples: int = SAMPLES["shapes"]) -> str:
    if "good_pct" in score:
        from shapes_data import rarest_kind_p
        p = rarest_kind_p(score["rarest"], round(score["good_pct"] * samples / 100))
        return (f"{score['good_pct']:5.1f} % good, kinds {score['kinds']:2d}/12, rarest {score['rarest']:.2f} "
                f"(p {p:.2f}), bg {score['background_median']:.0f}")
    if "colour_tv" in score:
        rarest = min(score["category_ratio"].items(), key=lambda kv: kv[1])
        return (f"FD {score['fd']:.1f} = {score['fd'] / score['fd_floor']:.1f}× floor {score['fd_floor']:.1f} "
                f"(noise {score['fd_ceiling']:.0f}); white {score['white']:.2f}/{score['white_data']:.2f}; "
                f"colour TV {score['colour_tv']:.3f}; categories {score['categories_present']}/"
                f"{score['categories']}, rarest {rarest[0]} {rarest[1]:.2f}")
    if "fd" in score:
        return f"FD {score['fd']:7.2f} (floor {score['fd_floor']:.2f}, noise {score['fd_ceiling']:.0f})"
    return f"demo-like {score['demo_like_pct']:5.1f} %, pixel FD {score['pixel_fd']:.3f}"


def print_table(rows: list[dict]) -> None:
    samplers = sorted({name for r in rows for name in r.get("scores", {})}, reverse=True)
    print(f"| setting | min | steps | img/s | loss | {' | '.join(samplers)} | finished |")
    print("|---|---:|---:|---:|---:|" + "---|" * len(samplers) + "---|")
    for r in rows:
        scores = [score_text(r["scores"][s]) if s in r.get("scores", {}) else "" for s in samplers]
        setting = r["setting"] + (f" ({r['note']})" if "note" in r else "")
        print(f"| {setting} | {r['minutes']:g} | {r['steps']} | {r['img_per_s']:.1f} | {r['loss']:.4f} | "
              f"{' | '.join(scores)} | {r['finished']} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="shapes", choices=("shapes", "fashion", "demo", *RGB_SETS))
    parser.add_argument("--minutes", type=float, nargs="+", default=[10.0],
                        help="training budgets (wall clock), each a row from one run per setting")
    parser.add_argument("--steps", type=int, nargs="+",
                        help="budgets as step counts instead of --minutes (the same model on a busy machine)")
    parser.add_argument("--score-later", action="store_true", help="write rows unscored; --rescore scores them")
    parser.add_argument("--settings", default="baseline,defaults",
                        help=f"comma-separated; each baseline, defaults, or + of {', '.join(CHANGES)}")
    parser.add_argument("--results", type=Path, help="JSON-lines file (default benchmarks/results/DATA.jsonl)")
    parser.add_argument("--table", action="store_true", help="print the results file's table and exit")
    parser.add_argument("--rescore", action="store_true",
                        help="score the saved runs of the results file with samplers their rows lack, then print")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    results = args.results or RESULTS / f"{args.data}.jsonl"
    if args.rescore:
        rescore(results)
    elif not args.table:
        device = pick_device(args.device)
        names = args.settings.split(",")
        for name in names:
            setting_from_name(name)  # fail before any training
        results.parent.mkdir(parents=True, exist_ok=True)
        for name in names:
            budgets, unit = (args.steps, "steps") if args.steps else (args.minutes, "minutes")
            for row in run_budgets(args.data, name, budgets, device, score_now=not args.score_later, unit=unit):
                with open(results, "a", encoding="utf-8") as f:
                    f.write(json.dumps(row) + "\n")
                print_table([row])
                sys.stdout.flush()
    rows = read_rows(results)
    print(f"\n{results} (device {args.device}, torch {torch.__version__}):")
    print_table(sorted(rows, key=lambda r: (r["minutes"], r["setting"])))


if __name__ == "__main__":
    main()
