"""Monitors: one module per kind of signal about a platform, registered in monitors.registry."""
