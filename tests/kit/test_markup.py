"""Invoice comments' simple formatting: bold, italic, links and line breaks; raw HTML and
script links come out as text."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cadency.kit.markup import simple_markdown


def test_bold_italic_links_and_line_breaks() -> None:
    html = simple_markdown(
        "Thanks **a lot**, *really*.\nTerms: [our terms](https://shop.example/terms)"
        "\n\nQuestions? [Mail us](mailto:help@shop.example)"
    )
    assert str(html) == (
        "<p>Thanks <strong>a lot</strong>, <em>really</em>.<br>\n"
        'Terms: <a href="https://shop.example/terms">our terms</a></p>\n'
        '<p>Questions? <a href="mailto:help@shop.example">Mail us</a></p>\n'
    )


def test_html_and_script_links_stay_text() -> None:
    html = str(
        simple_markdown(
            "<script>alert(1)</script> <img src=x onerror=alert(1)> [x](javascript:alert(1))"
            ' [y](data:text/html,hi) <a href="https://evil.example">z</a>'
        )
    )
    assert "<script" not in html and "<img" not in html and '<a href="https://evil' not in html
    assert "javascript:" not in html.split("[x](")[0]
    assert 'href="javascript' not in html and 'href="data' not in html
    assert "&lt;script&gt;" in html


def test_no_text_is_nothing() -> None:
    assert simple_markdown(None) == "" and simple_markdown("  \n ") == ""


# Markdown the renderer does not offer (headings, lists, images, tables) stays text.
def test_other_markdown_is_left_as_written() -> None:
    html = str(simple_markdown("# Title\n- item\n![logo](https://x.example/l.png)"))
    assert "<h1>" not in html and "<li>" not in html and "<img" not in html
    assert "# Title" in html


@given(st.text(max_size=200))
def test_any_text_makes_no_tag_but_the_allowed_ones(text: str) -> None:
    html = str(simple_markdown(text))
    tags = {part.split(">")[0].split()[0].strip("/") for part in html.split("<")[1:]}
    assert tags <= {"p", "br", "strong", "em", "a", "code", ""}
