"""Boards reached over SSH: a registry of them, a check of what they have, and latency measured on them.

Every device figure computed on the desktop is an estimate; this package runs a
run's bundle on the user's own board and stores what it measured with the run,
so plots and profiles can use the real number.
"""
