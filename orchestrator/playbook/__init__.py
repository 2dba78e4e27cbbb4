"""Playbooks: the YAML language (model), its loader and checks, templates, and the runner."""
