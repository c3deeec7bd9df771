"""The face-network core that training and evaluation share, so the two cannot disagree.

- ``models/``: the network registry (``create_model``, ``load_model``: iresnet r18-r100, tiny)
  and ``FaceNet``, the embedding and mask heads every network has;
- ``checkpoint``: the checkpoint file format (written by training, read by everyone);
- ``preprocess``: what a network is fed (aligned 112x112 RGB, (x - 127.5) / 127.5);
- ``embedder``: the one flip-sum :class:`Embedder`, over a checkpoint, an ONNX export or a
  network being trained; ``inference_model``: the graph PyTorch runs and ONNX exports;
- ``verification`` and ``mask_usage``: the scores (insightface's 10-fold protocol, mask-usage
  accuracy), numpy only.

``maskgen.train`` and ``maskgen.evaluate`` both build on this package and never import each
other. Import from the modules (``from maskgen.nn.models import create_model``): the package
itself loads nothing, so the numpy-only modules and ``embedder`` come without torch or
onnxruntime.
"""
