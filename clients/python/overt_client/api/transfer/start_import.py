from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.job_out import JobOut
from ...models.problem import Problem
from ...models.start_import_format_type_0 import StartImportFormatType0
from ...types import File, FileTypes
from ...types import UNSET, Unset
from io import BytesIO
from typing import cast


def _get_kwargs(
    site_id: str,
    *,
    body: File,
    filename: str | Unset = "upload.zip",
    format_: None | StartImportFormatType0 | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    params: dict[str, Any] = {}

    params["filename"] = filename

    json_format_: None | str | Unset
    if isinstance(format_, Unset):
        json_format_ = UNSET
    elif isinstance(format_, StartImportFormatType0):
        json_format_ = format_.value
    else:
        json_format_ = format_
    params["format"] = json_format_

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/sites/{site_id}/imports".format(
            site_id=quote(str(site_id), safe=""),
        ),
        "params": params,
    }

    _kwargs["content"] = body.payload
    headers["Content-Type"] = "application/octet-stream"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> JobOut | Problem | None:
    if response.status_code == 202:
        response_202 = JobOut.from_dict(response.json())

        return response_202

    if response.status_code == 400:
        response_400 = Problem.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = Problem.from_dict(response.json())

        return response_401

    if response.status_code == 403:
        response_403 = Problem.from_dict(response.json())

        return response_403

    if response.status_code == 413:
        response_413 = Problem.from_dict(response.json())

        return response_413

    if response.status_code == 422:
        response_422 = Problem.from_dict(response.json())

        return response_422

    if response.status_code == 429:
        response_429 = Problem.from_dict(response.json())

        return response_429

    if response.status_code == 500:
        response_500 = Problem.from_dict(response.json())

        return response_500

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[JobOut | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    site_id: str,
    *,
    client: AuthenticatedClient,
    body: File,
    filename: str | Unset = "upload.zip",
    format_: None | StartImportFormatType0 | Unset = UNSET,
) -> Response[JobOut | Problem]:
    """Import a Plausible CSV export (zip or one CSV) or an Umami export

     The body is the file itself, a zip or a CSV (any content type). It is read whole and checked first
    (a bad or hostile file is a 4xx problem naming the file and line), then stored by a background job;
    poll GET .../imports/{id}. Imported data is kept apart and counted only by queries with `include:
    {imports: true}`.

    Args:
        site_id (str):
        filename (str | Unset): the file's name (a report's, for one Plausible CSV) Default:
            'upload.zip'.
        format_ (None | StartImportFormatType0 | Unset): whose export; found from the columns when
            absent
        body (File):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[JobOut | Problem]
    """

    kwargs = _get_kwargs(
        site_id=site_id,
        body=body,
        filename=filename,
        format_=format_,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    site_id: str,
    *,
    client: AuthenticatedClient,
    body: File,
    filename: str | Unset = "upload.zip",
    format_: None | StartImportFormatType0 | Unset = UNSET,
) -> JobOut | Problem | None:
    """Import a Plausible CSV export (zip or one CSV) or an Umami export

     The body is the file itself, a zip or a CSV (any content type). It is read whole and checked first
    (a bad or hostile file is a 4xx problem naming the file and line), then stored by a background job;
    poll GET .../imports/{id}. Imported data is kept apart and counted only by queries with `include:
    {imports: true}`.

    Args:
        site_id (str):
        filename (str | Unset): the file's name (a report's, for one Plausible CSV) Default:
            'upload.zip'.
        format_ (None | StartImportFormatType0 | Unset): whose export; found from the columns when
            absent
        body (File):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        JobOut | Problem
    """

    return sync_detailed(
        site_id=site_id,
        client=client,
        body=body,
        filename=filename,
        format_=format_,
    ).parsed


async def asyncio_detailed(
    site_id: str,
    *,
    client: AuthenticatedClient,
    body: File,
    filename: str | Unset = "upload.zip",
    format_: None | StartImportFormatType0 | Unset = UNSET,
) -> Response[JobOut | Problem]:
    """Import a Plausible CSV export (zip or one CSV) or an Umami export

     The body is the file itself, a zip or a CSV (any content type). It is read whole and checked first
    (a bad or hostile file is a 4xx problem naming the file and line), then stored by a background job;
    poll GET .../imports/{id}. Imported data is kept apart and counted only by queries with `include:
    {imports: true}`.

    Args:
        site_id (str):
        filename (str | Unset): the file's name (a report's, for one Plausible CSV) Default:
            'upload.zip'.
        format_ (None | StartImportFormatType0 | Unset): whose export; found from the columns when
            absent
        body (File):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[JobOut | Problem]
    """

    kwargs = _get_kwargs(
        site_id=site_id,
        body=body,
        filename=filename,
        format_=format_,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    site_id: str,
    *,
    client: AuthenticatedClient,
    body: File,
    filename: str | Unset = "upload.zip",
    format_: None | StartImportFormatType0 | Unset = UNSET,
) -> JobOut | Problem | None:
    """Import a Plausible CSV export (zip or one CSV) or an Umami export

     The body is the file itself, a zip or a CSV (any content type). It is read whole and checked first
    (a bad or hostile file is a 4xx problem naming the file and line), then stored by a background job;
    poll GET .../imports/{id}. Imported data is kept apart and counted only by queries with `include:
    {imports: true}`.

    Args:
        site_id (str):
        filename (str | Unset): the file's name (a report's, for one Plausible CSV) Default:
            'upload.zip'.
        format_ (None | StartImportFormatType0 | Unset): whose export; found from the columns when
            absent
        body (File):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        JobOut | Problem
    """

    return (
        await asyncio_detailed(
            site_id=site_id,
            client=client,
            body=body,
            filename=filename,
            format_=format_,
        )
    ).parsed
