import pytest
from rest_framework.test import APIClient

from fleet.registry.models import ApiKey
from tests.factories import at, auth_header, iso, make_key, meter, post, vehicle

pytestmark = pytest.mark.django_db


@pytest.fixture
def keys() -> tuple[str, str]:
    return make_key(ApiKey.Role.DEVICE)[1], make_key(ApiKey.Role.ANALYST)[1]


def test_vehicle_status_is_the_newest_reading(api_client: APIClient, keys: tuple[str, str]) -> None:
    device, analyst = keys
    post(
        api_client,
        device,
        [vehicle(ts=at(3), soc=55.5, kwhDeliveredDc=0.25), vehicle(ts=at(9), soc=40.0)],
    )
    response = api_client.get("/v1/vehicles/VH001/status", **auth_header(analyst))
    assert response.status_code == 200
    body = response.json()
    assert {
        k: body[k] for k in ("vehicleId", "timestamp", "soc", "kwhDeliveredDc", "batteryTemp")
    } == {
        "vehicleId": "VH001",
        "timestamp": iso(at(3)),
        "soc": 55.5,
        "kwhDeliveredDc": 0.25,
        "batteryTemp": 25.0,
    }


def test_meter_status_is_the_newest_reading(api_client: APIClient, keys: tuple[str, str]) -> None:
    device, analyst = keys
    post(api_client, device, [meter(ts=at(2), voltage=231.5), meter(ts=at(20), voltage=200.0)])
    body = api_client.get("/v1/meters/MT001/status", **auth_header(analyst)).json()
    assert (body["meterId"], body["timestamp"], body["voltage"], body["kwhConsumedAc"]) == (
        "MT001",
        iso(at(2)),
        231.5,
        13.1,
    )


def test_a_device_never_seen_is_404(api_client: APIClient, keys: tuple[str, str]) -> None:
    _, analyst = keys
    response = api_client.get("/v1/vehicles/VH404/status", **auth_header(analyst))
    assert response.status_code == 404
    assert response.json() == {
        "status": 404,
        "message": "Vehicle VH404 has never reported.",
        "errors": {},
    }
    assert api_client.get("/v1/meters/MT404/status", **auth_header(analyst)).status_code == 404


def test_status_needs_an_analyst_key(api_client: APIClient, keys: tuple[str, str]) -> None:
    device, _ = keys
    post(api_client, device, vehicle())
    assert api_client.get("/v1/vehicles/VH001/status", **auth_header(device)).status_code == 403
    assert api_client.get("/v1/vehicles/VH001/status").status_code == 401
