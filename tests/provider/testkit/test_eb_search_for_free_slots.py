"""EB_SearchForFreeSlots.tstp: the kit's 18 slot-search schedules."""

from __future__ import annotations

from tests.provider.testkit.kit import (
    HCS,
    HCS_NO_SLOTS,
    HCS_SLOTS_ONLY,
    JSON_ACCEPT,
    REVINCLUDES,
    STD_INCLUDES,
    WINDOW,
    XML_ACCEPT,
    Kit,
    headers,
    healthcare_returned,
    jwt,
    kit_time,
    orgs_returned,
    practitioner_roles_returned,
    practitioners_returned,
    response_is,
    response_is_json,
    response_is_xml,
    response_was_gzip,
    search_count,
    slots_status_free,
    slots_within,
)


def _query(service: str = HCS, status: str = "free", includes: str = STD_INCLUDES) -> str:
    query = f"schedule.actor%3Ahealthcareservice={service}&{WINDOW}&status={status}"
    return f"{query}&{includes}" if includes else query


def _bundle_ok(kit: Kit, query: str, *extra: dict[str, str], token: str | None = None) -> dict:
    response = kit.search(query, *extra, token=token)
    assert response.status_code == 200, response.text[:300]  # "HTTP Response must be HTTP 200"
    return response_is(response, "Bundle") | {"_response": response}  # ResponseIsBundle


def _times(bundle: dict) -> None:
    slots_status_free(bundle)  # SFFSSlotsStatusFree
    slots_within(bundle, kit_time(1), kit_time(4))  # SFFSSlotsTooEarly, SFFSSlotsTooLate


def test_sffs_with_valid_parameters_parameter_json(kit: Kit) -> None:
    bundle = _bundle_ok(kit, _query() + "&_format=json")
    response_is_json(bundle["_response"])
    assert search_count(bundle) > 0


def test_sffs_with_valid_parameters_header_json(kit: Kit) -> None:
    bundle = _bundle_ok(kit, _query(), JSON_ACCEPT)
    response_is_json(bundle["_response"])
    assert search_count(bundle) > 0


def test_sffs_with_valid_parameters_parameter_xml(kit: Kit) -> None:
    bundle = _bundle_ok(kit, _query() + "&_format=xml")
    response_is_xml(bundle["_response"])
    _times(bundle)
    assert search_count(bundle) > 0


def test_sffs_with_valid_parameters_header_xml(kit: Kit) -> None:
    bundle = _bundle_ok(kit, _query(), XML_ACCEPT)
    response_is_xml(bundle["_response"])
    assert search_count(bundle) > 0


def test_sffs_with_valid_parameters_jwt_no_practitioner(kit: Kit) -> None:
    bundle = _bundle_ok(kit, _query(), JSON_ACCEPT, token=jwt("slot_search_no_practitioner"))
    response_is_json(bundle["_response"])
    _times(bundle)
    assert search_count(bundle) > 0


def test_sffs_with_valid_parameters_3_days(kit: Kit) -> None:
    assert search_count(_bundle_ok(kit, _query(), JSON_ACCEPT)) > 0


def _includes(bundle: dict) -> None:
    practitioners_returned(bundle)  # SFFSPractitionersReturned
    practitioner_roles_returned(bundle)  # SFFSPractitionerRolesReturned
    orgs_returned(bundle)  # SFFSOrgsReturned
    healthcare_returned(bundle)  # SFFSHealthcareOrgsReturned
    assert search_count(bundle) > 0


def test_sffs_with_valid_parameters_includes(kit: Kit) -> None:
    _includes(_bundle_ok(kit, _query(), JSON_ACCEPT))


def test_sffs_with_valid_parameters_includes_slots_only(kit: Kit) -> None:
    _includes(_bundle_ok(kit, _query(HCS_SLOTS_ONLY), JSON_ACCEPT))


def test_sffs_no_slots_happy_path(kit: Kit) -> None:
    assert (
        search_count(_bundle_ok(kit, _query(HCS_NO_SLOTS), JSON_ACCEPT)) == 0
    )  # SearchCountIsZero


def test_sffs_invalid(kit: Kit) -> None:
    """SFFSWithInvalidQuery: `startXXXXXXX` → 400. DESIGN ignores unknown parameters unless the
    request says `Prefer: handling=strict` (FHIR's lenient default), so the port says so."""
    query = _query().replace("start=ge", "startXXXXXXX=ge")
    response = kit.search(query, JSON_ACCEPT, {"Prefer": "handling=strict"})
    assert response.status_code == 400, response.text[:300]
    response_is(response, "OperationOutcome")


def test_sffs_forbidden(kit: Kit) -> None:
    """SFFSWithInvalidJWTaud (the kit: 403; RFC 6750, which DESIGN follows: 401 invalid_token)
    then SFFSWithInvalidJWTScope (a book/cancel token for a slot search: 403)."""
    bad_aud = kit.search(_query(), JSON_ACCEPT, token=jwt("slot_search", aud="notanendpoint"))
    assert bad_aud.status_code == 401, bad_aud.text[:300]
    response_is(bad_aud, "OperationOutcome")
    bad_scope = kit.search(_query(), JSON_ACCEPT, token=jwt("book_cancel"))
    assert bad_scope.status_code == 403, bad_scope.text[:300]
    response_is(bad_scope, "OperationOutcome")


def test_sffs_wrong_method(kit: Kit) -> None:
    response = kit.client.post(
        f"{kit.url}/Slot?{_query()}",
        headers=headers("search:slot", jwt("slot_search"), JSON_ACCEPT),
    )
    assert response.status_code == 405, response.text[:300]
    response_is(response, "OperationOutcome")


def test_sffs_with_busy_slots(kit: Kit) -> None:
    _bundle_ok(kit, _query(status="busy"), JSON_ACCEPT)


def test_sffs_with_no_includes(kit: Kit) -> None:
    _bundle_ok(kit, _query(includes=""), JSON_ACCEPT)


def test_sffs_with_no_includes_slots_only(kit: Kit) -> None:
    _bundle_ok(kit, _query(HCS_SLOTS_ONLY, includes=""), JSON_ACCEPT)


def test_sffs_with_free_and_busy_slots(kit: Kit) -> None:
    _bundle_ok(kit, _query(status="free%2Cbusy"), JSON_ACCEPT)


def test_sffs_with_free_slots_with_revincludes(kit: Kit) -> None:
    _bundle_ok(kit, _query() + "&" + REVINCLUDES, JSON_ACCEPT)


def test_sffs_with_free_slots_with_gzip_encoding(kit: Kit) -> None:
    bundle = _bundle_ok(kit, _query(), JSON_ACCEPT, {"Accept-Encoding": "gzip"})
    response_was_gzip(bundle["_response"])
