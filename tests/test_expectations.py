"""What the Train panel says to expect (core/expectations.py): the study row for a folder like the user's, the one
that saw nearest as many images at the run's batch, and the batch auto chooses at the speeds measured here."""

from dataclasses import replace

from diffstudio.core import expectations
from diffstudio.core.batch_choice import AUTO
from diffstudio.core.expectations import AUTO_SMALLER_TIP, FEW_STEPS_TIP, Plan, expectation, plan_estimate


def test_of_several_rows_the_nearest_in_images_at_the_runs_batch_is_taken(monkeypatch):
    short = expectations.RESULTS[0]
    long = replace(short, images=short.images * 4, reached="something better")
    small_batch = replace(short, batch=16, images=short.images // 4, reached="something in small steps")
    monkeypatch.setattr(expectations, "RESULTS", (short, long, small_batch))
    assert expectation(3, 32) is short  # nothing known: the first
    assert expectation(3, 32, short.images * 1.5, 32) is short and expectation(3, 32, short.images * 3, 32) is long
    assert expectation(3, 32, short.images, 16) is small_batch  # the batch first, then the images
    assert expectation(3, 32, short.images, 8) is short  # no row at that batch: the nearest of all
    assert expectation(1, 32, 40) is None and expectation(3, 48, 40) is None
    steps = short.images * 4 // 32
    plan = Plan("tiny", 32, 32, 3, {32: 100.0}, steps=steps, minutes=None)  # as many images as `long` saw
    assert "something better" in plan_estimate(plan)[0]
    assert "something better" not in plan_estimate(replace(plan, steps=steps // 4))[0]


def test_auto_says_which_batch_it_chooses_here_and_a_larger_batch_by_hand_is_told_that_auto_did_better():
    slow = Plan("tiny", 32, AUTO, 3, {32: 24.0, 16: 23.0}, steps=6000, minutes=30)  # 1,350 steps of 32
    assert slow.batch_used() == 16 and round(slow.planned_steps()) == 2588
    assert AUTO_SMALLER_TIP in plan_estimate(slow)[0] and "at batch 16" in plan_estimate(slow)[0]
    fast = replace(slow, images_per_s={32: 150.0, 16: 140.0})  # 8,438 steps of 32
    assert fast.batch_used() == 32 and AUTO_SMALLER_TIP not in plan_estimate(fast)[0]
    assert replace(slow, images_per_s={32: 24.0}).batch_used() == 32  # 16 not measured yet
    by_hand = replace(slow, batch=32, images_per_s={32: 24.0})
    assert FEW_STEPS_TIP in plan_estimate(by_hand)[0] and AUTO_SMALLER_TIP not in plan_estimate(by_hand)[0]
    assert FEW_STEPS_TIP not in plan_estimate(replace(by_hand, images_per_s={32: 150.0}))[0]  # many steps
    assert FEW_STEPS_TIP not in plan_estimate(replace(by_hand, batch=16, images_per_s={16: 23.0}))[0]
    assert FEW_STEPS_TIP not in plan_estimate(replace(by_hand, minutes=None))[0]  # steps, not a budget
    assert FEW_STEPS_TIP not in plan_estimate(replace(by_hand, channels=1))[0]  # measured on colour only
    assert FEW_STEPS_TIP not in plan_estimate(replace(by_hand, images_per_s={}))[0]  # speed not measured yet


def test_a_patched_run_is_told_what_patched_runs_reached(monkeypatch):
    full = replace(expectations.RESULTS[0], resolution=64, reached="at the full resolution")
    patched = replace(full, patch_size=2, reached="with patches")
    monkeypatch.setattr(expectations, "RESULTS", (full, patched))
    assert expectation(3, 64, full.images, 32, patch_size=2) is patched
    assert expectation(3, 64, full.images, 32) is full
    plan = Plan("tiny", 64, 32, 3, {32: 50.0}, steps=100, minutes=None, patch_size=2)
    assert "patch 2" in plan_estimate(plan)[0] and "with patches" in plan_estimate(plan)[0]
