"""Outage communication orchestrator: notice platform outages, freeze posts, reassure customers."""

__version__ = "0.1.0"
