"""The download stage as DVC runs it: a separate process, params from a file, one line and exit 1
when no source gives MNIST, nothing left at the output path."""

from __future__ import annotations

from helpers import REPO, run_script, run_stage, tiny_mnist, write_params
from mnist_ann.core.npy import save_npz

DOWNLOAD = REPO / "pipeline" / "download.py"


def test_download_stage_when_every_source_fails(tmp_path, closed_port_url):
    sources = [{"url": closed_port_url}, {"path": str(tmp_path / "absent.npz")}]
    params = write_params(tmp_path / "params.yaml", {"download.sources": sources, "download.retries": 1})
    output = tmp_path / "data" / "raw" / "mnist.npz"
    result = run_script(DOWNLOAD, "--params", params, "--output", output)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(
        f"error: no source gave verified MNIST arrays; url {closed_port_url}: connection refused (2 attempts); path "
    )
    assert "absent.npz: no such file" in last
    assert "Traceback" not in result.stderr
    assert not output.exists() and not list(tmp_path.rglob(".*.tmp*"))


def test_download_stage_refuses_arrays_that_are_not_mnist(tmp_path):
    """A local file is checked like any download: tiny random arrays are not MNIST (the stage's
    main(argv), in this process)."""
    local = tmp_path / "fake.npz"
    save_npz(local, tiny_mnist())
    params = write_params(tmp_path / "params.yaml", {"download.sources": [{"path": str(local)}]})
    result = run_stage("download", "--params", params, "--output", tmp_path / "mnist.npz")
    assert result.returncode == 1
    assert "x_train is uint8 (30, 28, 28), expected uint8 (60000, 28, 28)" in result.stderr.splitlines()[-1]
    assert not (tmp_path / "mnist.npz").exists()
