"""``{% extends %}`` with the parent's blocks remembered renders what Django's renders:
several levels, ``block.super``, parents named by variables or given as templates, parents
with text only, nested blocks, and a parent whose source changed (cache reset)."""

from __future__ import annotations

import pytest
from django.template import Context, Engine, TemplateSyntaxError
from django.template.loader import get_template
from django.template.loader_tags import ExtendsNode

from uscpis.template_extends import RememberedBlocksExtendsNode, root_blocks

TEMPLATES = {
    "root.html": "<{% block a %}A{% endblock %}|{% if x %}{% block b %}B{% block c %}C"
    "{% endblock %}{% endblock %}{% endif %}|{% for i in items %}{% block d %}D{{ i }}"
    "{% endblock %}{% endfor %}>",
    "middle.html": "{% extends 'root.html' %}{% block a %}M{{ block.super }}{% endblock %}"
    "{% block c %}MC{{ block.super }}{% endblock %}",
    "leaf.html": "{% extends 'middle.html' %}{% block a %}L{{ block.super }}{% endblock %}"
    "{% block d %}LD{{ block.super }}{% endblock %}",
    "by_variable.html": "{% extends parent %}{% block b %}V{{ block.super }}{% endblock %}",
    "text_only.html": "just text",
    "extends_text_only.html": "{% extends 'text_only.html' %}{% block a %}never{% endblock %}",
    "twice.html": "{% extends 'root.html' %}{% extends 'root.html' %}",
    "recursive/base.html": "[{% block a %}r{% endblock %}]",
    "recursive/page.html": "{% extends 'recursive/base.html' %}{% block a %}p{{ block.super }}"
    "{% endblock %}",
}
CONTEXTS = [
    {"x": True, "items": [1, 2], "parent": "root.html"},
    {"x": False, "items": [], "parent": "middle.html"},
    {"x": True, "items": [3], "parent": "leaf.html"},
]


def _engines(templates=TEMPLATES):
    loaders = [
        (
            "django.template.loaders.cached.Loader",
            [("django.template.loaders.locmem.Loader", templates)],
        )
    ]
    django = Engine(loaders=loaders)
    ours = Engine(loaders=loaders, builtins=["uscpis.template_extends"])
    return django, ours


@pytest.mark.parametrize("name", [n for n in TEMPLATES if n != "twice.html"])
def test_renders_as_django_extends(name):
    django, ours = _engines()
    for context in CONTEXTS * 2:  # twice: the second render uses the remembered blocks
        expected = django.get_template(name).render(Context(context))
        assert ours.get_template(name).render(Context(context)) == expected


def test_parent_given_as_a_template():
    django, ours = _engines()
    context = {"x": True, "items": [1]}
    expected = django.get_template("by_variable.html").render(
        Context({**context, "parent": django.get_template("middle.html")})
    )
    for _ in range(2):
        rendered = ours.get_template("by_variable.html").render(
            Context({**context, "parent": ours.get_template("middle.html")})
        )
        assert rendered == expected == "<MA|VBMCC|D1>"


def test_the_node_is_djangos_and_errors_are_djangos():
    _, ours = _engines()
    node = ours.get_template("leaf.html").nodelist[0]
    assert type(node) is RememberedBlocksExtendsNode and isinstance(node, ExtendsNode)
    with pytest.raises(TemplateSyntaxError, match="cannot appear more than once"):
        ours.get_template("twice.html")
    with pytest.raises(TemplateSyntaxError, match="takes one argument"):
        ours.from_string("{% extends %}")


def test_blocks_are_remembered_per_compiled_template():
    templates = dict(TEMPLATES)
    _, ours = _engines(templates)
    root = ours.get_template("root.html")
    assert set(root_blocks(root)) == {"a", "b", "c", "d"}
    assert root_blocks(root) is root_blocks(root)
    assert root_blocks(ours.get_template("middle.html")) is None  # extends another
    assert root_blocks(ours.get_template("text_only.html")) is None
    assert ours.get_template("leaf.html").render(Context(CONTEXTS[0])) == "<LMA|BMCC|LDD1LDD2>"
    # The template changes and the cached loader is reset (as autoreload does): a new
    # compiled parent, walked afresh.
    templates["root.html"] = "({% block a %}new{% endblock %})"
    ours.template_loaders[0].reset()
    assert ours.get_template("leaf.html").render(Context(CONTEXTS[0])) == "(LMnew)"


def test_the_project_engine_uses_it():
    node = get_template("bench/shell.html").template.nodelist[0]
    assert type(node) is RememberedBlocksExtendsNode
