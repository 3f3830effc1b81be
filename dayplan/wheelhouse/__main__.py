"""`python -m dayplan.wheelhouse build|install`."""

import sys

from dayplan.wheelhouse.cli import main

sys.exit(main())
