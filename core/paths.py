"""Where EdgeSlim's shipped files live, whether installed or run from a checkout."""

from __future__ import annotations

from pathlib import Path

import resources as _resources

RESOURCES_DIR = Path(_resources.__file__).resolve().parent
DEMO_DIR = RESOURCES_DIR / "demo"
DEMO_WEIGHTS = DEMO_DIR / "demo_resnet.pt"
DEMO_CARD = DEMO_DIR / "demo_resnet.json"
