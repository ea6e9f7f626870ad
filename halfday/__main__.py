"""`python -m halfday`: the `halfday` command."""

import sys

from halfday.command import main

sys.exit(main())
