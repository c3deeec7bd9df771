"""maskgen: masked twins of face-recognition datasets, and Multi-Task ArcFace training on them."""

from __future__ import annotations

__version__ = "0.1.0"
