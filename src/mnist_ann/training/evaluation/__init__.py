"""The evaluate stage's measures of a model: numpy and Pillow only.

scores      accuracy, per-digit figures, confusion, the most confident mistakes
robustness  the test set's variants (moved, turned, photographed, rendered), and the accuracy on each
photos      digits as a phone photographs a sheet: uneven light, noise
rendered    digits that MNIST did not make, rendered from fonts on paper: a fixed, seeded set
paired      two models measured on the same pictures, and the statistics of a paired difference
"""
