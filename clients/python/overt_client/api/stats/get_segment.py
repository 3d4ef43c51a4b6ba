from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.problem import Problem
from ...models.segment_out import SegmentOut
from typing import cast


def _get_kwargs(
    site_id: str,
    segment_id: str,
) -> dict[str, Any]:

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/sites/{site_id}/segments/{segment_id}".format(
            site_id=quote(str(site_id), safe=""),
            segment_id=quote(str(segment_id), safe=""),
        ),
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Problem | SegmentOut | None:
    if response.status_code == 200:
        response_200 = SegmentOut.from_dict(response.json())

        return response_200

    if response.status_code == 401:
        response_401 = Problem.from_dict(response.json())

        return response_401

    if response.status_code == 403:
        response_403 = Problem.from_dict(response.json())

        return response_403

    if response.status_code == 404:
        response_404 = Problem.from_dict(response.json())

        return response_404

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
) -> Response[Problem | SegmentOut]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    site_id: str,
    segment_id: str,
    *,
    client: AuthenticatedClient,
) -> Response[Problem | SegmentOut]:
    """One saved segment

    Args:
        site_id (str):
        segment_id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | SegmentOut]
    """

    kwargs = _get_kwargs(
        site_id=site_id,
        segment_id=segment_id,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    site_id: str,
    segment_id: str,
    *,
    client: AuthenticatedClient,
) -> Problem | SegmentOut | None:
    """One saved segment

    Args:
        site_id (str):
        segment_id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | SegmentOut
    """

    return sync_detailed(
        site_id=site_id,
        segment_id=segment_id,
        client=client,
    ).parsed


async def asyncio_detailed(
    site_id: str,
    segment_id: str,
    *,
    client: AuthenticatedClient,
) -> Response[Problem | SegmentOut]:
    """One saved segment

    Args:
        site_id (str):
        segment_id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | SegmentOut]
    """

    kwargs = _get_kwargs(
        site_id=site_id,
        segment_id=segment_id,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    site_id: str,
    segment_id: str,
    *,
    client: AuthenticatedClient,
) -> Problem | SegmentOut | None:
    """One saved segment

    Args:
        site_id (str):
        segment_id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | SegmentOut
    """

    return (
        await asyncio_detailed(
            site_id=site_id,
            segment_id=segment_id,
            client=client,
        )
    ).parsed
