"""Import-linter contract types of our own (registered in ``.importlinter``).

``function_level_only``: modules matching ``importers`` may import modules matching
``imported`` only inside a function body, never at module top. Tasks use it: a task module is
loaded by every Celery worker and by the services that enqueue it, so it loads its service
when the task runs (``STYLE.md``: "a task imports its service inside its body").
"""

from __future__ import annotations

import ast
from fnmatch import fnmatch
from functools import cache
from pathlib import Path

from importlinter import Contract, ContractCheck, fields, output


@cache
def _top_level_import_lines(module: str) -> frozenset[int]:
    base = Path(*module.split("."))
    path = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
    tree = ast.parse(path.read_text(), filename=str(path))
    lines: set[int] = set()
    for node in tree.body:  # module level only (and ``if``/``try`` blocks at module level)
        stack = [node]
        while stack:
            current = stack.pop()
            if isinstance(current, ast.Import | ast.ImportFrom):
                lines.update(range(current.lineno, (current.end_lineno or current.lineno) + 1))
            elif isinstance(current, ast.If | ast.Try):
                stack.extend(ast.iter_child_nodes(current))
    return frozenset(lines)


class FunctionLevelOnlyContract(Contract):
    importers = fields.ListField(subfield=fields.StringField())
    imported = fields.ListField(subfield=fields.StringField())

    def check(self, graph, verbose: bool) -> ContractCheck:
        def matches(module: str, patterns) -> bool:
            return any(fnmatch(module, pattern) for pattern in patterns)

        violations = []
        for importer in sorted(m for m in graph.modules if matches(m, self.importers)):
            for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                if not matches(imported, self.imported):
                    continue
                top = _top_level_import_lines(importer)
                for detail in graph.get_import_details(importer=importer, imported=imported):
                    if detail["line_number"] in top:
                        violations.append(
                            f"{importer}:{detail['line_number']} imports {imported} at module "
                            f"level ({detail['line_contents']})"
                        )
        return ContractCheck(kept=not violations, metadata={"violations": violations})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for violation in check.metadata["violations"]:
            output.print_error(violation)
            output.new_line()
