"""Reads of patient records, with the object-level access check."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import date
from functools import cache

from django.db import connection, transaction
from django.db.models import BooleanField, Case, IntegerField, Prefetch, Q, QuerySet, Value, When
from django.db.models.expressions import RawSQL
from django.db.models.functions import Concat, Lower
from django.http import Http404

from accounts.audit import (
    audit_phi_denied,
    audit_phi_read_list_statement,
    audit_phi_read_statement,
    audit_phi_served,
)
from accounts.models import AuditAction, AuditEvent, User
from accounts.roles import Role, user_has_perm
from patients.models import (
    Allergy,
    AllergySeverity,
    CertificateStatus,
    Diagnosis,
    Icd10Code,
    MedicalCertificate,
    Patient,
    PatientDocument,
    ToothRecord,
    Visit,
    VisitKind,
    VisitStatus,
    VitalSigns,
    compact_id,
    normalize_search,
    sees_every_patient,
)
from uscpis.compiled import CompiledQuery, fetch_together
from uscpis.pagination import PageWrite

# The access helpers below are the one owner of per-patient read/export events: ``purpose``
# is a required keyword (AuditAction.READ, AuditAction.EXPORT, or None for a write whose
# service audits it), so a view cannot fetch a record without deciding how it is audited.
# Other apps' helpers (``billing.selectors``, ``appointments.selectors``) follow the same
# shape; ``tests/uscpis/test_phi_audit_owners.py`` keeps ``audit_phi_served`` out of views.


def get_patient_for_user(
    user,
    pk: int,
    *,
    purpose: AuditAction | None,
    detail: dict | None = None,
    object_type: str = "",
    clinical: bool = False,
    allow: Callable[[Patient], bool] | None = None,
) -> Patient:
    """The patient ``pk`` if ``user`` may see it; otherwise 404 ("not found" and "not yours"
    look the same, so existence never leaks). "Not yours" is audited as denied.
    ``object_type`` names what of the patient is served when it is not the record itself
    (``billing.account``). ``clinical``: the caller serves clinical data, which only
    clinical staff and the patient themself may read (others get a 404, nothing served);
    ``allow`` is a further check of the same kind (False: 404, nothing served).

    A read by staff who see every patient, with no further check, is one round trip: the
    patient and the read event, written only if the patient exists (as the chart's)."""
    if purpose == AuditAction.READ and not clinical and allow is None:
        key = _plain_pk(pk)
        if key is not None and sees_every_patient(user):
            head = _chart_head_together(
                user, key, detail=detail, allergies=False, extra=(), object_type=object_type
            )
            if head is not None:
                return head.patient
    try:
        patient = _visible_patient(user, pk)
    except (ValueError, TypeError):
        raise Http404("No such patient") from None
    except Patient.DoesNotExist:
        if Patient.objects.filter(pk=pk).exists():
            audit_phi_denied(user, object_type="patients.patient", object_id=pk, patient_id=int(pk))
        raise Http404("No such patient") from None
    if (clinical and not _can_read_clinical(user, patient.user_id)) or (
        allow is not None and not allow(patient)
    ):
        raise Http404("No such patient")
    audit_phi_served(
        user,
        purpose,
        obj=None if object_type else patient,
        object_type=object_type,
        object_id=patient.pk if object_type else "",
        patient_id=patient.pk,
        detail=detail,
    )
    return patient


def _plain_pk(pk) -> int | None:
    """``pk`` as the int it names when it is one (an int, or a URL's digits), else None."""
    if type(pk) is int:
        return pk if -(2**63) <= pk < 2**63 else None  # a bigint, or the ORM says what it is
    if type(pk) is str and pk.isascii() and pk.isdigit() and len(pk) < 19:
        return int(pk)
    return None


# Staff see every patient: their lookup is this one statement, compiled once per process.
_PATIENT_BY_PK = CompiledQuery(Patient, lambda pk: Patient.objects.filter(pk=pk))


def _visible_patient(user, pk) -> Patient:
    """``Patient.objects.visible_to(user).get(pk=pk)``, the same exceptions included."""
    if not sees_every_patient(user):
        return Patient.objects.visible_to(user).get(pk=pk)
    patient = _PATIENT_BY_PK.first(Patient._meta.pk.get_prep_value(pk))
    if patient is None:
        raise Patient.DoesNotExist("Patient matching query does not exist.")
    return patient


@dataclass
class ChartHead:
    """What ``patient_for_chart`` read: the patient, their active allergies (most severe
    first; empty when not asked for) and the rows of each extra statement, in order."""

    patient: Patient
    allergies: list[Allergy]
    extra_rows: list[list[tuple]]


_PATIENT_EXISTS = f"EXISTS (SELECT 1 FROM {Patient._meta.db_table} WHERE id = %s)"  # noqa: S608


def patient_for_chart(
    user,
    pk: int,
    *,
    detail: dict | None,
    allergies: bool,
    extra: Sequence[tuple[str, Sequence]] = (),
    object_type: str = "",
) -> ChartHead:
    """``get_patient_for_user(user, pk, purpose=READ, detail=detail,
    object_type=object_type)``, with ``active_allergies(patient)`` when ``allergies`` and the
    rows of each ``extra`` statement (reads that need only ``pk``, e.g. another domain's
    chart button, or the billing account page's).

    For staff who see every patient it is one round trip: the patient, the allergies, the
    extra reads and the read event, written only if the patient exists (nothing is recorded
    for a 404, as before). Others (and querysets ``CompiledQuery`` hands to the ORM) take the
    access helper's path, then the other reads. Same objects, same 404s, same audit event."""
    if type(pk) is int and sees_every_patient(user):
        head = _chart_head_together(
            user, pk, detail=detail, allergies=allergies, extra=extra, object_type=object_type
        )
        if head is not None:
            return head
    patient = get_patient_for_user(
        user, pk, purpose=AuditAction.READ, detail=detail, object_type=object_type
    )
    return ChartHead(
        patient=patient,
        allergies=active_allergies(patient) if allergies else [],
        extra_rows=fetch_together(extra) if extra else [],
    )


def _chart_head_together(
    user,
    pk: int,
    *,
    detail: dict | None,
    allergies: bool,
    extra: Sequence[tuple[str, Sequence]],
    object_type: str = "",
) -> ChartHead | None:
    patient_stmt = _PATIENT_BY_PK.statement(pk)
    allergy_stmt = _ACTIVE_ALLERGIES.statement(pk) if allergies else None
    if patient_stmt is None or (allergies and allergy_stmt is None):
        return None
    event = audit_phi_read_statement(
        actor=user,
        patient_id=pk,
        condition=(_PATIENT_EXISTS, [pk]),
        # as get_patient_for_user names it: obj=patient, or what of the patient is served
        object_type=object_type or Patient._meta.label_lower,
        object_id=pk,
        detail=detail,
    )
    event_statements = event.statements if event is not None else ()
    reads = [patient_stmt, *([allergy_stmt] if allergies else []), *extra]
    # In a caller's transaction a failed statement marks it for rollback (as audit_record).
    guard = transaction.atomic(savepoint=False) if connection.in_atomic_block else nullcontext()
    with guard:
        results = fetch_together([*reads, *event_statements])
    found = _PATIENT_BY_PK.objects(results[0], 1)
    if event is not None:
        recorded = event.recorded(results[-1])
        if found and not recorded:  # deleted between the two statements: 404 below
            found = []
    if not found:
        raise Http404("No such patient")
    rows = results[1 : len(reads)]
    return ChartHead(
        patient=found[0],
        allergies=allergies_by_severity(_ACTIVE_ALLERGIES.objects(rows[0], 1)) if allergies else [],
        extra_rows=rows[1:] if allergies else rows,
    )


class PortalRecordMissing(Http404):
    """The signed-in account has no patient record yet (the portal explains what to do)."""


def patient_for_portal(
    user,
    *,
    purpose: AuditAction | None,
    detail: dict | None = None,
    object_type: str = "",
) -> Patient:
    """The signed-in patient's own record, audited like ``get_patient_for_user``;
    ``PortalRecordMissing`` (a 404 unless the portal view shows its "the clinic will connect
    your record" page) when there is none yet."""
    patient = Patient.objects.filter(user=user).first() if user.is_authenticated else None
    if patient is None:
        raise PortalRecordMissing(
            "Your account is not linked to a patient record yet. Please ask the clinic."
        )
    audit_phi_served(
        user,
        purpose,
        obj=None if object_type else patient,
        object_type=object_type,
        object_id=patient.pk if object_type else "",
        patient_id=patient.pk,
        detail={"view": "portal", **(detail or {})},
    )
    return patient


def _can_read_clinical(user, patient_user_id: int | None) -> bool:
    if user_has_perm(user, "patients.view_clinical"):
        return True
    return user_has_perm(user, "patients.portal") and patient_user_id == user.pk


def get_visit_for_user(
    user, pk: int, *, purpose: AuditAction | None, detail: dict | None = None
) -> Visit:
    """A visit the user may read (clinical staff: any; patients: their own signed visits)."""
    try:
        visit = Visit.objects.select_related("patient", "provider", "signed_by").get(pk=pk)
    except (Visit.DoesNotExist, ValueError, TypeError):
        raise Http404("No such visit") from None
    if not _can_read_clinical(user, visit.patient.user_id) or (
        not user_has_perm(user, "patients.view_clinical") and not visit.is_signed
    ):
        audit_phi_denied(
            user, object_type="patients.visit", object_id=pk, patient_id=visit.patient_id
        )
        raise Http404("No such visit")
    audit_phi_served(user, purpose, obj=visit, patient_id=visit.patient_id, detail=detail)
    return visit


def get_document_for_user(
    user, pk: int, *, purpose: AuditAction | None, detail: dict | None = None
) -> PatientDocument:
    """A document the user may read; an EXPORT (the file itself) names the file."""
    try:
        doc = PatientDocument.objects.select_related("patient", "uploaded_by").get(pk=pk)
    except (PatientDocument.DoesNotExist, ValueError, TypeError):
        raise Http404("No such document") from None
    if not _can_read_clinical(user, doc.patient.user_id):
        audit_phi_denied(
            user, object_type="patients.patientdocument", object_id=pk, patient_id=doc.patient_id
        )
        raise Http404("No such document")
    if purpose == AuditAction.EXPORT:
        detail = {"download": doc.original_name, **(detail or {})}
    audit_phi_served(user, purpose, obj=doc, patient_id=doc.patient_id, detail=detail)
    return doc


def get_certificate_for_user(
    user,
    pk: int,
    *,
    purpose: AuditAction | None,
    detail: dict | None = None,
    approved_only: bool = False,
) -> MedicalCertificate:
    """A certificate the user may read. ``approved_only`` (the PDF): any other status is a
    404 before anything is served — a revoked certificate is not downloaded again."""
    try:
        cert = MedicalCertificate.objects.select_related(
            "patient", "decided_by", "requested_by", "revoked_by"
        ).get(pk=pk)
    except (MedicalCertificate.DoesNotExist, ValueError, TypeError):
        raise Http404("No such certificate") from None
    if not _can_read_clinical(user, cert.patient.user_id):
        audit_phi_denied(
            user,
            object_type="patients.medicalcertificate",
            object_id=pk,
            patient_id=cert.patient_id,
        )
        raise Http404("No such certificate")
    if approved_only and cert.status != CertificateStatus.APPROVED:
        raise Http404("Only approved certificates can be downloaded")
    audit_phi_served(user, purpose, obj=cert, patient_id=cert.patient_id, detail=detail)
    return cert


def certificate_for_verification(user, code: str, *, detail: dict | None = None):
    """The approved or revoked certificate with this verification code, or None; the public
    check reads a patient's name, so it is audited (also when no certificate matches)."""
    code = code.strip().upper()[:32]
    cert = (
        MedicalCertificate.objects.select_related("patient", "decided_by")
        .filter(
            verification_code=code,
            status__in=[CertificateStatus.APPROVED, CertificateStatus.REVOKED],
        )
        .first()
    )
    audit_phi_served(
        user,
        AuditAction.READ,
        obj=cert,
        object_type="patients.medicalcertificate",
        object_id=code[:16],
        patient_id=cert.patient_id if cert else None,
        detail={"verification": "public", **(detail or {})},
    )
    return cert


def patients_served(user, patients, *, detail: dict) -> None:
    """A page of patient rows (search results, link candidates) was served: one READ event
    listing them, naming the patient when there is only one."""
    ids = [p.pk for p in patients]
    if not ids:
        return
    audit_phi_served(
        user,
        AuditAction.READ,
        object_type="patients.patient",
        patient_id=ids[0] if len(ids) == 1 else None,
        detail={**detail, "patients": ids},
    )


class PatientsServedWithPage:
    """``patients_served(user, page, detail=detail)`` for a page that
    ``uscpis.pagination.rows_found_by_keys(..., write=self.write)`` reads: the event is
    written by the page's own statement (one round trip), listing the first ``size`` rows
    it finds (reversed when ``reverse``), as the paginator serves them. ``served(page)``
    then checks that this is the page served; whenever the event could not go with the
    page (``write`` is None: this request already recorded a read; nothing was sent) or
    listed other patients than the page, ``patients_served`` records the page itself."""

    def __init__(self, user, *, detail: dict, size: int, reverse: bool):
        self.user, self.detail, self.size, self.reverse = user, detail, size, reverse
        order = "DESC" if reverse else "ASC"
        ids_sql = (
            f"SELECT array_agg(page_key ORDER BY page_order {order}) FROM page "  # noqa: S608 (our SQL)
            f"WHERE page_order <= {int(size)}"
        )
        self.event = audit_phi_read_list_statement(
            actor=user if getattr(user, "is_authenticated", False) else None,
            object_type=Patient._meta.label_lower,
            detail=detail,
            ids_sql=ids_sql,
        )
        self.write = None
        if self.event is not None:
            sql, params = self.event.insert
            self.write = PageWrite(sql, params)

    def served(self, page: Sequence[Patient]) -> None:
        ids = [p.pk for p in page]
        if self.write is not None and self.write.keys is not None:
            listed = self.write.keys[: self.size]
            if self.reverse:
                listed.reverse()
            if listed == ids:
                self.event.recorded(listed)
                return
        patients_served(self.user, page, detail=self.detail)


# --- Search ----------------------------------------------------------------------------


@cache
def trigram_index_available() -> bool:
    """True when migration 0003 could build the pg_trgm index (CI, production)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_indexes WHERE indexname = 'patients_patient_search_trgm'")
        return cursor.fetchone() is not None


def search_tokens(q: str) -> list[str]:
    return [t for t in re.split(r"[^a-z0-9]+", normalize_search(q)) if t][:6]


# Apostrophes inside names are dropped from a name query ("O'Brien" → "obrien"), as from the
# compact names kept in ``Patient.search_text``.
_APOSTROPHES = re.compile(r"['\u2018\u2019\u02bc`]")


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _id_fragment(q: str) -> str:
    """The compact form of ``q`` when it may be (part of) an ID number: one word with a
    digit and 3+ letters or digits once separators are dropped; else ""."""
    if len(q.split()) != 1:
        return ""
    compact = compact_id(q)
    return compact if len(compact) >= 3 and any(c.isdigit() for c in compact) else ""


# A name part is found through the pg_trgm index: ``LIKE '%quinones%'`` makes PostgreSQL read
# the index's list of rows for every trigram of the part (qui, uin, ino, non, one, nes) and
# intersect them, and a common trigram's list ("qui": a fifth of the patients) costs as much
# as the rest. Two rare trigrams of the part find nearly the same rows from far shorter lists,
# so the index is asked for those and each found row is then checked for the whole part:
# the same matches for less work ("quinones ram" at bench scale: its statement 1.65 -> 1.11 ms
# of PostgreSQL CPU; an ID number 0.38 -> 0.05 ms, as "b00" is in every bench ID). Which
# trigrams are rare is counted on a sample of the patients, refreshed every hour.
_WORDS = re.compile(r"[a-z0-9]+")


class TrigramSample:
    """How many sampled patients (``size`` to ``2 * size`` of them; every patient of a small
    table) have each trigram in their search words, read once per ``ttl`` seconds per
    process, with how many were sampled and about how many the table holds. Only the
    choice of trigrams and of the statement's shape depend on it, never which patients
    match, so an old or empty sample makes a search slower, not wrong."""

    size = 1000
    ttl = 3600.0
    retry = 60.0  # an empty table (a new install) is sampled again soon

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._sampled = 0  # patients sampled
        self._table = 0.0  # patients in the table (PostgreSQL's estimate)
        self._expires = float("-inf")

    def counts(self) -> dict[str, int]:
        now = time.monotonic()
        if now >= self._expires:
            self._counts, self._sampled, self._table = self._sample()
            self._expires = now + (self.ttl if self._counts else self.retry)
        return self._counts

    def reset(
        self, counts: dict[str, int] | None = None, *, sampled: int = 0, table: float = 0.0
    ) -> None:
        """Forget the sample (``counts``: use these instead, until the next refresh, as if
        ``sampled`` of ``table`` patients had been sampled)."""
        self._counts = dict(counts or {})
        self._sampled, self._table = sampled, table
        self._expires = float("inf") if counts is not None else float("-inf")

    def expected_matches(self, tokens: list[str]) -> float | None:
        """About how many patients have every word of ``tokens`` (3+ letters or digits)
        in their search words: for each word, its rarest trigram's share of the sample,
        multiplied, times the table's patients (an overestimate for a long word, exact in
        the sample for a three-letter one); None when the sample says nothing."""
        counts = self.counts()
        if not self._sampled or not tokens:
            return None
        share = 1.0
        for token in tokens:
            trigrams = [token[i : i + 3] for i in range(len(token) - 2)]
            if not trigrams:
                return None
            share *= min(counts.get(t, 0) for t in trigrams) / self._sampled
        return share * self._table

    def _sample(self) -> tuple[dict[str, int], int, float]:
        table = connection.ops.quote_name(Patient._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_relation_size(c.oid) / current_setting('block_size')::int, "
                "c.reltuples FROM pg_class AS c WHERE c.oid = %s::regclass",
                [Patient._meta.db_table],
            )
            pages, reltuples = cursor.fetchone()
            # Whole pages at random (SYSTEM): about ``size / 20`` of them (a page holds 20-40
            # patients); every page when that finds too few (a small table, or one with
            # many empty pages), at most ``4 * size`` rows.
            sql = f"SELECT search_text FROM {table} TABLESAMPLE SYSTEM (%s) LIMIT %s"  # noqa: S608 (our table name; values are parameters)
            percent = min(100.0, 100.0 * self.size / 20 / max(pages, 1))
            cursor.execute(sql, [percent, 4 * self.size])
            texts = [text for (text,) in cursor.fetchall()]
            if len(texts) < self.size // 2 and percent < 100:
                cursor.execute(sql, [100.0, 4 * self.size])
                texts = [text for (text,) in cursor.fetchall()]
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update({w[i : i + 3] for w in _WORDS.findall(text) for i in range(len(w) - 2)})
        # A table never analysed has no estimate (-1): at least the rows seen.
        return dict(counts), len(texts), max(float(reltuples), float(len(texts)))


trigram_sample = TrigramSample()


def token_like_pattern(token: str, counts: dict[str, int]) -> str:
    """The ``LIKE`` pattern the trigram index is asked with for a search word (letters and
    digits, 3+ of them): the word itself when it has at most two trigrams or nothing is
    known of their frequency, else its two rarest trigrams in ``counts``, in the word's order
    (``'%qui%nes%'``, or ``'%none%'`` when they overlap). Every row containing the word
    matches the pattern; the caller checks the whole word on the rows found."""
    starts = range(len(token) - 2)
    if len(starts) <= 2 or not counts:
        return f"%{token}%"
    i, j = sorted(sorted(starts, key=lambda k: counts.get(token[k : k + 3], 0))[:2])
    if j - i >= 3:
        return f"%{token[i : i + 3]}%{token[j : j + 3]}%"
    return f"%{token[i : j + 3]}%"


def _text_filter(
    table_column: str, tokens: list[str], use_trigram: bool, counts: dict[str, int] | None = None
) -> tuple[str, list[str]] | None:
    """Each token must appear (SQL and its parameters): infix ``LIKE`` on the trigram index
    when available and every token has 3+ characters (the index asked with each token's
    rarest trigrams, the whole token then checked with ``position``, written ``<> 0`` so the
    planner estimates the rows from the ``LIKE`` alone, as before), else prefix full-text
    search on the built-in GIN index."""
    if not tokens:
        return None
    if use_trigram and all(len(t) >= 3 for t in tokens):
        parts, params = [], []
        for token in tokens:
            pattern = token_like_pattern(token, counts or {})
            parts.append(f"{table_column} LIKE %s")
            params.append(pattern)
            if pattern != f"%{token}%":
                parts.append(f"position(%s IN {table_column}) <> 0")
                params.append(token)
        return f"({' AND '.join(parts)})", params
    query = " & ".join(f"{t}:*" for t in tokens)
    return (
        f"to_tsvector('simple'::regconfig, {table_column}) @@ to_tsquery('simple'::regconfig, %s)",
        [query],
    )


def patient_search(
    *,
    q: str = "",
    college: str = "",
    year_level: int | None = None,
    patient_type: str = "",
    use_trigram: bool | None = None,
    qs: QuerySet | None = None,
) -> QuerySet[Patient]:
    """Patients matching ``q`` (name parts, case/accent-insensitive and partial; an ID
    number, whole or in part, with or without its separators; or an email) and the filters
    (``college``: case-insensitive part of the name), in name order."""
    qs = Patient.objects.all() if qs is None else qs
    q = (q or "").strip()
    if q:
        column = '"patients_patient"."search_text"'
        if "@" in q:
            # A whole address is looked up through its index (one small query to know);
            # otherwise part of one, accent-folded ("penaflor@usc" finds
            # peñaflor@usc.edu.ph): an infix match on search_text, which the trigram index
            # serves when it exists. One OR of both would make PostgreSQL scan the table.
            exact = qs.annotate(email_lower=Lower("email")).filter(email_lower=q.lower())
            if exact.exists():
                qs = exact
            else:
                fragment = f"%{_like_escape(normalize_search(q))}%"
                qs = qs.filter(
                    RawSQL(f"{column} LIKE %s", [fragment], output_field=BooleanField())  # noqa: S611 (column name is ours; the value is a parameter)
                )
        else:
            if use_trigram is None:
                use_trigram = trigram_index_available()
            tokens = search_tokens(_APOSTROPHES.sub("", q))
            # One SQL condition (not Q objects the ORM resolves one by one): the whole ID
            # number, or every word, or part of an ID number.
            match, params = ['"patients_patient"."id_number" = %s'], [q]
            counts = trigram_sample.counts() if use_trigram and tokens else None
            text = _text_filter(column, tokens, use_trigram, counts)
            if text is not None:
                match.append(text[0])
                params += text[1]
            id_part = _id_fragment(q)
            # Part of an ID number ("0451", "20230451" for 2023-0451): infix match on the
            # compact ID kept in search_text. The trigram index serves it when it exists
            # (and the token filter above then already finds it); without pg_trgm it is a
            # scan, which the small embedded development database affords.
            if id_part and not (use_trigram and tokens == [id_part]):
                match.append(f"{column} LIKE %s")
                params.append(f"%{id_part}%")
            qs = qs.filter(
                RawSQL(f"({' OR '.join(match)})", params, output_field=BooleanField())  # noqa: S611 (column names are ours; values are parameters)
            )
    if college:
        # Free text on the record ("School of Engineering"), so a case-insensitive part.
        qs = qs.filter(college__icontains=college.strip())
    if year_level:
        qs = qs.filter(year_level=year_level)
    if patient_type:
        qs = qs.filter(patient_type=patient_type)
    return qs.order_by("last_name", "first_name", "id")


def patient_search_plans_alike(
    *, q: str = "", college: str = "", year_level: int | None = None, patient_type: str = ""
) -> bool:
    """Whether one plan serves a ``patient_search`` list for any values: the whole list, or
    one searched by name or ID words only (the trigram, full-text and ID-number indexes
    find the matches, whatever the words), so PostgreSQL may keep the plan of the statement
    that counts them (``CappedSortingPaginator(prepare=True)``). Filters on type, college
    and year, and an email, are planned for their values."""
    return not (college or year_level or patient_type) and "@" not in (q or "")


def patient_search_expects_more(q: str, *, than: int) -> bool:
    """Whether a search by these words probably finds more than ``than`` patients (a list's
    cap), by the trigram sample: such a search ("mag", typed as the first letters) is
    counted to the cap and then walks the name index, which one statement planned for its
    words does best. Only which statement is sent depends on it."""
    tokens = search_tokens(_APOSTROPHES.sub("", q or ""))
    if "@" in (q or "") or not tokens or not trigram_index_available():
        return False
    expected = trigram_sample.expected_matches(tokens)
    return expected is not None and expected > 2 * than


# What a row of the patient list shows (``patients/templatetags/patient_rows.py``): the list
# reads only these columns.
PATIENT_LIST_FIELDS = (
    "id",
    "last_name",
    "first_name",
    "id_number",
    "patient_type",
    "year_level",
    "college",
    "department",
    "birth_date",
)


def patient_search_few_order(qs: QuerySet[Patient]) -> QuerySet[Patient]:
    """``patient_search``'s name order, written so the name index cannot serve it: for a
    search with few matches (``CappedPaginator(when_few=...)``) PostgreSQL then finds them
    through the trigram index and sorts them, instead of walking every name in order."""
    return qs.order_by(Concat("last_name", Value("")), "first_name", "id")


def icd10_search(q: str, limit: int = 15) -> list[Icd10Code]:
    """ICD-10 codes by code prefix ("J06", "j069") or words ("upper resp")."""
    q = (q or "").strip()
    if not q:
        return []
    compact = q.upper().replace(".", "").replace(" ", "")
    if re.fullmatch(r"[A-Z]\d{1,3}[A-Z0-9]?", compact):
        code_prefix = compact[:3] + ("." + compact[3:] if len(compact) > 3 else "")
        return list(Icd10Code.objects.filter(code__startswith=code_prefix).order_by("code")[:limit])
    tokens = search_tokens(q)
    text = _text_filter('"patients_icd10code"."search_text"', tokens, False)
    if text is None:
        return []
    found = RawSQL(*text, output_field=BooleanField())  # noqa: S611 (column name is ours; the query is a parameter)
    return list(Icd10Code.objects.filter(found).order_by("-is_leaf", "code")[:limit])


# --- Chart -----------------------------------------------------------------------------


ALLERGY_SEVERITY_ORDER = [
    AllergySeverity.LIFE_THREATENING,
    AllergySeverity.SEVERE,
    AllergySeverity.MODERATE,
    AllergySeverity.MILD,
]


def allergy_severity_rank() -> Case:
    """0 for life-threatening … 3 for mild: order by it to list the most dangerous first
    (the stored values sort alphabetically, which would put life-threatening last)."""
    return Case(
        *[When(severity=s, then=Value(i)) for i, s in enumerate(ALLERGY_SEVERITY_ORDER)],
        default=Value(len(ALLERGY_SEVERITY_ORDER)),
        output_field=IntegerField(),
    )


def active_allergies(patient: Patient) -> list[Allergy]:
    """Active allergies, most severe first (life-threatening, severe, moderate, mild), then
    by substance: ``ORDER BY allergy_severity_rank(), substance``, with the few rows sorted
    by rank here (a stable sort keeps the database's substance order within a rank), which
    spares building the CASE expression on every chart, visit and portal page."""
    return allergies_by_severity(_ACTIVE_ALLERGIES.all(patient.pk))


_ACTIVE_ALLERGIES = CompiledQuery(
    Allergy,
    lambda patient_id: Allergy.objects.filter(patient_id=patient_id, is_active=True).order_by(
        "substance"
    ),
)
_SEVERITY_RANK = {s: i for i, s in enumerate(ALLERGY_SEVERITY_ORDER)}


def allergies_by_severity(rows: list[Allergy]) -> list[Allergy]:
    """``rows`` (in substance order) most severe first; a stable sort keeps the substance
    order within a severity."""
    return sorted(rows, key=lambda a: _SEVERITY_RANK.get(a.severity, len(_SEVERITY_RANK)))


def visit_timeline(patient: Patient, *, signed_only: bool = False) -> QuerySet[Visit]:
    """The patient's visits, newest first, with what a timeline row shows (constant queries
    per page whatever the number of visits)."""
    qs = (
        Visit.objects.filter(patient=patient)
        .select_related("provider", "signed_by")
        .prefetch_related(
            Prefetch("diagnoses", queryset=Diagnosis.objects.select_related("icd10")),
            Prefetch("vitals", queryset=VitalSigns.objects.order_by("-recorded_at")),
            "prescriptions",
        )
        .order_by("-started_at", "-id")
    )
    if signed_only:
        qs = qs.filter(status="signed")
    return qs


def dental_chart(patient: Patient, *, visit: Visit | None = None) -> dict[int, ToothRecord]:
    """The patient's tooth chart, {FDI tooth: record} in tooth order.

    A tooth's state is the latest record of it from the patient's signed dental visits
    (signed: the locked record, so a chart never changes under a signed visit), overlaid
    with what ``visit`` itself records. With ``visit``, only visits started before it count,
    so an old visit shows the chart as it was then; without, this is the current chart.
    Each record has ``carried_over`` (True: from an earlier visit, whose date is
    ``record.visit.started_at``; False: recorded at ``visit``). Two queries at most.
    """
    here: dict[int, ToothRecord] = {}
    earlier = ToothRecord.objects.filter(
        visit__patient_id=patient.pk, visit__kind=VisitKind.DENTAL, visit__status=VisitStatus.SIGNED
    )
    if visit is not None:
        for record in visit.teeth.all():
            record.carried_over = False
            here[record.tooth] = record
        earlier = earlier.filter(
            Q(visit__started_at__lt=visit.started_at)
            | Q(visit__started_at=visit.started_at, visit_id__lt=visit.pk)
        )
    latest = (
        earlier.exclude(tooth__in=list(here))
        .select_related("visit")
        .order_by("tooth", "-visit__started_at", "-visit_id")
        .distinct("tooth")  # PostgreSQL DISTINCT ON: the newest record of each tooth
    )
    chart = dict(here)
    for record in latest:
        record.carried_over = True
        chart[record.tooth] = record
    return dict(sorted(chart.items()))


def visit_detail(visit: Visit) -> dict:
    return {
        "vitals": list(visit.vitals.select_related("recorded_by")),
        "diagnoses": list(visit.diagnoses.select_related("icd10")),
        "prescriptions": list(visit.prescriptions.all()),
        "addenda": list(visit.addenda.select_related("author")),
        "teeth": dental_chart(visit.patient, visit=visit) if visit.kind == VisitKind.DENTAL else {},
        "documents": list(visit.documents.all()),
    }


def problem_list(patient: Patient) -> list[dict]:
    """Distinct diagnoses from signed visits, most recent first."""
    rows = (
        Diagnosis.objects.filter(visit__patient=patient, visit__status="signed")
        .select_related("icd10", "visit")
        .order_by("-visit__started_at")
    )
    seen: dict[str, dict] = {}
    for d in rows[:500]:
        seen.setdefault(d.icd10_id, {"code": d.icd10, "last_seen": d.visit.started_at, "count": 0})
        seen[d.icd10_id]["count"] += 1
    return list(seen.values())


def certificates_pending() -> QuerySet[MedicalCertificate]:
    return (
        MedicalCertificate.objects.filter(status=CertificateStatus.PENDING)
        .select_related("patient", "requested_by")
        .order_by("created_at")
    )


def latest_measurements(patient: Patient) -> list[VitalSigns]:
    """Height/weight history (newest first)."""
    return list(
        VitalSigns.objects.filter(visit__patient=patient)
        .filter(Q(height_cm__isnull=False) | Q(weight_kg__isnull=False))
        .order_by("-recorded_at")[:20]
    )


def record_access_log(patient: Patient):
    """Who opened, downloaded or exported this patient's record, and who connected or
    disconnected a portal account to it (for the patient portal)."""

    return (
        AuditEvent.objects.filter(patient_id=patient.pk)
        .filter(
            Q(action__in=[AuditAction.READ, AuditAction.EXPORT])
            | Q(action=AuditAction.UPDATE, detail__has_key="portal_account_linked")
        )
        .select_related("actor")
        .order_by("-created_at", "-id")
    )


# --- Portal accounts -------------------------------------------------------------------


def portal_accounts_awaiting_record(q: str = ""):
    """Active patient accounts with no patient record, newest first; ``q`` matches every
    word against first name, last name or email (case-insensitive)."""

    qs = User.objects.filter(role=Role.PATIENT, is_active=True, patient__isnull=True)
    for word in (q or "").split()[:6]:
        qs = qs.filter(
            Q(first_name__icontains=word) | Q(last_name__icontains=word) | Q(email__icontains=word)
        )
    return qs.order_by("-date_joined", "-id")


def unlinked_patients_by_email(emails) -> dict[str, Patient]:
    """Records without an account whose email is one of ``emails`` (lower-cased key): the
    likely match for an account awaiting its record. One query for a whole page."""
    wanted = {e.lower() for e in emails if e}
    if not wanted:
        return {}
    rows = (
        Patient.objects.annotate(email_lower=Lower("email"))
        .filter(email_lower__in=wanted, user__isnull=True)
        .order_by("id")
    )
    found: dict[str, Patient] = {}
    for p in rows:
        found.setdefault(p.email_lower, p)
    return found


def link_candidates(account, q: str = "", limit: int = 10) -> list[Patient]:
    """Records a staff member may pick for ``account``: the search for ``q`` (name, ID
    number or email), or with no search the records that share its email or its name."""
    q = (q or "").strip()
    if q:
        return list(patient_search(q=q)[:limit])
    # Two indexed look-ups (lower(email), and the name search) rather than one OR scan.
    by_email = list(patient_search(q=account.email)[:limit])
    by_name = list(patient_search(q=f"{account.first_name} {account.last_name}")[:limit])
    seen: dict[int, Patient] = {p.pk: p for p in by_email}
    for p in by_name:
        seen.setdefault(p.pk, p)
    return list(seen.values())[:limit]


def get_patient_account(pk: int):
    """A patient-role account (with its record, if any); 404 for staff accounts and unknown
    ids alike."""

    try:
        return User.objects.select_related("patient").get(pk=pk, role=Role.PATIENT)
    except (User.DoesNotExist, ValueError, TypeError):
        raise Http404("No such account") from None


def patient_possible_duplicates(
    *,
    id_number: str,
    first_name: str,
    last_name: str,
    birth_date: date,
    exclude_pk: int | None = None,
) -> list[Patient]:
    """Registered patients with the same ID number, or the same name and birth date."""

    same_name = (
        Q(birth_date=birth_date)
        & Q(last_name__iexact=last_name.strip())
        & Q(first_name__iexact=first_name.strip())
    )
    qs = Patient.objects.filter(Q(id_number__iexact=id_number.strip()) | same_name)
    if exclude_pk:
        qs = qs.exclude(pk=exclude_pk)
    found = list(qs[:10])
    if not found:
        # Accent-insensitive second look: "José" vs "Jose".
        wanted = (normalize_search(first_name), normalize_search(last_name))
        for p in Patient.objects.filter(birth_date=birth_date).exclude(pk=exclude_pk or 0)[:200]:
            if (normalize_search(p.first_name), normalize_search(p.last_name)) == wanted:
                found.append(p)
    return found
