"""EdgeSlim's headless engine.

Everything that computes lives here; the GUI and the CLI only drive it. This
package never imports Qt, and heavy libraries (torch, onnxruntime) are imported
inside the modules that need them so ``import core`` stays cheap.
"""

__version__ = "0.1.0"
