"""`python -m multimail_server.cli`: the same command as `multimail`."""

import sys

from . import main

main()
sys.exit(0)
