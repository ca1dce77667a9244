"""The SAP sandbox refuses what SAP Gateway refuses, in SAP's error format."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest
import requests
from click.testing import CliRunner

from sandboxes.sap_s4hana.server import S4Sandbox

BP = "API_BUSINESS_PARTNER"


@pytest.fixture
def sap(specs_dir: Path) -> Iterator[S4Sandbox]:
    with S4Sandbox(seed="demo", specs=specs_dir) as sandbox:
        yield sandbox


def _session(sap: S4Sandbox) -> requests.Session:
    session = requests.Session()
    session.auth = next(iter(sap.users.items()))
    return session


def _dunning_url(sap: S4Sandbox) -> str:
    return sap.odata_url(BP) + "A_CustomerDunning(Customer='10100001',CompanyCode='1010',DunningArea='')"


def test_a_change_without_the_sessions_csrf_token_is_refused_as_sap_gateway_does(sap: S4Sandbox) -> None:
    session = _session(sap)
    etag = session.get(_dunning_url(sap), timeout=10).headers["ETag"]

    refused = session.patch(
        _dunning_url(sap), json={"DunningLevel": "1"}, headers={"If-Match": etag}, timeout=10
    )
    other = _session(sap)
    token = other.head(sap.odata_url(BP), headers={"X-CSRF-Token": "Fetch"}, timeout=10).headers[
        "x-csrf-token"
    ]
    foreign = session.patch(
        _dunning_url(sap),
        json={"DunningLevel": "1"},
        headers={"If-Match": etag, "X-CSRF-Token": token},
        timeout=10,
    )

    for answer in (refused, foreign):
        assert answer.status_code == 403
        assert answer.headers["x-csrf-token"] == "Required"
        assert answer.text == "CSRF token validation failed"
    assert sap.writes_log == []


def test_an_update_needs_if_match_and_a_stale_one_fails_in_saps_error_format(sap: S4Sandbox) -> None:
    session = _session(sap)
    token = session.get(sap.odata_url(BP), headers={"X-CSRF-Token": "Fetch"}, timeout=10).headers[
        "x-csrf-token"
    ]
    headers = {"X-CSRF-Token": token}

    missing = session.patch(_dunning_url(sap), json={"DunningLevel": "1"}, headers=headers, timeout=10)
    stale = session.patch(
        _dunning_url(sap), json={"DunningLevel": "1"}, headers={**headers, "If-Match": 'W/"x"'}, timeout=10
    )
    etag = session.get(_dunning_url(sap), timeout=10).headers["ETag"]
    done = session.patch(
        _dunning_url(sap), json={"DunningLevel": "1"}, headers={**headers, "If-Match": etag}, timeout=10
    )

    assert missing.status_code == 428 and stale.status_code == 412
    error = stale.json()["error"]
    assert error["code"] == "/IWBEP/CM_MGW_RT/190"
    assert error["message"]["lang"] == "en" and "If-Match" in error["message"]["value"]
    assert "innererror" in error
    assert done.status_code == 204 and done.headers["ETag"] != etag


def test_a_filter_on_a_property_sap_does_not_declare_is_a_400_naming_it(sap: S4Sandbox) -> None:
    answer = _session(sap).get(
        sap.odata_url("API_OPLACCTGDOCITEMCUBE_SRV") + "A_OperationalAcctgDocItemCube",
        params={"$filter": "InvoiceNumber eq '1'"},
        timeout=10,
    )
    assert answer.status_code == 400
    assert "InvoiceNumber" in answer.json()["error"]["message"]["value"]


def test_a_dunning_block_reason_not_configured_in_sap_is_refused(sap: S4Sandbox) -> None:
    session = _session(sap)
    token = session.get(sap.odata_url(BP), headers={"X-CSRF-Token": "Fetch"}, timeout=10).headers[
        "x-csrf-token"
    ]
    etag = session.get(_dunning_url(sap), timeout=10).headers["ETag"]
    answer = session.patch(
        _dunning_url(sap),
        json={"DunningBlock": "Q"},
        headers={"X-CSRF-Token": token, "If-Match": etag},
        timeout=10,
    )
    assert (
        answer.status_code == 400 and "Dunning block reason Q" in answer.json()["error"]["message"]["value"]
    )


def test_a_soap_message_breaking_saps_schema_gets_a_fault_and_posts_nothing(sap: S4Sandbox) -> None:
    journal = len(sap.book.journal)
    body = (
        '<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:n0="http://sap.com/xi/SAPSCORE/SFIN"><soap-env:Body><n0:JournalEntryBulkCreateRequest>'
        "<MessageHeader><CreationDateTime>2026-12-01T10:00:00Z</CreationDateTime></MessageHeader>"
        "<JournalEntryCreateRequest><JournalEntry><CompanyCode>1010</CompanyCode></JournalEntry>"
        "</JournalEntryCreateRequest></n0:JournalEntryBulkCreateRequest></soap-env:Body></soap-env:Envelope>"
    )
    answer = _session(sap).post(sap.soap_url, data=body, headers={"Content-Type": "text/xml"}, timeout=10)
    assert answer.status_code == 500 and "Fault" in answer.text and "Schema violation" in answer.text
    assert len(sap.book.journal) == journal


def test_a_user_without_the_communication_scenario_gets_403(specs_dir: Path) -> None:
    with S4Sandbox(seed="demo", specs=specs_dir, scenarios={"SAP_COM_0008"}) as sap:
        answer = _session(sap).get(
            sap.odata_url("API_OPLACCTGDOCITEMCUBE_SRV") + "A_OperationalAcctgDocItemCube", timeout=10
        )
    assert answer.status_code == 403 and "error" in answer.json()


def test_sandbox_command_is_registered_and_describes_itself() -> None:
    from cli.plugins import register_plugins, sandbox_group

    register_plugins()
    result = CliRunner().invoke(sandbox_group, ["sap-s4hana", "--help"])
    assert result.exit_code == 0 and "--seed" in result.output and "--port" in result.output


def test_a_caller_beyond_the_spike_arrest_rate_gets_api_managements_429_and_others_do_not(
    specs_dir: Path,
) -> None:
    with S4Sandbox(seed="demo", specs=specs_dir, spike_arrest=2, users={"A": "pw-a", "B": "pw-b"}) as sap:
        url = sap.odata_url(BP) + "A_Customer?$top=1"
        a, b = requests.Session(), requests.Session()
        a.auth, b.auth = ("A", "pw-a"), ("B", "pw-b")

        answers = [a.get(url, timeout=10) for _ in range(3)]
        other = b.get(url, timeout=10)

        assert [r.status_code for r in answers] == [200, 200, 429]
        fault = answers[2].json()["fault"]
        assert fault["detail"]["errorcode"] == "policies.ratelimit.SpikeArrestViolation"
        assert "Retry-After" not in answers[2].headers
        assert other.status_code == 200
        assert sap.calls("odata") == 3 and sap.calls("throttled") == 1


def test_a_customer_text_is_created_through_the_customer_as_the_edmx_allows_and_not_with_customer_in_the_body(
    sap: S4Sandbox,
) -> None:
    session = _session(sap)
    token = session.get(sap.odata_url(BP), headers={"X-CSRF-Token": "Fetch"}, timeout=10).headers[
        "x-csrf-token"
    ]
    headers = {"X-CSRF-Token": token}
    text = {"Language": "EN", "LongTextID": "0001", "LongText": "pays Monday"}

    # Customer is sap:creatable="false": it comes from the address, never from the body.
    direct = session.post(
        sap.odata_url(BP) + "A_CustomerText",
        json={"Customer": "10100001", **text},
        headers=headers,
        timeout=10,
    )
    created = session.post(
        sap.odata_url(BP) + "A_Customer('10100001')/to_CustomerText", json=text, headers=headers, timeout=10
    )
    again = session.post(
        sap.odata_url(BP) + "A_Customer('10100001')/to_CustomerText", json=text, headers=headers, timeout=10
    )
    too_long = session.post(
        sap.odata_url(BP) + "A_Customer('10100001')/to_CustomerText",
        json={**text, "LongTextID": "00001"},
        headers=headers,
        timeout=10,
    )
    read = session.get(
        sap.odata_url(BP) + "A_Customer('10100001')/to_CustomerText", params={"$format": "json"}, timeout=10
    )

    assert direct.status_code == 400 and "Customer" in direct.json()["error"]["message"]["value"]
    assert created.status_code == 201 and created.json()["d"]["Customer"] == "10100001"
    assert unquote(created.headers["Location"]).endswith(
        "A_CustomerText(Customer='10100001',Language='EN',LongTextID='0001')"
    )
    assert again.status_code == 400 and too_long.status_code == 400
    assert [r["LongText"] for r in read.json()["d"]["results"]] == ["pays Monday"]
