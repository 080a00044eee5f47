"""A handler module whose Init takes ``INIT_SECONDS``, as a heavy import or a slow start-up call would."""

from __future__ import annotations

import os
import time

time.sleep(float(os.environ["INIT_SECONDS"]))

from tests.local.stand_in_handler import handler  # noqa: E402

__all__ = ["handler"]
