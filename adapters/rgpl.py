"""``rgpl``: R-GPL (Yuksel, Rau & Kamps 2025): GPL whose hard negatives are re-mined by the model under training
every ``remine_every`` steps (a trainer callback; one training loop). Per-round artifacts go to the work folder's
``rounds/<step>/``. The system is GPL's with R-GPL's settings. See docs/gpl.md.
"""

from __future__ import annotations

from typing import ClassVar

from harness.gpl.settings import RGPLSettings

from .gpl import GPLSystem


class RGPLSystem(GPLSystem):
    name: ClassVar[str] = "rgpl"
    description: ClassVar[str] = "R-GPL: GPL re-mining hard negatives with the student every k steps (default 30k)"
    Settings: ClassVar[type] = RGPLSettings
