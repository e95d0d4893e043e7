"""What `mnist-ann predict` reads: files, folders and s3:// objects, as model-ready rows.

discovery      the inputs named or found in folders, and what is skipped and why
arrays         .npy, .npz and IDX files read in chunks of model-ready pixels
object_arrays  a uint8 .npy object cut into row ranges, each read with ranged GETs
images/        image files as MNIST-style digits (decode, modes, the worker pool)
"""
