"""``python -m ivr.cli``: the command line, as the ``ivr`` script."""

import sys

from ivr.cli import main

if __name__ == "__main__":
    sys.exit(main())
