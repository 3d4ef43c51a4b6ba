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


# Media types whose bodies an example shows inline: JSON, text, form posts, pages, scripts and
# styles (a page, script or style by a short real excerpt). A file (ZIP, any bytes) cannot be
# inlined in a JSON document: its example is described (summary, description, and where one
# exists a link to a real file), under `examples`.
EXAMPLE_MEDIA_TYPES = ("application/json", "application/problem+json", "text/plain", "text/csv")
FORM = "application/x-www-form-urlencoded"
EXCERPT_MEDIA_TYPES = ("text/html", "text/javascript", "text/css")
INLINE_MEDIA_TYPES = (*EXAMPLE_MEDIA_TYPES, FORM, *EXCERPT_MEDIA_TYPES)
FILE_MEDIA_TYPES = ("application/zip", "application/octet-stream")


def form_body(fields: dict[str, str], required: tuple[str, ...] = ()) -> dict[str, Any]:
    """An operation's form-encoded request body (`openapi_extra`), for a route that reads
    its form itself: each field a string, described."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            name: {"type": "string", "description": description}
            for name, description in fields.items()
        },
    }
    if required:
        schema["required"] = list(required)
    return {"requestBody": {"required": True, "content": {FORM: {"schema": schema}}}}


def cookie_parameters(cookies: dict[str, str]) -> dict[str, Any]:
    """Cookies a route reads itself, as OpenAPI cookie parameters (`openapi_extra`)."""
    return {
        "parameters": [
            {
                "name": name,
                "in": "cookie",
                "required": False,
                "description": description,
                "schema": {"type": "string"},
            }
            for name, description in cookies.items()
        ]
    }


def redirect(description: str, *, sets_cookie: str | None = None) -> dict[str, Any]:
    """A 303 answer: where the browser goes next, and the cookie it is given, if any."""
    headers: dict[str, Any] = {
        "Location": {"description": "where to go next", "schema": {"type": "string"}}
    }
    if sets_cookie is not None:
        headers["Set-Cookie"] = {"description": sets_cookie, "schema": {"type": "string"}}
    return {"description": description, "headers": headers}


def page(description: str) -> dict[str, Any]:
    """An answer that is an HTML page."""
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


def load_examples(path: Path) -> dict[str, Any]:
    """A service's OpenAPI examples, by operation id (a webhook's: `webhook:EVENT`):
    `parameters` (name: value), `request` (media type: body), `responses` (status: media
    type: body), `headers` (status: response header: value) and `files` (`request` or a
    status: media type: an Example Object describing a file no example can inline)."""
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
        put(operation_id, "parameter", parameters, given.get("parameters", {}))
        request = operation.get("requestBody", {}).get("content", {})
        put(operation_id, "request body", request, given.get("request", {}))
        responses = operation.get("responses", {})
        for status, bodies in given.get("responses", {}).items():
            content = responses.get(status, {}).get("content", {})
            put(operation_id, f"{status} body", content, bodies)
        for status, headers in given.get("headers", {}).items():
            declared = responses.get(status, {}).get("headers", {})
            put(operation_id, f"{status} header", declared, headers)
        for where, files in given.get("files", {}).items():
            content = request if where == "request" else responses.get(where, {}).get("content", {})
            described = {media_type: {"file": file} for media_type, file in files.items()}
            put(operation_id, f"{where} file", content, described, key="examples")
    return spec


def put(
    operation_id: str,
    what: str,
    targets: dict[str, Any],
    values: dict[str, Any],
    key: str = "example",
) -> None:
    """Each value as the example of the target of its name, which must exist."""
    for name, value in values.items():
        if name not in targets:
            raise ValueError(f"example for {operation_id}: no {what} {name}")
        targets[name][key] = value
