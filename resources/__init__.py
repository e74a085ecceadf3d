"""Data files shipped with EdgeSlim (demo model, target profiles, icons)."""
