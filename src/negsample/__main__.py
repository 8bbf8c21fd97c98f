"""``python -m negsample ...`` runs the ``negsample`` command."""
import sys

from .cli import main

sys.exit(main())
