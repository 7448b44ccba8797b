"""``python -m ingest.cli ARGS``: how linetrace starts its own subcommands as child processes."""

import sys

from ingest.cli.commands import main

sys.exit(main())
