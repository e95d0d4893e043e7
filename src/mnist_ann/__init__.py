"""mnist-ann: the classic Keras MNIST ANN as a reproducible DVC + MLflow + ONNX pipeline.

`from mnist_ann import Predictor` is the Python API of batch inference (docs/predict.md); it is
imported on first use, so that a stage importing any module of the package pays nothing for it.
"""

__version__ = "0.1.0"
__all__ = ["NumberPrediction", "Prediction", "Predictor", "__version__"]


def __getattr__(name: str):
    if name in ("Predictor", "Prediction", "NumberPrediction"):
        from .predict import predictor

        return getattr(predictor, name)
    raise AttributeError(f"module 'mnist_ann' has no attribute {name!r}")
