"""The npm package `overt` (services/collector/snippet/package): it builds and packs with
node's built-ins and npm alone (nothing downloaded), its bundle is byte for byte the
collector's /overt.js, and its types declare exactly what its module exports. (In a
browser: tests/e2e/test_snippet_tracking.py, the package's test there.)"""

from __future__ import annotations

import json
import re
import subprocess
import tarfile
from pathlib import Path

from tests.helpers.node import node_and_npm

COLLECTOR = Path(__file__).resolve().parents[2] / "services" / "collector"
PACKAGE = COLLECTOR / "snippet" / "package"
SERVED = COLLECTOR / "static" / "overt.js"


def test_the_package_builds_and_its_bundle_is_the_served_snippet(tmp_path: Path) -> None:
    node, npm = node_and_npm()
    out = tmp_path / "out"
    subprocess.run(
        [node, str(PACKAGE / "build.mjs"), str(out)], check=True, capture_output=True, timeout=60
    )
    packed = subprocess.run(
        [npm, "pack", "--offline", "--json", "--pack-destination", str(tmp_path), str(out)],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    [made] = json.loads(packed.stdout)
    with tarfile.open(tmp_path / made["filename"]) as tarball:
        files = {
            member.name.removeprefix("package/"): tarball.extractfile(member).read()  # type: ignore[union-attr]
            for member in tarball.getmembers()
            if member.isfile()
        }
    assert sorted(files) == ["README.md", "index.d.ts", "index.js", "overt.js", "package.json"]
    assert files["overt.js"] == SERVED.read_bytes()
    manifest = json.loads(files["package.json"])
    assert manifest["name"] == "overt"
    assert manifest["exports"]["."] == {"types": "./index.d.ts", "default": "./index.js"}

    exported = subprocess.run(
        [
            node,
            "--input-type=module",
            "-e",
            f"import({json.dumps((out / 'index.js').as_uri())})"
            ".then(m => console.log(JSON.stringify(Object.keys(m).sort())))",
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    names = json.loads(exported.stdout)
    assert names == ["consent", "init", "pageview", "track"]
    declared = re.findall(r"export declare function (\w+)\(", files["index.d.ts"].decode())
    assert sorted(declared) == names
