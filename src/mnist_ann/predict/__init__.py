"""Batch inference with the exported ONNX model: `mnist-ann predict` and its Python API, `Predictor`.
No pipeline stage imports this package, and nothing in it imports TensorFlow.

  predictor     Predictor(model).predict(images): the API, and what the command scores with
  command, job  the subcommand's options; one run: find, score (here or on Ray), write
  model_source  the .onnx file a run uses: a file, an MLflow URI fetched, or the pipeline's export
  settings      the run's options as one value (batch size, preparation, .npz key, workers)
  discovery     the files named or found in folders, and what is skipped and why
  arrays        .npy, .npz and IDX files read in chunks of model-ready pixels
  scoring       the inputs scored in order, chunk by chunk, into a writer
  writers       the CSV / JSON Lines prediction files and the errors file, written atomically
  shards        an output folder of 100k-row shards, renamed into place whole
  names         input names written safely (valid UTF-8; never a spreadsheet formula)
  progress      the progress bar, on a terminal only
  images/       image files as MNIST-style digits (decode, the worker pool; framing is core/framing.py)
  cluster/      the same job on a Ray cluster (--ray)
"""
