"""Open balances by visit day and by patient, kept by triggers on billing_invoice.

A row-level trigger adds an invoice's contribution (count, net, patient share, open
balance) while it is issued or partially paid and takes it away when it leaves that state,
in the same statement, whatever wrote the row. The summary is then filled from the
invoices already there. (SQL frozen here; billing/services/open_balances.py holds the
rebuild the command runs.)
"""

import django.db.models.deletion
from django.db import migrations, models



OPEN = "('issued', 'partially_paid')"

TRIGGERS = f"""
CREATE OR REPLACE FUNCTION billing_open_balance_add(
    p_patient bigint, p_day date, p_invoices integer,
    p_net numeric, p_patient_total numeric, p_balance numeric
) RETURNS void AS $$
DECLARE
    day_left integer;
    patient_left integer;
BEGIN
    -- The totals row first, every time: concurrent writers queue on this one lock instead
    -- of deadlocking over day and patient rows taken in different orders. (Locked, not
    -- rewritten: no new row version per invoice change.)
    INSERT INTO billing_openbalancetotal (id, patients) VALUES (1, 0)
    ON CONFLICT (id) DO NOTHING;
    PERFORM 1 FROM billing_openbalancetotal WHERE id = 1 FOR UPDATE;

    INSERT INTO billing_openbalanceday AS d
        (visit_day, invoices, net_total, patient_total, balance)
    VALUES (p_day, p_invoices, p_net, p_patient_total, p_balance)
    ON CONFLICT (visit_day) DO UPDATE SET
        invoices = d.invoices + EXCLUDED.invoices,
        net_total = d.net_total + EXCLUDED.net_total,
        patient_total = d.patient_total + EXCLUDED.patient_total,
        balance = d.balance + EXCLUDED.balance
    RETURNING d.invoices INTO day_left;
    IF day_left = 0 THEN
        DELETE FROM billing_openbalanceday WHERE visit_day = p_day;
    END IF;

    INSERT INTO billing_openbalancepatient AS s (patient_id, invoices, balance)
    VALUES (p_patient, p_invoices, p_balance)
    ON CONFLICT (patient_id) DO UPDATE SET
        invoices = s.invoices + EXCLUDED.invoices,
        balance = s.balance + EXCLUDED.balance
    RETURNING s.invoices INTO patient_left;
    IF patient_left = 0 THEN
        DELETE FROM billing_openbalancepatient WHERE patient_id = p_patient;
    END IF;
    -- A patient row exists while its count is above 0: count the rows that appear or go.
    IF patient_left > 0 AND patient_left = p_invoices THEN
        UPDATE billing_openbalancetotal SET patients = patients + 1 WHERE id = 1;
    ELSIF patient_left = 0 AND p_invoices < 0 THEN
        UPDATE billing_openbalancetotal SET patients = patients - 1 WHERE id = 1;
    END IF;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION billing_invoice_track_open_balance() RETURNS trigger AS $$
DECLARE
    was_open boolean := TG_OP <> 'INSERT' AND OLD.status IN {OPEN};
    is_open boolean := TG_OP <> 'DELETE' AND NEW.status IN {OPEN};
BEGIN
    IF was_open AND is_open AND OLD.patient_id = NEW.patient_id
       AND OLD.visit_day = NEW.visit_day THEN
        PERFORM billing_open_balance_add(
            NEW.patient_id, NEW.visit_day, 0, NEW.net_total - OLD.net_total,
            NEW.patient_total - OLD.patient_total, NEW.open_balance - OLD.open_balance);
    ELSE
        IF was_open THEN
            PERFORM billing_open_balance_add(
                OLD.patient_id, OLD.visit_day, -1, -OLD.net_total, -OLD.patient_total,
                -OLD.open_balance);
        END IF;
        IF is_open THEN
            PERFORM billing_open_balance_add(
                NEW.patient_id, NEW.visit_day, 1, NEW.net_total, NEW.patient_total,
                NEW.open_balance);
        END IF;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION billing_invoice_truncate_open_balance() RETURNS trigger AS $$
BEGIN
    DELETE FROM billing_openbalanceday;
    DELETE FROM billing_openbalancepatient;
    DELETE FROM billing_openbalancetotal;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

-- Room on each page for the next versions of its rows (updated in place, HOT, until
-- autovacuum reclaims the old ones): the day rows are read whole by every ageing page.
ALTER TABLE billing_openbalanceday SET (fillfactor = 50);
ALTER TABLE billing_openbalancetotal SET (fillfactor = 50);

CREATE TRIGGER billing_invoice_open_balance_insert_delete
AFTER INSERT OR DELETE ON billing_invoice
FOR EACH ROW EXECUTE FUNCTION billing_invoice_track_open_balance();

CREATE TRIGGER billing_invoice_open_balance_update
AFTER UPDATE ON billing_invoice FOR EACH ROW
WHEN (OLD.status IS DISTINCT FROM NEW.status
      OR OLD.patient_id IS DISTINCT FROM NEW.patient_id
      OR OLD.visit_day IS DISTINCT FROM NEW.visit_day
      OR OLD.net_total IS DISTINCT FROM NEW.net_total
      OR OLD.patient_total IS DISTINCT FROM NEW.patient_total
      OR OLD.open_balance IS DISTINCT FROM NEW.open_balance)
EXECUTE FUNCTION billing_invoice_track_open_balance();

CREATE TRIGGER billing_invoice_open_balance_truncate
AFTER TRUNCATE ON billing_invoice
FOR EACH STATEMENT EXECUTE FUNCTION billing_invoice_truncate_open_balance();
"""

FILL = f"""
LOCK TABLE billing_invoice IN SHARE MODE;
DELETE FROM billing_openbalanceday;
DELETE FROM billing_openbalancepatient;
DELETE FROM billing_openbalancetotal;
INSERT INTO billing_openbalanceday (visit_day, invoices, net_total, patient_total, balance)
SELECT visit_day, count(*), sum(net_total), sum(patient_total), sum(open_balance)
FROM billing_invoice WHERE status IN {OPEN} GROUP BY visit_day;
INSERT INTO billing_openbalancepatient (patient_id, invoices, balance)
SELECT patient_id, count(*), sum(open_balance)
FROM billing_invoice WHERE status IN {OPEN} GROUP BY patient_id;
INSERT INTO billing_openbalancetotal (id, patients)
SELECT 1, count(*) FROM billing_openbalancepatient;
ANALYZE billing_openbalanceday;
ANALYZE billing_openbalancepatient;
"""

UNDO = """
DROP TRIGGER IF EXISTS billing_invoice_open_balance_insert_delete ON billing_invoice;
DROP TRIGGER IF EXISTS billing_invoice_open_balance_update ON billing_invoice;
DROP TRIGGER IF EXISTS billing_invoice_open_balance_truncate ON billing_invoice;
DROP FUNCTION IF EXISTS billing_invoice_track_open_balance();
DROP FUNCTION IF EXISTS billing_invoice_truncate_open_balance();
DROP FUNCTION IF EXISTS billing_open_balance_add(bigint, date, integer, numeric, numeric, numeric);
"""


class Migration(migrations.Migration):

    dependencies = [
        ('billing', '0004_invoice_list_order_index'),
        ('patients', '0013_visit_started_id_diagnosis_code_visit'),
    ]

    operations = [
        migrations.CreateModel(
            name='OpenBalanceDay',
            fields=[
                ('visit_day', models.DateField(primary_key=True, serialize=False)),
                ('invoices', models.IntegerField()),
                ('net_total', models.DecimalField(decimal_places=2, max_digits=14)),
                ('patient_total', models.DecimalField(decimal_places=2, max_digits=14)),
                ('balance', models.DecimalField(decimal_places=2, max_digits=14)),
            ],
        ),
        migrations.CreateModel(
            name='OpenBalanceTotal',
            fields=[
                ('id', models.PositiveSmallIntegerField(primary_key=True, serialize=False)),
                ('patients', models.IntegerField()),
            ],
        ),
        migrations.CreateModel(
            name='OpenBalancePatient',
            fields=[
                ('patient', models.OneToOneField(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, primary_key=True, related_name='+', serialize=False, to='patients.patient')),
                ('invoices', models.IntegerField()),
                ('balance', models.DecimalField(decimal_places=2, max_digits=14)),
            ],
            options={
                'indexes': [models.Index(fields=['-balance', 'patient'], name='billing_open_pat_balance')],
            },
        ),
        migrations.RunSQL(TRIGGERS + FILL, UNDO),
    ]
