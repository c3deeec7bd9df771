"""Faces: detection (dlib), 68-point landmarks (dlib's model, fitted in batches) and alignment
to the ArcFace 112x112 template."""

from maskgen.faces.align import ARCFACE_TEMPLATE_112, align_face, five_points
from maskgen.faces.crops import MIN_IMAGE_SIDE, is_too_small
from maskgen.faces.landmarks import Face, FaceFinder, FaceMode, find_model_file, load_face_finder
from maskgen.faces.shape_predictor import ShapePredictor, load_shape_predictor, read_shape_predictor

__all__ = [
    "ARCFACE_TEMPLATE_112",
    "MIN_IMAGE_SIDE",
    "Face",
    "FaceFinder",
    "FaceMode",
    "ShapePredictor",
    "align_face",
    "find_model_file",
    "five_points",
    "is_too_small",
    "load_face_finder",
    "load_shape_predictor",
    "read_shape_predictor",
]
