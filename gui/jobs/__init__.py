"""Work off the GUI thread: one controller, typed requests in, typed events (core.app.events) out.

Kept free of imports so the worker child, which imports :mod:`gui.jobs.process`,
never loads Qt; import :mod:`gui.jobs.controller` for the window's side.
"""
