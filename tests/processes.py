"""The `cmsf` executable of this virtualenv, which the tests run as a real process."""

from __future__ import annotations

import sys
from pathlib import Path

CMSF = str(Path(sys.executable).with_name("cmsf"))
