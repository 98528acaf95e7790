"""``python -m experiments`` is the ``fargate-lab`` command."""

import sys

from experiments.cli import main

sys.exit(main())
