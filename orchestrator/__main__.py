"""Lets `python -m orchestrator` behave like the `orchestrator` console script."""

from orchestrator.cli import main

main()
