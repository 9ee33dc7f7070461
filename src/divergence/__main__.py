"""``python -m divergence`` runs the command line."""

from divergence.cli import main

main()
