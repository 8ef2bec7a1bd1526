"""`python -m slipway.delivery <command> ...` = `slipway <command> ...`."""

import sys

from slipway.delivery.cli import main

sys.exit(main())
