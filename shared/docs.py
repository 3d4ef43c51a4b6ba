"""/docs on every process: Swagger UI from Overt itself (vendored at a pinned version in
static/swagger-ui, see `make swagger-ui`), on a page with no inline script, under a strict
Content-Security-Policy, that no other site may frame."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel

from shared.assets import Asset, asset_response
from shared.errors import ProblemError

STATIC = Path(__file__).parent / "static"
ASSETS = {
    "swagger-ui-bundle.js": Asset.file(
        STATIC / "swagger-ui" / "swagger-ui-bundle.js", "text/javascript"
    ),
    "swagger-ui.css": Asset.file(STATIC / "swagger-ui" / "swagger-ui.css", "text/css"),
    "docs.js": Asset.file(STATIC / "docs.js", "text/javascript"),
}
ASSET_HEADERS = {"X-Content-Type-Options": "nosniff"}
# Swagger UI sets element styles from script (React style props, not blocked by style-src)
# and its stylesheet inlines icons as data: URIs; it fetches the OpenAPI document and, for
# "try it out", this same origin only.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}
PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="{css}">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi_url}"></div>
<script src="{bundle}"></script>
<script src="{script}"></script>
</body>
</html>
"""


class NoSuchAsset(ProblemError):
    def __init__(self) -> None:
        super().__init__(404, "Not Found", slug="not-found", detail="No such documentation asset.")


def docs_router(*, title: str, openapi_url: str = "/openapi.json") -> APIRouter:
    """GET /docs (the page) and GET /docs/assets/NAME (its scripts and stylesheet)."""
    router = APIRouter(include_in_schema=False)
    page = PAGE.format(
        title=html.escape(f"{title}: API documentation"),
        openapi_url=html.escape(openapi_url),
        css=ASSETS["swagger-ui.css"].url("/docs/assets/swagger-ui.css"),
        bundle=ASSETS["swagger-ui-bundle.js"].url("/docs/assets/swagger-ui-bundle.js"),
        script=ASSETS["docs.js"].url("/docs/assets/docs.js"),
    )

    @router.get("/docs", response_class=HTMLResponse)
    async def docs() -> HTMLResponse:
        return HTMLResponse(page, headers=PAGE_HEADERS)

    @router.get("/docs/assets/{name}")
    async def docs_asset(request: Request, name: str) -> Response:
        asset = ASSETS.get(name)
        if asset is None:
            raise NoSuchAsset()
        return asset_response(request, asset, headers=ASSET_HEADERS)

    return router


def inline_body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A pydantic model's JSON Schema with its `$defs` inlined, for an operation's request
    body given by hand (`openapi_extra`): there a `#/$defs/...` reference would point into
    the OpenAPI document's root, where nothing is. The models are not recursive."""
    schema = model.model_json_schema()
    defs: dict[str, Any] = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return inline(defs[ref.removeprefix("#/$defs/")])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(value) for value in node]
        return node

    inlined: dict[str, Any] = inline(schema)
    return inlined


# Media types whose bodies an example can show: JSON and short text. Pages, scripts and
# files (HTML, JavaScript, CSS, ZIP) are what they are; their schema says so.
EXAMPLE_MEDIA_TYPES = ("application/json", "application/problem+json", "text/plain", "text/csv")


def load_examples(path: Path) -> dict[str, Any]:
    """A service's OpenAPI examples, by operation id (a webhook's: `webhook:EVENT`):
    `parameters` (name: value), `request` (media type: body) and `responses` (status: media
    type: body)."""
    examples: dict[str, Any] = orjson.loads(path.read_bytes())
    return examples


def apply_examples(spec: dict[str, Any], examples: dict[str, Any]) -> dict[str, Any]:
    """Put `examples` into the operations of `spec` they name. An example for an operation,
    a parameter, a media type or a status the spec does not have is an error: examples
    outliving their operation would show what the API no longer takes."""
    by_id = {
        operation["operationId"]: operation
        for operations in spec.get("paths", {}).values()
        for operation in operations.values()
    }
    # A webhook (a request Overt sends) by its event's name: `webhook:contact.withdrawn`.
    by_id |= {
        f"webhook:{name}": operation
        for name, operations in spec.get("webhooks", {}).items()
        for operation in operations.values()
    }
    for operation_id, given in examples.items():
        operation = by_id.get(operation_id)
        if operation is None:
            raise ValueError(f"example for {operation_id}: no such operation")
        parameters = {param["name"]: param for param in operation.get("parameters", [])}
        for name, value in given.get("parameters", {}).items():
            if name not in parameters:
                raise ValueError(f"example for {operation_id}: no parameter {name}")
            parameters[name]["example"] = value
        request = operation.get("requestBody", {}).get("content", {})
        for media_type, value in given.get("request", {}).items():
            if media_type not in request:
                raise ValueError(f"example for {operation_id}: no request body {media_type}")
            request[media_type]["example"] = value
        responses = operation.get("responses", {})
        for status, bodies in given.get("responses", {}).items():
            content = responses.get(status, {}).get("content", {})
            for media_type, value in bodies.items():
                if media_type not in content:
                    raise ValueError(f"example for {operation_id}: no {status} {media_type}")
                content[media_type]["example"] = value
    return spec
