"""The small kernel both families share, and nothing else: it imports neither `training` nor `predict`
(tests/test_layout.py checks it). A change here reruns the pipeline's stages, on purpose.

errors      the errors both families raise; `first_line` and `shown` for one-line messages
files       atomic writes (a temporary name, renamed into place) and the writer-pid check
process     an entry point's life: logging, exit codes, signals, `run_main`, `end_process`
terminal    progress bars on stderr when it is a terminal, nothing otherwise
mnist       MNIST's shape and classes, and `preprocess`: images to model input for both families
npy         .npy and .npz files read safely (headers checked, never unpickled) and written atomically
onnx_model  the exported model run by onnxruntime (`OnnxModel`): never imports TensorFlow
framing     a user's digit image brought to MNIST's form: background, no-digit check, framing
ground      the ground of a photo of paper, flattened before the ink is measured
page_marks  what the page adds (ruled and squared lines, its edge, holes, specks), taken out of the ink
number_split  a number's picture cut into its digits, left to right
"""
