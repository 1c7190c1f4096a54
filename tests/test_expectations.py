"""What the Train panel says to expect (core/expectations.py): the study row for a folder like the user's, the one
whose budget is nearest the run's."""

from dataclasses import replace

from diffstudio.core import expectations
from diffstudio.core.expectations import Plan, expectation, plan_estimate


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
