"""`python -m cmsf.cli`: the `cmsf` command."""

import sys

from cmsf.cli import main

sys.exit(main())
