"""What `mnist-ann predict` writes: prediction rows in CSV, JSON Lines or Parquet, the errors file,
shards, and the prepared images; every file written under a temporary name and renamed into place.

spec           OutputSpec: the format and columns every writer takes; the errors file's name
writers        the prediction file and the errors file, written atomically
csv_bytes      CSV rows built as bytes, many at a time
names          input names written safely (valid UTF-8; never a spreadsheet formula)
parquet_rows   typed Parquet columns
destinations   where a run writes: a local file, an object, a shard folder or prefix
shards         an output folder of shards, renamed into place whole, `_SUCCESS` last
object_shards  the same shards under an s3:// prefix
prepared       --save-prepared: the 28x28 images the model saw
"""
