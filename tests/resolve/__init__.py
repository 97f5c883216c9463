"""Resolving parents: checkpoint selection by best, latest and epoch."""
