"""The distillation job: a run's students, round by round (distillation.py). Closing it stops between two updates;
the rounds finished so far are kept, and the same distillation started again goes on from them."""

from __future__ import annotations

from collections.abc import Iterator

from diffstudio.core.devices import pick_device
from diffstudio.core.distill_settings import DistillSettings
from diffstudio.core.distillation import Distiller
from diffstudio.core.jobs.messages import DistillProgress
from diffstudio.core.jobs.requests import DistillRequest


def distill_job(r: DistillRequest) -> Iterator[DistillProgress]:
    settings = DistillSettings(**r.settings)
    distiller = Distiller(r.run, settings, pick_device(r.device), data=r.data)
    for e in distiller.run():
        yield DistillProgress(r.run, e.round, e.rounds, e.student_steps, e.update, e.updates, e.loss, e.eta_s,
                              None if e.saved is None else str(e.saved), settings.minutes is not None)
