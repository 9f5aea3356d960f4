"""`python -m studio` opens the app; any arguments go to the same CLI as `studio`."""

import sys

from studio.cli import main

if __name__ == "__main__":
    sys.exit(main())
