"""The static tables agree with the WSDL bundled with simple-salesforce (names, order, kinds)."""

from __future__ import annotations

import pytest

from provisioner.metadata import FIELDS, NESTED
from provisioner.metadata.build import IP_RELAXATION, PERMITTED_USERS, REFRESH_TYPES
from provisioner.metadata.types import FieldDef
from provisioner.scopes import METADATA_SCOPES
from tests.metadata.wsdl import enumeration, wsdl_fields


def _as_tuples(defs: tuple[FieldDef, ...]) -> list[tuple[str, str, bool, str | None]]:
    return [
        (d.name, "nested" if d.kind in ("nested", "opaque") else d.kind, d.many, d.nested)
        for d in defs
    ]


@pytest.mark.parametrize("type_name", sorted(FIELDS))
def test_top_level_table_matches_wsdl(type_name: str) -> None:
    ours = _as_tuples(FIELDS[type_name])
    theirs = wsdl_fields(type_name)
    # Opaque fields (not modelled) keep their name and position but not their nested type.
    theirs = [
        (n, k, m, t if any(o[0] == n and o[3] for o in ours) else None) for n, k, m, t in theirs
    ]
    assert ours == theirs


@pytest.mark.parametrize("type_name", sorted(NESTED))
def test_nested_table_matches_wsdl(type_name: str) -> None:
    ours = _as_tuples(NESTED[type_name])
    theirs = [
        (n, k, m, t if any(o[0] == n and o[3] for o in ours) else None)
        for n, k, m, t in wsdl_fields(type_name)
    ]
    assert ours == theirs


def test_every_nested_reference_is_modelled_or_opaque() -> None:
    for defs in [*FIELDS.values(), *NESTED.values()]:
        for d in defs:
            if d.kind == "nested":
                assert d.nested in NESTED, d


def test_enum_mappings_use_wsdl_values() -> None:
    assert sorted(PERMITTED_USERS.values()) == sorted(enumeration("PermittedUsersPolicyType"))
    assert sorted(eca for _, eca in REFRESH_TYPES.values()) == sorted(
        enumeration("RefreshTokenPolicyType")
    )
    assert list(METADATA_SCOPES) == enumeration("ConnectedAppOauthAccessScope")


def test_ip_relaxation_values_are_the_documented_ones() -> None:
    # Strings in the WSDL (no enumeration): values from the Metadata API guide.
    assert {ca for ca, _ in IP_RELAXATION.values()} == {
        "ENFORCE", "BYPASS_2FACTOR", "BYPASS", "ENFORCE_RELAXREFRESH",
    }  # fmt: skip
    assert {eca for _, eca in IP_RELAXATION.values()} == {
        "Enforce", "Bypass", "Bypass_2factor", "Enforce_RelaxRefresh",
    }  # fmt: skip
