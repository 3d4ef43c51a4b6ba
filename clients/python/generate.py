"""Regenerate the typed Python client (overt_client) from the API's OpenAPI document with
openapi-python-client (a dev dependency, pinned in uv.lock): `make python-client`.

The generator cannot follow the filter tree (`filters`: a condition, or and / or / not
of filter trees, recursively) and would drop every model that holds one (a query's
answer among them). For the client only, a filter tree is a JSON object the caller
builds (its schema is in /docs); every other model stays typed.

    python clients/python/generate.py [OUTPUT_DIR]   # default: clients/python
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PACKAGE = "overt_client"
# Hand-kept modules in the package (the generator does not make them; it keeps them).
HAND_KEPT = ("events.py",)
FILTER_TREES = ("AllOf-", "AnyOf-", "NoneOf-", "HasDone-", "HasNotDone-")
CONFIG = f"""\
project_name_override: overt-client
package_name_override: {PACKAGE}
post_hooks:
  - "ruff format --quiet --no-cache ."
"""


def api_spec() -> dict[str, Any]:
    """The API's OpenAPI document, as `overt serve api` serves it."""
    sys.path.insert(0, str(ROOT))
    from services.api.app import create_app
    from shared.settings import Settings

    settings = Settings(
        database_url="postgresql+asyncpg://overt@db/overt",
        redis_url="redis://127.0.0.1:6379/0",
        secret_key="k" * 40,
    )
    spec: dict[str, Any] = create_app(settings).openapi()
    return spec


def is_filter_tree(schema: Any) -> bool:
    options = schema.get("anyOf", []) if isinstance(schema, dict) else []
    refs = [option.get("$ref", "") for option in options]
    return any(ref.rsplit("/", 1)[-1].startswith(FILTER_TREES) for ref in refs)


def for_the_generator(spec: dict[str, Any]) -> dict[str, Any]:
    """`spec` with each filter tree a free-form object (nullable where it was)."""

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if is_filter_tree(node):
                free: dict[str, Any] = {"type": "object", "additionalProperties": True}
                nullable = any(option.get("type") == "null" for option in node["anyOf"])
                simplified: dict[str, Any] = (
                    {"anyOf": [free, {"type": "null"}]} if nullable else dict(free)
                )
                for key in ("title", "description", "default"):
                    if key in node:
                        simplified[key] = node[key]
                return simplified
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(value) for value in node]
        return node

    simplified: dict[str, Any] = walk(spec)
    schemas = simplified["components"]["schemas"]
    for name in list(schemas):
        if name.startswith(FILTER_TREES):
            del schemas[name]
    # pydantic names a model's two sides `Name-Input` and `Name-Output`, which the generator
    # would both call `Name` (and drop one): the answer's side becomes `NameOutput`.
    renamed = {
        f"#/components/schemas/{name}": "#/components/schemas/"
        + name.removesuffix("-Input").removesuffix("-Output")
        + ("Output" if name.endswith("-Output") else "")
        for name in schemas
    }
    text = json.dumps(simplified)
    for old, new in renamed.items():
        text = text.replace(f'"{old}"', f'"{new}"')
    out: dict[str, Any] = json.loads(text)
    out["components"]["schemas"] = {
        renamed[f"#/components/schemas/{name}"].rsplit("/", 1)[-1]: schema
        for name, schema in out["components"]["schemas"].items()
    }
    for name, schema in out["components"]["schemas"].items():
        schema["title"] = name  # the generator names a class by its schema's title
    return out


def generate(output: Path) -> None:
    """Write the package to `output`/overt_client (replacing what is there)."""
    with tempfile.TemporaryDirectory(prefix="overt-client-") as scratch:
        work = Path(scratch)
        (work / "openapi.json").write_text(json.dumps(for_the_generator(api_spec()), indent=1))
        (work / "config.yaml").write_text(CONFIG)
        tools = str(Path(sys.executable).parent)
        subprocess.run(  # noqa: S603 (a fixed command: the pinned generator)
            [
                str(Path(tools) / "openapi-python-client"),
                "generate",
                "--path",
                str(work / "openapi.json"),
                "--config",
                str(work / "config.yaml"),
                "--meta",
                "none",
                "--output-path",
                str(work / PACKAGE),
            ],
            check=True,
            capture_output=True,
            env={**os.environ, "PATH": tools + os.pathsep + os.environ.get("PATH", "")},
        )
        target = output / PACKAGE
        kept = {name: (target / name).read_text() for name in HAND_KEPT if (target / name).exists()}
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(work / PACKAGE, target)
        for name, text in kept.items():
            (target / name).write_text(text)


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
