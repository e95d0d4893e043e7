"""Batch inference with the exported ONNX model: `mnist-ann predict` and its Python API, `Predictor`.
No pipeline stage imports this package, and nothing in it imports TensorFlow, Keras or DVC.

  engine        the one scoring loop: inputs to batches to probabilities to rows, in input order
  predictor     Predictor(model).predict(images): the API, through the engine
  command, job  the subcommand's options; one run: find, score (here or on Ray), write
  scoring       the command's run on this machine: the engine's rows into a writer, images decoded ahead
  model_source  the .onnx file a run uses: a file, an MLflow URI fetched, or the pipeline's export
  settings      the run's options as one value (batch size, preparation, .npz key, workers)
  progress      the progress bar, on a terminal only
  objects       s3:// objects and prefixes through pyarrow's S3 filesystem
  errors        predict's own errors, and an error as data across a process boundary
  inputs/       what is read: discovery, arrays, object_arrays, images/
  outputs/      what is written: spec, writers, csv_bytes, names, parquet_rows, number_rows, destinations,
                shards, object_shards, prepared
  cluster/      the same job on a Ray cluster (--ray): driver, actor, connection, task_shards
"""
