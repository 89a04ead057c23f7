"""Rendering with boxcert.web.Pages: escaping, strictness, the base template, the stylesheet."""

from __future__ import annotations

import pytest
from jinja2 import DictLoader, UndefinedError
from starlette.requests import Request

from boxcert.web import Pages


def request(path: str = "/") -> Request:
    return Request(
        {
            "type": "http",
            "method": "GET",
            "path": path,
            "headers": [],
            "query_string": b"",
            "server": ("testserver", 80),
            "scheme": "http",
        }
    )


PAGES = Pages(
    "Site name",
    DictLoader(
        {
            "show.html": '{% extends "base.html" %}{% block content %}<p>{{ value }}</p>'
            "<form>{{ csrf_field() }}</form>{% endblock %}",
        }
    ),
)


def test_values_are_escaped() -> None:
    html = PAGES.render(request(), "show.html", value='<script>alert("x")</script>').body.decode()
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html


def test_a_missing_value_is_an_error_not_an_empty_string() -> None:
    with pytest.raises(UndefinedError):
        PAGES.render(request(), "show.html")


def test_the_base_template_works_on_a_phone_without_script() -> None:
    html = PAGES.render(request(), "show.html", value="v", title="Title").body.decode()
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert "<title>Title · Site name</title>" in html
    assert f'<link rel="stylesheet" href="{PAGES.stylesheet_url}">' in html
    assert "<script" not in html
    assert '<input type="hidden" name="csrf_token" value="">' in html  # no session middleware


def test_messages_and_their_status() -> None:
    answer = PAGES.message(request(), 404, "Gone", "Nothing <here>.")
    assert answer.status_code == 404
    assert "Nothing &lt;here&gt;." in answer.body.decode()


def test_the_stylesheet_url_changes_with_its_content() -> None:
    assert PAGES.stylesheet_url.startswith("/static/boxcert.css?v=")
    assert Pages("Other").stylesheet_url == PAGES.stylesheet_url
