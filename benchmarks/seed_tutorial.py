"""The seed tutorial's script, as published, as the baseline of `make bench`.

Changes from the original, each needed to run here and nothing else: the data comes from the
pipeline's verified `data/raw/mnist.npz` (mnist.load_data() cannot reach its URL on these machines);
Keras 3 spells `Adam(lr=...)` as `Adam(learning_rate=...)`; `model.build` takes the input shape; the
model is saved as .keras (Keras 3 writes .h5 only through a legacy path); `plt.show()` becomes
`savefig` (no display). It prints its test accuracy as the last line, for the benchmark to read.
"""

import sys

import matplotlib
import numpy as np
import tensorflow as tf

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from keras import optimizers
from keras.layers import Dense
from keras.models import Sequential

npz_path, out_dir = sys.argv[1], sys.argv[2]

"1.加载数据"
with np.load(npz_path, allow_pickle=False) as data:
    (x_train, y_train), (x_test, y_test) = (data["x_train"], data["y_train"]), (data["x_test"], data["y_test"])
print("mnist_data:", x_train.shape, y_train.shape, x_test.shape, y_test.shape)

"2.数据预处理"


def preprocess(x, y):
    x = tf.cast(x, dtype=tf.float32) / 255.0
    x = tf.reshape(x, [28 * 28])
    y = tf.cast(y, dtype=tf.int32)
    y = tf.one_hot(y, depth=10)
    return x, y


batchsz = 128
db = tf.data.Dataset.from_tensor_slices((x_train, y_train))
db = db.map(preprocess).shuffle(60000).batch(batchsz)
ds_val = tf.data.Dataset.from_tensor_slices((x_test, y_test))
ds_val = ds_val.map(preprocess).batch(batchsz)

"3.构建网络模型"
model = Sequential(
    [
        Dense(256, activation="relu"),
        Dense(128, activation="relu"),
        Dense(64, activation="relu"),
        Dense(32, activation="relu"),
        Dense(10, activation="softmax"),
    ]
)
model.build(input_shape=(None, 28 * 28))
model.summary()

"4.模型编译"
model.compile(
    optimizer=optimizers.Adam(learning_rate=0.01),
    loss=tf.losses.CategoricalCrossentropy(from_logits=False),
    metrics=["accuracy"],
)

"5.模型训练"
history = model.fit(db, epochs=5, validation_data=ds_val, validation_freq=1)

"6.模型保存"
model.save(f"{out_dir}/ann_mnist.keras")

"7.模型评价"
loss_value, accuracy = model.evaluate(ds_val)

"8.模型测试"
sample = next(iter(ds_val))
x = sample[0]
y = sample[1]
pred = model.predict(x)
pred = tf.argmax(pred, axis=1)
y = tf.argmax(y, axis=1)
print(pred)
print(y)

"9.模型训练时的可视化"
acc = history.history["accuracy"]
val_acc = history.history["val_accuracy"]
loss = history.history["loss"]
val_loss = history.history["val_loss"]
plt.figure(1)
plt.plot(acc, label="Training Accuracy")
plt.plot(val_acc, label="Validation Accuracy")
plt.title("Training and Validation Accuracy")
plt.legend()
plt.savefig(f"{out_dir}/accuracy.png")
plt.figure(2)
plt.plot(loss, label="Training Loss")
plt.plot(val_loss, label="Validation Loss")
plt.title("Training and Validation Loss")
plt.legend()
plt.savefig(f"{out_dir}/loss.png")
print(f"test_accuracy {accuracy:.4f}")
