"""Resolving what a command names: parent jobs, their folders and checkpoints."""
