"""Migration scripts, one per revision, applied in order by `orchestrator db upgrade`."""
