"""The training family: what the pipeline's stages (pipeline/*.py) run, and the model card.
Only the stage scripts and `mnist-ann card` / `check-params` import it; `predict` never does.

stage        the stage scripts' arguments, and Keras started with pinned numerics
numerics     the TensorFlow settings that give the same bits on every x86-64 CPU
params/      params.yaml as typed, checked sections (checks, the YAML file and its digest)
errors       the errors only stages raise (download, training, parity)
data         the pinned MNIST arrays, their check, and the preprocess stage's splits
download/    the download stage: sources tried in order, a cache, the registry mirror
augment/     distortions of the training digits, drawn afresh each epoch
model        the seed's network: build, fit, save and load (Keras)
archives     .keras archives with reproducible bytes, and their safety checks
evaluation/  scores on the test set, its robustness variants, photos and rendered digits
onnx_export  the Keras model as ONNX, and the parity gate's figures
plots        the seed's curves, the confusion matrix, the sample of predictions
trained      what evaluate and export load: the model, the test split, the training run
lineage      run names and change tags: which params and commit a run comes from
provenance   what a run records of the machine and the code that made it
card/        the model card, from the workspace or from a registry version
"""
