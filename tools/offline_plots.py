"""Write .dvc/plots/offline.html: the page template of `dvc plots show/diff` with vega, vega-lite and
vega-embed inlined, so that the charts render without a network (DVC's own page loads them from a
CDN). The three packages come from the npm registry through `npm pack`, pinned below by version and
by the integrity hash the registry publishes; a tarball that does not match is refused.

    python tools/offline_plots.py          # needs npm and the registry; run after changing a pin

tests/test_plots.py checks the committed page against these pins and renders it in Chromium."""

from __future__ import annotations

import base64
import hashlib
import io
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = REPO / ".dvc" / "plots" / "offline.html"

# (package, version, the tarball's sha512 as npm's dist.integrity gives it, the script inside it)
PINS = (
    (
        "vega",
        "5.33.1",
        "1fArfVDUqVbb5z8n+/nVQb+VNBzx8svY6CrsyTK4Ujm4yrd9I1auoKxBAPXLCavY1LcrbHUskQbGUP8gXOzyQw==",
        "vega.min.js",
    ),
    (
        "vega-lite",
        "5.23.0",
        "l4J6+AWE3DIjvovEoHl2LdtCUkfm4zs8Xxx7INwZEAv+XVb6kR6vIN1gt3t2gN2gs/y4DYTs/RPoTeYAuEg6mA==",
        "vega-lite.min.js",
    ),
    (
        "vega-embed",
        "6.29.0",
        "PmlshTLtLFLgWtF/b23T1OwX53AugJ9RZ3qPE2c01VFAbgt3/GSNI/etzA/GzdrkceXFma+FDHNXUppKuM0U6Q==",
        "vega-embed.min.js",
    ),
)

PAGE = """<!DOCTYPE html>
<html>
<head>
    {{refresh_tag}}
    <meta charset="utf-8">
    <title>DVC Plot</title>
    <!-- Written by tools/offline_plots.py: {packages}, inlined so that the page needs no network. -->
{scripts}
    <script>
        // Every chart as SVG rather than on a canvas: its legends and axes are then text, which a
        // reader's tools (find, copy, a screen reader) and the tests can read
        const embedOnCanvas = vegaEmbed;
        vegaEmbed = (element, spec, options) => embedOnCanvas(element, spec, {{renderer: "svg", ...options}});
    </script>
    <style>
        table {{
            border-spacing: 15px;
        }}
    </style>
</head>
<body>
    {{plot_divs}}
</body>
</html>
"""


def script_tag(package: str, version: str, code: str) -> str:
    """One inlined script, marked with its package, version and sha256 (which the tests check)."""
    digest = hashlib.sha256(code.encode()).hexdigest()
    if "</script" in code.lower():
        raise SystemExit(f"{package}@{version}: its script contains '</script' and cannot be inlined")
    return f'    <script data-package="{package}@{version}" data-sha256="{digest}">\n{code}\n    </script>'


def fetch(package: str, version: str, integrity: str, script: str, folder: Path) -> str:
    subprocess.run(["npm", "pack", "--silent", f"{package}@{version}"], cwd=folder, check=True, capture_output=True)
    tarball = (folder / f"{package}-{version}.tgz").read_bytes()
    found = base64.b64encode(hashlib.sha512(tarball).digest()).decode()
    if found != integrity:
        raise SystemExit(f"{package}@{version}: the tarball's sha512 is {found}, the pin says {integrity}")
    with tarfile.open(fileobj=io.BytesIO(tarball)) as archive:
        member = archive.extractfile(f"package/build/{script}")
        if member is None:
            raise SystemExit(f"{package}@{version}: package/build/{script} is not a file in the tarball")
        return member.read().decode("utf-8")


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        tags = [script_tag(p, v, fetch(p, v, i, s, Path(folder))) for p, v, i, s in PINS]
    packages = ", ".join(f"{p}@{v}" for p, v, _, _ in PINS)
    page = PAGE.format(packages=packages, scripts="\n".join(tags))
    TEMPLATE.parent.mkdir(parents=True, exist_ok=True)
    partial = TEMPLATE.with_suffix(".tmp")
    partial.write_text(page, encoding="utf-8")
    partial.replace(TEMPLATE)
    print(f"{TEMPLATE.relative_to(REPO)}: {packages}, {len(page):,} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
