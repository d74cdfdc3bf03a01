import pytest

pytestmark = pytest.mark.django_db


def test_patient_reads_own_record_and_gets_404_for_others(world, api_client, patient_user):
    client = api_client(patient_user)
    r = client.get(f"/api/v1/patients/{world.patient.pk}/")
    assert r.status_code == 200, r.content
    assert r.json()["id_number"] == "2024-0001"
    r = client.get(f"/api/v1/patients/{world.other.pk}/")
    assert r.status_code == 404
    assert r["Content-Type"] == "application/problem+json"
