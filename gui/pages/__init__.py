"""Qt-free page models: each page's state and rules, testable without a window (the views in gui/panels draw them)."""
