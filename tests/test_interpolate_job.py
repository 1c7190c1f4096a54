"""The interpolation job hands back its strip: moving λ alone decodes the one picture it asks for (issue 34)."""

import json
import os
from dataclasses import asdict, replace

import numpy as np
import pytest
from PIL import Image

from diffstudio.core.diffusion.sampler_settings import SamplerSettings
from diffstudio.core.jobs.editing import interpolate_job
from diffstudio.core.jobs.requests import InterpolateRequest
from diffstudio.core.storage.run_folder import CONFIG_FILE

STEPS = 3  # DDIM steps of the decode: the mix takes 3 frames, the strip 3 more


@pytest.fixture
def request_(tiny_run, tmp_path):
    paths = []
    for name, color in (("a", (200, 40, 40)), ("b", (40, 40, 200))):
        paths.append(tmp_path / f"{name}.png")
        Image.fromarray(np.full((32, 32, 3), color, np.uint8)).save(paths[-1])
    sampler = asdict(SamplerSettings("ddim", steps=STEPS, eta=1.0))
    return InterpolateRequest(str(tiny_run), str(paths[0]), str(paths[1]), t=60, lam=0.3, seed=1,
                              encode_mode="noise", mix_mode="lerp", sampler=sampler)


def frames_of(request):
    return list(interpolate_job(request))


def test_a_lambda_move_decodes_only_the_mix_and_hands_back_the_strip(request_):
    first = frames_of(request_)
    assert len(first) == 2 * STEPS and first[-1].done
    assert all(frame.kept is None for frame in first[:-1])  # a job cancelled half-way hands back nothing
    moved = frames_of(replace(request_, lam=0.7, kept=first[-1].kept))
    assert len(moved) == STEPS and moved[-1].total == STEPS and moved[-1].done
    assert all(frame.strip is None for frame in moved[:-1])  # the panel keeps the strip it shows
    assert moved[-1].kept is first[-1].kept  # for the next move
    np.testing.assert_array_equal(moved[-1].strip, first[-1].strip)
    np.testing.assert_array_equal(moved[-1].images, first[-1].images)
    fresh = frames_of(replace(request_, lam=0.7))  # the same request without the strip: decoded in full
    assert len(fresh) == 2 * STEPS
    np.testing.assert_array_equal(moved[-1].result, fresh[-1].result)
    np.testing.assert_array_equal(moved[-1].strip, fresh[-1].strip)


def rewrite_source(request):
    Image.fromarray(np.full((32, 32, 3), (40, 200, 40), np.uint8)).save(request.source_a)
    return request


def read_model_again(request):
    config = os.path.join(request.checkpoint, CONFIG_FILE)
    with open(config) as f:
        data = json.load(f)
    with open(config, "w") as f:
        json.dump(data, f, indent=1)  # the same settings, a new file: the model is read again
    stat = os.stat(config)
    os.utime(config, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    return request


@pytest.mark.parametrize("change", [
    lambda r: replace(r, t=50),
    lambda r: replace(r, seed=2),
    lambda r: replace(r, mix_mode="slerp"),
    lambda r: replace(r, sampler={**r.sampler, "eta": 0.0}),
    lambda r: replace(r, lambdas=(0.0, 0.5, 1.0)),
    rewrite_source,
    read_model_again,
], ids=["t", "seed", "mix", "sampler", "lambdas", "a source's pixels", "the model read again"])
def test_anything_but_lambda_decodes_the_strip_again(request_, change):
    kept = frames_of(request_)[-1].kept
    again = frames_of(change(replace(request_, lam=0.7, kept=kept)))
    assert len(again) == 2 * STEPS and again[-1].done and again[-1].kept is not kept
