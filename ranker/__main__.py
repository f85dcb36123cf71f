"""`python -m ranker ...` is the `ranker` console script."""

import sys

from ranker.cli import main

sys.exit(main())
