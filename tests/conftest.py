"""Shared test set-up: Qt offscreen, one thread for torch so tests don't fight."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
