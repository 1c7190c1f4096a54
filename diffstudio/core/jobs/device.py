"""The first job: imports torch in the worker thread and names the device for the status bar."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from diffstudio.core.devices import describe_device, pick_device
from diffstudio.core.jobs.messages import DeviceInfo
from diffstudio.core.jobs.requests import DeviceRequest


def device_job(r: DeviceRequest) -> Iterator[DeviceInfo]:
    yield DeviceInfo(describe_device(pick_device(r.device)), torch.__version__)
