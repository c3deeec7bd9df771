"""Evaluation: a model's figures on verification ``.bin`` and RecordIO sets, photos, the ONNX
export, and reports. The embedder and the scores are ``maskgen.nn``'s (training validates with
the same code) and are re-exported here.

Importing this package does not import torch or onnxruntime: the backends load them when a model
is opened (:meth:`Embedder.from_path`), and :mod:`maskgen.evaluate.export` when it runs.
"""

from maskgen.evaluate.embedder import Embedder, PhotoEmbeddings
from maskgen.evaluate.report import EvalReport, SetResult
from maskgen.evaluate.sets import EvalSet, evaluate_model, evaluate_set
from maskgen.nn.embedder import Embeddings, ModelInfo
from maskgen.nn.mask_usage import MASK_THRESHOLD, mask_accuracy, mask_probabilities
from maskgen.nn.verification import VerificationResult, evaluate_verification

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
