"""mnist-ann: the classic Keras MNIST ANN as a reproducible DVC + MLflow + ONNX pipeline."""

__version__ = "0.1.0"
