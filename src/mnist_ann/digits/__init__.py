"""Digits as people make them, brought to MNIST's form; numpy and Pillow only, shared by `predict`
(scoring people's images) and the evaluate stage (measuring how a model reads them).

framing     the background decided, the no-digit check, MNIST's framing
ground      the ground of a photo of paper, flattened before the ink is measured
rendered    digits that MNIST did not make, rendered from fonts on paper: a fixed, seeded set
photos      digits as a phone photographs a sheet: uneven light, noise
robustness  the evaluate stage's variants of the test set, and the accuracy on each
"""
