"""``python -m conformance.teams``: see ``conformance.teams.run``."""

import sys

from conformance.teams.run import main

sys.exit(main())
