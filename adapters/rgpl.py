"""``rgpl``: R-GPL (Yuksel, Rau & Kamps 2025): GPL whose hard negatives are re-mined by the model under training
every ``remine_every`` steps (a trainer callback; one training loop). Per-round artifacts go to the work folder's
``rounds/<step>/``. See docs/gpl.md.
"""

from __future__ import annotations

from typing import ClassVar

from harness.datasets import Dataset
from harness.gpl.settings import RGPLSettings
from harness.systems import RunContext, SystemOutput

from .gpl import adapt_and_retrieve


class RGPLSystem:
    name: ClassVar[str] = "rgpl"
    description: ClassVar[str] = "R-GPL: GPL re-mining hard negatives with the student every k steps (default 30k)"
    Settings: ClassVar[type] = RGPLSettings

    def retrieve(self, dataset: Dataset, settings: RGPLSettings, ctx: RunContext) -> SystemOutput:
        return adapt_and_retrieve(dataset, settings, ctx)
