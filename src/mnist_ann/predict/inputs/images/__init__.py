"""Image files as MNIST-style digits, with Pillow and numpy only (the framing itself is core/framing.py).

decode       files decoded (any mode Pillow reads) and prepared, one task's share at a time
plain_png    8-bit grey PNGs read many at a time through Pillow's own row decoder
preparation  --background and --frame as a small value (light: no numpy)
pool         the decoding spread over worker processes, started before the model loads
heap         glibc's malloc tuned in every process that decodes
"""
