"""Dialogs opened from the pages (sweeps, …): each builds a core request and runs nothing itself."""
