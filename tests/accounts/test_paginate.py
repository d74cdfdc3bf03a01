"""``{% paginate %}`` drawn in Python is what ``templates/_pagination.html`` (the inclusion
template it replaces) draws, for every page position, HTMX target and query string."""

from __future__ import annotations

import pytest
from django.core.paginator import Paginator
from django.template import Context, Template
from django.template.loader import render_to_string
from django.test import RequestFactory

from accounts.templatetags.uscpis import pagination_html

QUERIES = ["", "q=a%26b&status=low", "q=%3Cb%3E%22x%22&kind=%27y%27", "q=%C3%B1and%C3%BA"]
TARGETS = ["", "stock-table", 'odd"<id>']


def _old(page, query, target) -> str:
    return render_to_string("_pagination.html", {"page": page, "query": query, "target": target})


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("count", [0, 3, 10, 25, 2_500])
def test_pagination_is_what_the_template_draws(query, target, count):
    paginator = Paginator(range(count), 3)
    for number in {1, 2, paginator.num_pages - 1, paginator.num_pages} - {0}:
        page = paginator.get_page(number)
        assert pagination_html(page, query, target) == _old(page, query, target)


def test_capped_pagination_is_what_the_template_draws():
    paginator = Paginator(range(12), 2)
    paginator.capped, paginator.cap = True, 2_500  # as CappedPaginator and RawPaginator set
    for number in (1, 3, 6):
        page = paginator.get_page(number)
        assert pagination_html(page, "q=x", "t") == _old(page, "q=x", "t")
        assert "more than 2500 matches" in pagination_html(page, "", "")


def test_the_tag_keeps_the_filters_and_drops_the_page():
    request = RequestFactory().get("/x/", {"q": "a&b", "page": "2", "status": "low"})
    page = Paginator(range(30), 5).get_page(2)
    template = Template('{% load uscpis %}{% paginate page "list" %}|{% paginate page %}')
    got = template.render(Context({"request": request, "page": page}))
    query = "q=a%26b&status=low"
    assert got == f"{_old(page, query, 'list')}|{_old(page, query, '')}"
    off = Template("{% load uscpis %}{% autoescape off %}{% paginate page t %}{% endautoescape %}")
    got = off.render(Context({"request": request, "page": page, "t": "<t>"}))
    assert 'hx-target="#<t>"' in got and "q=a%26b&status=low&amp;page=1" in got
