"""In chromium: the dashboard's charts drawn offline from the vendored ECharts, pages that fit a phone, a skip link
reached first, required markers, and an error summary whose links move the focus into the field."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
#: the main pages of each role
PAGES = {
    "trader": ["/declarations", "/declarations/new", "/upload"],
    "officer": ["/queue", "/parcels", "/declarations"],
    "analyst": ["/dashboard", "/rules", "/models"],
    "admin": ["/admin"],
}


def _block_other_hosts(page) -> list[str]:
    """Abort every request that is not to the test server (loopback); returns the list of those refused."""
    refused: list[str] = []

    def handle(route):
        host = urlparse(route.request.url).hostname
        if host in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    page.route("**/*", handle)
    return refused


def test_the_dashboard_charts_are_drawn_offline_from_the_vendored_echarts(browser):
    page = browser.page
    refused = _block_other_hosts(page)
    scripts: list[tuple[str, int]] = []
    page.on("response", lambda r: scripts.append((urlparse(r.url).path, r.status)) if r.url.endswith(".js") else None)
    browser.login("analyst")
    browser.goto("/dashboard")
    page.wait_for_selector("#hit-rates div.chart[data-drawn] svg")
    charts = page.locator("div.chart")
    assert charts.count() >= 5
    assert page.locator("div.chart[data-drawn]").count() == charts.count()  # every one drawn
    assert ("/static/vendor/echarts/echarts.common.min.js", 200) in scripts
    assert refused == []
    # the mechanism explanation: the chart and the words for each mechanism and AEO
    legend = page.locator("#mechanisms div.chart svg").first.text_content()
    assert "held" in legend and "inspected" in legend
    help_text = page.locator("[data-testid=mechanism-help]").inner_text()
    for word in ("rules", "model", "random (exploration)", "mandatory", "AEO"):
        assert word in help_text
    assert page.locator("[data-testid=grades] tr").count() >= 2
    assert "rules" in page.locator("#hit-rates div.chart svg").first.text_content()  # the legend, in words
    browser.shot("dashboard-charts")
    assert browser.unexpected_errors() == []


def test_chart_titles_and_legends_follow_the_page_language(browser):
    page = browser.page
    _block_other_hosts(page)
    browser.login("analyst")
    browser.goto("/lang/zh?next=/dashboard")
    page.wait_for_selector("#mechanisms div.chart[data-drawn] svg")
    svg = page.locator("#mechanisms div.chart svg").first.text_content()
    assert "布控" in svg and "已查验" in svg and "查获" in svg
    assert "各布控方式查获率" in page.locator("#hit-rates div.chart svg").first.text_content()
    browser.shot("dashboard-charts-zh")
    browser.goto("/lang/en?next=/dashboard")


@pytest.mark.parametrize("role", sorted(PAGES))
def test_the_main_pages_fit_a_phone_without_sideways_scrolling(browser, role):
    page = browser.page
    browser.login(role)
    page.set_viewport_size(PHONE)
    try:
        for path in PAGES[role]:
            browser.goto(path)
            page.wait_for_load_state("load")
            page.wait_for_timeout(100)  # charts drawn, tables wrapped
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], f"{path} is {width} px wide at a {PHONE['width']} px phone"
            # wide tables scroll inside their card, and the keyboard can scroll them
            for region in page.locator(".table-scroll, .table-wrap").all():
                box = region.bounding_box()
                if box is not None:
                    assert box["x"] + box["width"] <= PHONE["width"] + 1, path
                if region.evaluate("e => e.scrollWidth > e.clientWidth + 1"):
                    assert region.get_attribute("tabindex") == "0", path
        browser.shot(f"phone-{role}")
    finally:
        page.set_viewport_size({"width": 1280, "height": 900})


def test_the_first_tab_reaches_the_skip_link_which_moves_to_the_content(browser):
    page = browser.page
    browser.login("trader")
    browser.goto("/declarations")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.dataset.testid")
    assert focused == "skip-link"
    box = page.locator("[data-testid=skip-link]").bounding_box()
    assert box is not None and box["y"] >= 0  # shown when focused
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # a visible focus
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.keyboard.press("Tab")  # the next stop is inside the content, not back in the menu
    assert page.evaluate("document.activeElement.closest('main') !== null")


def test_required_fields_are_marked_and_announced(browser):
    page = browser.page
    browser.login("analyst")
    browser.goto("/rules")
    name = page.locator("#rule-form input[name=name]")
    assert name.get_attribute("aria-required") == "true"
    label = page.locator("#rule-form label", has=page.locator("input[name=name]"))
    assert label.locator("abbr.req").count() == 1
    assert page.locator("#rule-form .required-note").count() == 1
    description = page.locator("#rule-form input[name=description]")
    assert description.get_attribute("aria-required") is None  # optional: no marker
    assert page.locator("#rule-form label", has=page.locator("input[name=description]")).locator(
        "abbr.req").count() == 0
    # every visible control of the form has a label tied to it
    unlabelled = page.evaluate("""[...document.querySelectorAll('#rule-form input, #rule-form select')]
        .filter(e => e.type !== 'hidden' && e.offsetParent !== null)
        .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map(e => e.name)""")
    assert unlabelled == []


def test_the_error_summary_links_move_the_focus_into_each_field(browser):
    page = browser.page
    browser.login("analyst")
    browser.goto("/rules")
    page.fill("#rule-form input[name=name]", "")
    page.fill("#rule-form input[name=target_rate]", "7")
    page.click("#rule-form button[type=submit]")
    summary = page.locator("#rule-form > .error-summary")
    summary.wait_for()
    assert page.evaluate("document.activeElement.classList.contains('error-summary')")  # announced first
    assert summary.get_attribute("role") == "alert"
    links = summary.locator("a")
    assert links.count() >= 2
    by_target = {links.nth(i).get_attribute("href"): links.nth(i) for i in range(links.count())}
    for href, link in by_target.items():
        link.click()
        active = page.evaluate("'#' + document.activeElement.id")
        assert active == href
        assert page.evaluate("document.activeElement.getAttribute('aria-invalid')") == "true"
    names = page.evaluate("[...document.querySelectorAll('#rule-form > .error-summary a')].map(a => "
                          "document.querySelector(a.getAttribute('href')).name)")
    assert "name" in names and "target_rate" in names
    assert browser.unexpected_errors(422) == []
