from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.problem import Problem
from ...models.realtime_out import RealtimeOut
from ...types import UNSET, Unset
from typing import cast


def _get_kwargs(
    site_id: str,
    *,
    limit: int | Unset = 10,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    params["limit"] = limit

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/sites/{site_id}/realtime".format(
            site_id=quote(str(site_id), safe=""),
        ),
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Problem | RealtimeOut | None:
    if response.status_code == 200:
        response_200 = RealtimeOut.from_dict(response.json())

        return response_200

    if response.status_code == 401:
        response_401 = Problem.from_dict(response.json())

        return response_401

    if response.status_code == 403:
        response_403 = Problem.from_dict(response.json())

        return response_403

    if response.status_code == 422:
        response_422 = Problem.from_dict(response.json())

        return response_422

    if response.status_code == 429:
        response_429 = Problem.from_dict(response.json())

        return response_429

    if response.status_code == 500:
        response_500 = Problem.from_dict(response.json())

        return response_500

    if response.status_code == 503:
        response_503 = Problem.from_dict(response.json())

        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[Problem | RealtimeOut]:
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
    limit: int | Unset = 10,
) -> Response[Problem | RealtimeOut]:
    """Visitors in the last 5 minutes; the last 30 minutes' pages and sources

     Read from the raw events. Sources are a quasi-identifier: those with fewer than k engaged visitors
    fold into (other) as in POST /v1/query (`notes` says so); pages are answered whole.

    Args:
        site_id (str):
        limit (int | Unset): rows per list Default: 10.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | RealtimeOut]
    """

    kwargs = _get_kwargs(
        site_id=site_id,
        limit=limit,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    site_id: str,
    *,
    client: AuthenticatedClient,
    limit: int | Unset = 10,
) -> Problem | RealtimeOut | None:
    """Visitors in the last 5 minutes; the last 30 minutes' pages and sources

     Read from the raw events. Sources are a quasi-identifier: those with fewer than k engaged visitors
    fold into (other) as in POST /v1/query (`notes` says so); pages are answered whole.

    Args:
        site_id (str):
        limit (int | Unset): rows per list Default: 10.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | RealtimeOut
    """

    return sync_detailed(
        site_id=site_id,
        client=client,
        limit=limit,
    ).parsed


async def asyncio_detailed(
    site_id: str,
    *,
    client: AuthenticatedClient,
    limit: int | Unset = 10,
) -> Response[Problem | RealtimeOut]:
    """Visitors in the last 5 minutes; the last 30 minutes' pages and sources

     Read from the raw events. Sources are a quasi-identifier: those with fewer than k engaged visitors
    fold into (other) as in POST /v1/query (`notes` says so); pages are answered whole.

    Args:
        site_id (str):
        limit (int | Unset): rows per list Default: 10.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | RealtimeOut]
    """

    kwargs = _get_kwargs(
        site_id=site_id,
        limit=limit,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    site_id: str,
    *,
    client: AuthenticatedClient,
    limit: int | Unset = 10,
) -> Problem | RealtimeOut | None:
    """Visitors in the last 5 minutes; the last 30 minutes' pages and sources

     Read from the raw events. Sources are a quasi-identifier: those with fewer than k engaged visitors
    fold into (other) as in POST /v1/query (`notes` says so); pages are answered whole.

    Args:
        site_id (str):
        limit (int | Unset): rows per list Default: 10.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | RealtimeOut
    """

    return (
        await asyncio_detailed(
            site_id=site_id,
            client=client,
            limit=limit,
        )
    ).parsed
