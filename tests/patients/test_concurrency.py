"""Races: two doctors signing the same visit, two decisions on one certificate."""

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from patients.services import visits
from tests.patients.factories import VisitFactory


@pytest.mark.django_db(transaction=True)
def test_two_signers_at_once_only_one_wins(patient, doctor_user, make_user):
    from accounts.roles import Role

    other = make_user(Role.DOCTOR, email="second.doc@usc.edu.ph")
    v = VisitFactory(patient=patient, provider=doctor_user)
    results = []
    barrier = threading.Barrier(2)

    def sign(user):
        try:
            barrier.wait()
            visits.visit_sign(actor=user, visit=v)
            results.append("ok")
        except ValidationError:
            results.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=sign, args=(u,)) for u in (doctor_user, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["ok", "refused"]
