"""Evaluation: insightface's 10-fold verification, mask-usage accuracy, batched embeddings from a
checkpoint or an ONNX export, the export itself, and reports.

Importing this package does not import torch or onnxruntime: the backends load them when a model
is opened (:meth:`Embedder.from_path`), and :mod:`maskgen.evaluate.export` when it runs.
"""

from maskgen.evaluate.embedder import Embedder, Embeddings, ModelInfo, PhotoEmbeddings
from maskgen.evaluate.mask_usage import MASK_THRESHOLD, mask_accuracy, mask_probabilities
from maskgen.evaluate.report import EvalReport, SetResult
from maskgen.evaluate.sets import EvalSet, evaluate_model, evaluate_set
from maskgen.evaluate.verification import VerificationResult, evaluate_verification

__all__ = [
    "MASK_THRESHOLD",
    "Embedder",
    "Embeddings",
    "EvalReport",
    "EvalSet",
    "ModelInfo",
    "PhotoEmbeddings",
    "SetResult",
    "VerificationResult",
    "evaluate_model",
    "evaluate_set",
    "evaluate_verification",
    "mask_accuracy",
    "mask_probabilities",
]
