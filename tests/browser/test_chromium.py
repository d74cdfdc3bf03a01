"""Chromium itself starts and renders (the browser journeys rely on it)."""


def test_chromium_renders_a_page(browser):
    page = browser.new_page()
    page.set_content("<main><h1>USC-PIS</h1></main>")
    assert page.inner_text("h1") == "USC-PIS"
    page.close()
