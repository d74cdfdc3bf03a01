from django.db import migrations

DEFAULTS = [
    ("ili", "Influenza-like illness", ["J09", "J10", "J11", "J06.9", "R50.9"], 4),
    ("dengue", "Dengue", ["A90", "A91", "A97"], 2),
    ("age", "Acute bloody diarrhoea / gastroenteritis", ["A03", "A06.0", "A08", "A09"], 3),
    ("typhoid", "Typhoid / paratyphoid", ["A01"], 2),
    ("conjunctivitis", "Conjunctivitis", ["H10"], 3),
    ("rash", "Chickenpox / measles rash", ["B01", "B05", "B06"], 2),
    ("mental-health", "Mental-health consultations", ["F"], 3),
]


def create(apps, schema_editor):
    SyndromeGroup = apps.get_model("analytics", "SyndromeGroup")
    for slug, name, prefixes, min_cases in DEFAULTS:
        SyndromeGroup.objects.get_or_create(
            slug=slug, defaults={"name": name, "icd10_prefixes": prefixes, "min_cases": min_cases}
        )


class Migration(migrations.Migration):
    dependencies = [("analytics", "0001_initial")]
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
