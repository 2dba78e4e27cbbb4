"""`orchestrator demo`: the whole outage story on one machine, against the local sandboxes."""
