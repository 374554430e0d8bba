"""The dashboard's small parts: where a login may send the browser on (never to another
site), the size trend's drawing, which alerts are open, the vendored JavaScript (its
recorded checksums, and that the pages load nothing from elsewhere) and the templates."""

from __future__ import annotations

import hashlib
import re

import pytest

from keyark.server.dashboard.login import safe_next
from keyark.server.dashboard.overview import TREND_HEIGHT, TREND_WIDTH, open_alerts, trend_points
from keyark.server.dashboard.templating import (
    STATIC_DIR,
    TEMPLATE_DIR,
    environment,
    level_class,
    show_seconds,
    show_size,
)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/jobs/nightly", "/jobs/nightly"),
        ("/snapshots?host=a", "/snapshots?host=a"),
        (None, "/"),
        ("", "/"),
        ("//evil.example/x", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
    ],
)
def test_a_login_goes_on_only_to_a_path_of_this_site(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


def test_the_size_trend_fits_its_box_and_rises_with_the_values() -> None:
    points = [tuple(map(float, p.split(","))) for p in trend_points([0, 50, 100]).split()]
    assert [x for x, _ in points] == [0.0, TREND_WIDTH / 2, TREND_WIDTH]
    assert all(0 <= y <= TREND_HEIGHT for _, y in points)
    assert points[0][1] > points[1][1] > points[2][1]  # higher value, higher on the screen
    assert trend_points([]) == ""
    assert trend_points([0.0]) == f"{TREND_WIDTH / 2:.1f},{TREND_HEIGHT - 2:.1f}"


def _alert(ident: int, key: str, level: str, time: str) -> dict[str, object]:
    return {"id": ident, "key": key, "level": level, "time": time, "title": key, "message": ""}


def test_an_alert_is_open_until_a_newer_one_of_its_key_clears_it() -> None:
    alerts = [
        _alert(1, "disk:/", "critical", "2026-01-01T00:00:00+00:00"),
        _alert(2, "disk:/", "ok", "2026-01-02T00:00:00+00:00"),
        _alert(3, "last_run:a", "warning", "2026-01-01T00:00:00+00:00"),
        _alert(4, "job:b", "critical", "2026-01-03T00:00:00+00:00"),
    ]
    assert [alert["id"] for alert in open_alerts(alerts)] == [4, 3]


def test_levels_sizes_and_durations_read_the_same_everywhere() -> None:
    assert [level_class(x) for x in ("success", "failed", "partial", "running", None)] == [
        "ok",
        "critical",
        "warning",
        "info",
        "unknown",
    ]
    assert show_size(512) == "512 B" and show_size(3 * 1024 * 1024) == "3.0 MiB"
    assert show_seconds(0.5) == "0.50 s" and show_seconds(125) == "2 min 05 s"
    assert show_size(None) == "" and show_seconds(None) == ""


def test_vendored_files_match_their_recorded_checksums() -> None:
    vendor = STATIC_DIR / "vendor"
    lines = [
        line.split()
        for line in (vendor / "VENDOR.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert {package for package, *_ in lines} == {"htmx.org", "uplot"}
    for _package, _version, name, digest in lines:
        assert hashlib.sha256((vendor / name).read_bytes()).hexdigest() == digest, name


def test_pages_load_scripts_and_styles_only_from_this_server() -> None:
    env = environment()
    for template in sorted(TEMPLATE_DIR.glob("*.html")):
        env.get_template(template.name)  # every template compiles
        text = template.read_text()
        for url in re.findall(r'(?:src|href)="([^"{]+)"', text):
            assert not re.match(r"^(https?:)?//", url), f"{template.name} loads {url}"
            if url.startswith("/static/"):
                assert (STATIC_DIR / url.removeprefix("/static/")).is_file(), url


def _render(source: str, **data: object) -> str:
    return environment().from_string(source).render(**data)


def test_a_table_has_a_heading_per_column_a_row_per_item_or_its_empty_line() -> None:
    source = (
        '{% from "macros.html" import data_table, unseen %}'
        '{% call(item) data_table("t", ["A", "<B>", unseen("C")], items, "None.") %}'
        "<tr><td>{{ item }}</td></tr>{% endcall %}"
    )
    full = _render(source, items=["x", "<y>"])
    assert full.count("<tr><td>") == 2 and "<td>&lt;y&gt;</td>" in full and "None." not in full
    assert '<th scope="col">&lt;B&gt;</th>' in full  # a heading's text is escaped ...
    assert '<th scope="col"><span class="visually-hidden">C</span></th>' in full  # markup not
    assert '<td colspan="3">None.</td>' in _render(source, items=[])
    assert "<td colspan" not in _render(source.replace(', "None."', ""), items=[])


def test_a_filter_form_has_the_repository_picker_only_for_several_repositories() -> None:
    source = (
        '{% from "macros.html" import filter_form, text_field %}'
        '{% call filter_form("/x", "X filter", repositories=repos, repository="b") %}'
        '{{ text_field("host", "Host", "h&") }}{% endcall %}'
    )
    several = _render(source, repos=["a", "b"])
    assert '<option value="b" selected>b</option>' in several
    assert '<option value="">default</option>' in several
    assert '<input id="host" name="host" value="h&amp;">' in several
    assert '<button type="submit">Filter</button>' in several
    assert 'id="repo"' not in _render(source, repos=["a"])
