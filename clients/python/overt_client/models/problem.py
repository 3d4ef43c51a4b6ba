from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
    from ..models.problem_errors_type_0_item import ProblemErrorsType0Item


T = TypeVar("T", bound="Problem")


@_attrs_define
class Problem:
    """The problem+json body (RFC 9457).

    Attributes:
        type_ (str): A URI naming the problem: `https://overt.dev/problems/` and one of these slugs:

            - `bad-request`: The request could not be read (for example a body that does not parse).
            - `malformed-json`: The body is not valid UTF-8 JSON.
            - `bad-body`: The body is not what this operation takes.
            - `validation-error`: A field is missing or invalid; `errors` lists each one.
            - `invalid-event`: An event failed validation; nothing of the batch was queued.
            - `unauthorized`: Authentication is missing or wrong.
            - `api-key-required`: No API key: send `Authorization: Bearer KEY`.
            - `invalid-api-key`: The API key is unknown, revoked or expired.
            - `forbidden`: Not allowed.
            - `missing-scope`: The API key lacks the scope this operation needs.
            - `wrong-site`: The API key belongs to another site.
            - `wrong-origin`: The event's Origin is not one of the site's hosts.
            - `not-found`: No such resource.
            - `bad-dashboard-state`: The dashboard address names no real period, filter or view.
            - `unknown-site`: No site is registered with this id.
            - `goal-not-found`: The site has no such goal.
            - `segment-not-found`: The site has no such segment.
            - `unknown-segment`: A filter names a segment the site does not have.
            - `unknown-definition-version`: The site has no engagement definition of this version.
            - `contact-not-found`: No consented contact with this subject id.
            - `webhook-not-found`: The site has no such webhook subscription.
            - `unknown-purpose`: The site has no consent purpose of this name.
            - `unknown-cmp`: No glue for this consent manager.
            - `unknown-language`: The widget has no words in this language.
            - `method-not-allowed`: The path does not take this method; `Allow` lists those it does.
            - `request-timeout`: The request's head or body arrived too slowly.
            - `payload-too-large`: The body is larger than the limit.
            - `unsupported-media-type`: The body's Content-Type is not one this operation takes.
            - `goal-name-taken`: The site already has a goal of this name.
            - `too-many-goals`: The site has as many goals as it may have.
            - `segment-name-taken`: The site already has a segment of this name.
            - `too-many-segments`: The site has as many segments as it may have.
            - `segments-too-large`: The filters with their segments expanded are too large.
            - `definition-conflict`: The engagement definition changed since the version given.
            - `outcome-id-reused`: This outcome id was used for another outcome.
            - `no-identification-consent`: The subject has not given identification consent.
            - `export-not-ready`: The export has not finished yet.
            - `bad-import`: The upload is not a readable Plausible or Umami export.
            - `k-anonymity`: The answer would single out fewer than k visitors.
            - `bad-filter`: A filter was refused by the database.
            - `mixed-currencies`: Revenue in several currencies cannot be added up.
            - `webhook-target-refused`: The webhook URL is not one Overt will call.
            - `gpc-opt-out`: The browser sent Global Privacy Control: an opt-out of this.
            - `consent-required`: This needs a consent the visitor has not given.
            - `subject-required`: A subject credential is required.
            - `invalid-subject`: The subject credential is unknown or does not match.
            - `notice-changed`: The notice changed since the page was shown; ask again.
            - `consent-token-malformed`: The consent token cannot be read.
            - `consent-token-signature`: The consent token's signature does not verify.
            - `consent-token-expired`: The consent token has expired.
            - `consent-token-site`: The consent token is for another site.
            - `consent-token-purpose`: The consent token does not cover this purpose.
            - `consent-token-revoked`: Consent was withdrawn since the token was issued.
            - `invalid-assertion`: The identity assertion's signature or time does not verify.
            - `invalid-email`: Not an e-mail address.
            - `verification-link`: The verification link is invalid or expired.
            - `csrf`: The form's check value is missing or wrong.
            - `login-required`: The web app's page needs a signed-in user (a redirect to /app/login).
            - `role-required`: The web app's page needs a higher role on the site than the user's.
            - `cross-site-session`: The request does not come from this site.
            - `too-many-requests`: Too many requests; `Retry-After` says when to try again.
            - `rate-limited`: Too many requests; `Retry-After` says when to try again.
            - `query-timeout`: The query took longer than the limit.
            - `metrics-token-required`: /metrics needs the metrics token.
            - `metrics-not-local`: /metrics answers loopback only unless a metrics token is set.
            - `not-ready`: A dependency (database, Redis) is not reachable.
            - `queue-unavailable`: The event queue cannot take events now; nothing was queued.
            - `revocation-unavailable`: A withdrawal cannot be published now; nothing was recorded.
            - `unavailable`: A dependency is not reachable; try again.
            - `internal`: An unexpected error; the log has it under the request id.
            - `http-error`: Another HTTP error; `status` says which.
        title (str):
        status (int):
        detail (None | str | Unset):
        instance (None | str | Unset):
        errors (list[ProblemErrorsType0Item] | None | Unset):
    """

    type_: str
    title: str
    status: int
    detail: None | str | Unset = UNSET
    instance: None | str | Unset = UNSET
    errors: list[ProblemErrorsType0Item] | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.problem_errors_type_0_item import ProblemErrorsType0Item  # noqa: PLC0415

        type_ = self.type_

        title = self.title

        status = self.status

        detail: None | str | Unset
        if isinstance(self.detail, Unset):
            detail = UNSET
        else:
            detail = self.detail

        instance: None | str | Unset
        if isinstance(self.instance, Unset):
            instance = UNSET
        else:
            instance = self.instance

        errors: list[dict[str, Any]] | None | Unset
        if isinstance(self.errors, Unset):
            errors = UNSET
        elif isinstance(self.errors, list):
            errors = []
            for errors_type_0_item_data in self.errors:
                errors_type_0_item = errors_type_0_item_data.to_dict()
                errors.append(errors_type_0_item)

        else:
            errors = self.errors

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "type": type_,
                "title": title,
                "status": status,
            }
        )
        if detail is not UNSET:
            field_dict["detail"] = detail
        if instance is not UNSET:
            field_dict["instance"] = instance
        if errors is not UNSET:
            field_dict["errors"] = errors

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.problem_errors_type_0_item import ProblemErrorsType0Item  # noqa: PLC0415

        d = dict(src_dict)
        type_ = d.pop("type")

        title = d.pop("title")

        status = d.pop("status")

        def _parse_detail(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        detail = _parse_detail(d.pop("detail", UNSET))

        def _parse_instance(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        instance = _parse_instance(d.pop("instance", UNSET))

        def _parse_errors(data: object) -> list[ProblemErrorsType0Item] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                errors_type_0 = []
                _errors_type_0 = data
                for errors_type_0_item_data in _errors_type_0:
                    errors_type_0_item = ProblemErrorsType0Item.from_dict(
                        errors_type_0_item_data
                    )

                    errors_type_0.append(errors_type_0_item)

                return errors_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[ProblemErrorsType0Item] | None | Unset, data)

        errors = _parse_errors(d.pop("errors", UNSET))

        problem = cls(
            type_=type_,
            title=title,
            status=status,
            detail=detail,
            instance=instance,
            errors=errors,
        )

        problem.additional_properties = d
        return problem

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
