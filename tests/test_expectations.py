"""What the Train panel says to expect (core/expectations.py): the study row for a folder like the user's, the one
whose budget is nearest the run's."""

from dataclasses import replace

from diffstudio.core import expectations
from diffstudio.core.expectations import FEW_STEPS_TIP, Plan, expectation, plan_estimate


def test_of_several_rows_the_nearest_budget_is_taken(monkeypatch):
    short = expectations.RESULTS[0]
    long = replace(short, minutes=120, reached="something better")
    monkeypatch.setattr(expectations, "RESULTS", (short, long))
    assert expectation(3, 32) is short  # no budget known: the first
    assert expectation(3, 32, 40) is short and expectation(3, 32, 80) is long and expectation(3, 32, 600) is long
    assert expectation(1, 32, 40) is None and expectation(3, 48, 40) is None
    plan = Plan("tiny", 32, 32, 3, steps_per_minute=100.0, steps=8000, minutes=None)  # 80 min of steps here
    assert "something better" in plan_estimate(plan)[0]
    assert "something better" not in plan_estimate(replace(plan, minutes=30))[0]


def test_a_budget_that_buys_few_steps_suggests_the_smaller_batch_that_did_better_there():
    slow = Plan("tiny", 32, 32, 3, steps_per_minute=45.0, steps=6000, minutes=30)  # 1,350 steps of 32
    fast = replace(slow, steps_per_minute=280.0)  # 8,400 steps
    assert FEW_STEPS_TIP in plan_estimate(slow)[0]
    assert FEW_STEPS_TIP not in plan_estimate(fast)[0]
    assert FEW_STEPS_TIP not in plan_estimate(replace(slow, batch=16, steps_per_minute=90.0))[0]  # taken already
    assert FEW_STEPS_TIP not in plan_estimate(replace(slow, minutes=None))[0]  # steps, not a budget
    assert FEW_STEPS_TIP not in plan_estimate(replace(slow, channels=1))[0]  # measured on colour only
    assert FEW_STEPS_TIP not in plan_estimate(replace(slow, steps_per_minute=None))[0]  # speed not measured yet
