"""The website as a reader sees it.

Builds the book once per session with ``jupyter-book build -W -n --keep-going --all .`` into ``_build``
(the execution cache in ``_build/.jupyter_cache`` keeps rebuilds fast), then opens the built pages from
``file://`` in Debian's headless chromium, driven through Debian's chromedriver with Selenium, with no
network, and checks:

- the build is warning-free;
- no built page points at a CDN: MathJax and the ipywidgets manager come from the site itself;
- on every chapter page: MathJax typeset every formula, every image loaded, the page loaded nothing
  from outside the site, no JavaScript error was logged, the Colab launch button has the exact URL;
- widgets respond without a kernel: choosing another option in a widget's control changes the image
  shown (chapters 01 and 02 must have such a widget);
- a full-page screenshot of every chapter is saved in ``_build/screenshots/<name>.png``.

Needs ``apt-get install chromium chromium-driver`` (the test fails, it does not skip, without them).
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "_build"
HTML = BUILD / "html"
SCREENSHOTS = BUILD / "screenshots"

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
APT_HINT = "install it with: apt-get install -y chromium chromium-driver"

REPOSITORY = "dlkit-course/deep-learning-course"
BRANCH = "main"
COLAB = f"https://colab.research.google.com/github/{REPOSITORY}/blob/{BRANCH}/{{path}}.ipynb"

# Chapters whose page must contain a widget that responds without a kernel.
PAGES_WITH_WIDGETS = {"chapters/01_neural_networks", "chapters/02_gradient_descent",
                      "chapters/05_convolutional_networks"}

# Addresses of the CDNs that Jupyter Book, myst-nb and the themes use by default.
CDN = re.compile(r"cdn\.jsdelivr|unpkg\.com|cdnjs|mathjax\.org|requirejs\.org|googleapis")

BUILD_TIMEOUT = 1200  # seconds; the whole book builds from cold in about 10 minutes at most
PAGE_TIMEOUT = 60  # seconds for a page to load, typeset its math and render its widgets


def toc_notebooks() -> list[str]:
    """The notebook pages listed in _toc.yml (without suffix), in order."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files: list[str] = []

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("chapters"))
            walk(entry.get("sections"))
            walk(entry.get("parts"))

    walk(toc.get("parts") or toc.get("chapters"))
    return [f for f in files if not (ROOT / f"{f}.md").is_file()]


CHAPTERS = toc_notebooks()


# --------------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="session")
def site() -> Path:
    """Build the book once (warnings are errors) and return the HTML folder."""
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    if not jupyter_book.exists():
        jupyter_book = Path(shutil.which("jupyter-book") or "jupyter-book")
    # A fresh html folder: no page or asset left over from an earlier build can hide a problem.
    # The execution cache (_build/.jupyter_cache) is kept, so unchanged notebooks do not re-run.
    shutil.rmtree(HTML, ignore_errors=True)
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    command = [str(jupyter_book), "build", "-W", "-n", "--keep-going", "--all", str(ROOT)]
    try:
        result = subprocess.run(
            command,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT,
        )
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"jupyter-book build took longer than {BUILD_TIMEOUT} s:\n{error.stdout}")
    BUILD.mkdir(exist_ok=True)
    log = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)  # no terminal colours
    (BUILD / "site-build.log").write_text(log, encoding="utf-8")
    problems = [
        line
        for line in log.splitlines()
        if re.search(r"\b(WARNING|ERROR|CRITICAL)\b|Execution Failed|Traceback", line)
    ]
    assert result.returncode == 0 and not problems, (
        f"`{' '.join(command)}` exited with {result.returncode} and reported "
        f"{len(problems)} problem line(s):\n" + "\n".join(problems[:40]) + f"\n\n(full log: {BUILD / 'site-build.log'})"
    )
    return HTML


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium, headless, with a fresh profile, driven by Debian's chromedriver."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: the website test needs Debian's chromium; {APT_HINT}")
    if not CHROMEDRIVER.exists():
        pytest.fail(f"{CHROMEDRIVER} is missing: the website test needs Debian's chromedriver; {APT_HINT}")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is missing: pip install -r requirements.txt")

    profile = tempfile.mkdtemp(prefix="site-test-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--window-size=1280,1000",
    ):
        options.add_argument(flag)
    # "browser": the console; "performance": DevTools events, for every request the page makes.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    # Both paths are given, so Selenium never tries to download a browser or a driver.
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(PAGE_TIMEOUT)
    driver.set_script_timeout(PAGE_TIMEOUT)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


class Page:
    """A built page, opened in the browser, with everything a reader waits for finished."""

    def __init__(self, driver, path: Path):
        self.driver = driver
        self.path = path
        driver.get_log("browser")  # forget messages and requests from earlier pages
        driver.get_log("performance")
        driver.get(path.as_uri())
        self.wait_for_math()
        self.wait_for_widgets()
        self.scroll_through()  # so that no lazily loaded image is left unloaded
        self.wait_for_images()
        self.log = driver.get_log("browser")
        self.requests = self.requested_urls()

    def requested_urls(self) -> list[str]:
        """Every URL the page requested so far (file, data, http...), from DevTools network events."""
        urls = []
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.requestWillBeSent":
                urls.append(message["params"]["request"]["url"])
        return urls

    def js(self, script, *args):
        return self.driver.execute_script(script, *args)

    def wait(self, condition, message, timeout=PAGE_TIMEOUT):
        from selenium.webdriver.support.ui import WebDriverWait
        from selenium.common.exceptions import TimeoutException

        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.1).until(lambda d: condition())
        except TimeoutException:
            pytest.fail(f"{self.path.relative_to(HTML)}: {message} (waited {timeout} s)")

    def wait_for_math(self):
        if not self.js("return document.querySelector('.math') !== null"):
            return
        self.wait(
            lambda: self.js("return !!(window.MathJax && MathJax.startup && MathJax.startup.promise)"),
            "MathJax did not load",
        )
        outcome = self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "MathJax.startup.promise.then(() => done(true), (e) => done(String(e)));"
        )
        assert outcome is True, f"{self.path.relative_to(HTML)}: MathJax failed to start: {outcome}"

    def wait_for_widgets(self):
        views = self.js(
            "return document.querySelectorAll('script[type=\"application/vnd.jupyter.widget-view+json\"]').length"
        )
        if views:
            self.wait(
                lambda: self.js("return document.querySelectorAll('.jupyter-widgets').length") > 0,
                "the ipywidgets manager rendered no widget",
            )

    def scroll_through(self):
        self.js(
            "const h = document.documentElement.scrollHeight;"
            "for (let y = 0; y < h; y += window.innerHeight) window.scrollTo(0, y);"
            "window.scrollTo(0, 0);"
        )

    def wait_for_images(self):
        self.wait(
            lambda: self.js("return Array.from(document.images).every(i => i.complete)"),
            "some images never finished loading",
        )

    def screenshot(self, target: Path):
        """Save a PNG of the whole page (not just the window)."""
        metrics = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        width = int(size["width"])
        height = min(int(size["height"]), 100000)  # a long chapter is about 60000 px
        shot = self.driver.execute_cdp_cmd(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
            },
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(base64.b64decode(shot["data"]))


@pytest.fixture(scope="session")
def pages(site, browser):
    """Open a chapter page, reusing it while the browser still shows it."""
    opened: dict[str, Page] = {}

    def open_page(chapter: str) -> Page:
        path = site / f"{chapter}.html"
        # One browser serves every page: a page opened earlier is reused only if the
        # browser has not moved on to another one since.
        if chapter not in opened or browser.current_url != path.as_uri():
            assert path.is_file(), f"{chapter}.html was not built (is it listed in _toc.yml?)"
            opened[chapter] = Page(browser, path)
        return opened[chapter]

    return open_page


# --------------------------------------------------------------------------------------------------
# The build


def test_build_is_warning_free(site):
    # The fixture asserts it; this test makes it show up as a test of its own.
    assert (site / "index.html").is_file()
    assert (site / "intro.html").is_file()


def test_toc_lists_the_chapters():
    assert CHAPTERS, "_toc.yml lists no chapter notebook"
    for chapter in CHAPTERS:
        assert (ROOT / f"{chapter}.ipynb").is_file(), f"_toc.yml lists {chapter}, which does not exist"


def test_no_page_uses_a_cdn(site):
    offenders = []
    for page in sorted(site.rglob("*.html")):
        text = page.read_text(encoding="utf-8", errors="replace")
        for match in CDN.finditer(text):
            context = text[max(0, match.start() - 80) : match.end() + 40].replace("\n", " ")
            offenders.append(f"{page.relative_to(site)}: ...{context}...")
    assert not offenders, "pages still refer to a CDN:\n" + "\n".join(offenders[:20])


def test_offline_assets_are_in_the_site(site):
    for asset in (
        "mathjax/tex-mml-chtml.js",
        "mathjax/output/chtml/fonts/woff-v2/MathJax_Main-Regular.woff",
        "mathjax/input/tex/extensions/ams.js",
        "widgets/embed.js",
        "widgets/mathjax-hub-shim.js",
    ):
        assert (site / "_static" / asset).is_file(), f"_static/{asset} is missing from the built site"


# --------------------------------------------------------------------------------------------------
# What a reader sees, chapter by chapter


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_page(pages, chapter):
    page = pages(chapter)
    name = Path(chapter).name
    page.screenshot(SCREENSHOTS / f"{name}.png")

    # Nothing was fetched from outside the site.
    assert page.requests, f"{chapter}: no request recorded (DevTools performance log is empty)"
    outside = [url for url in page.requests if re.match(r"(https?|wss?|ftp):", url)]
    assert not outside, f"{chapter}: the page requested resources from outside the site: {outside[:10]}"

    # No JavaScript error, no missing file.
    errors = [entry["message"] for entry in page.log if entry["level"] == "SEVERE"]
    assert not errors, f"{chapter}: the browser logged errors:\n" + "\n".join(errors)

    # MathJax typeset every formula; no raw TeX is left in the text a reader sees.
    # (Texts are cut by code points: a typeset formula holds astral-plane characters, and a lone
    # surrogate cannot be sent back from the browser.)
    n_math = page.js("return document.querySelectorAll('article .math').length")
    untypeset = page.js(
        "return Array.from(document.querySelectorAll('article .math'))"
        ".filter(e => e.querySelector('mjx-container') === null)"
        ".map(e => Array.from(e.textContent).slice(0, 80).join(''))"
    )
    assert not untypeset, (
        f"{chapter}: MathJax did not typeset {len(untypeset)} of {n_math} formulas: {untypeset[:5]}"
    )
    assert page.js("return document.querySelectorAll('mjx-merror').length") == 0, (
        f"{chapter}: MathJax reports TeX errors: "
        + str(page.js("return Array.from(document.querySelectorAll('mjx-merror')).map(e => e.getAttribute('data-mjx-error'))"))
    )
    # Equations are numbered by their \\tag (the numbers the text and the graders cite); a
    # second, automatic Sphinx number beside one would contradict it.
    auto_numbers = page.js("return Array.from(document.querySelectorAll('article span.eqno'))"
                           ".map(e => e.textContent.trim())")
    assert not auto_numbers, f"{chapter}: equations numbered twice, by Sphinx: {auto_numbers}"
    raw = page.js(
        "const a = document.querySelector('article').cloneNode(true);"
        "a.querySelectorAll('pre, code, script, style, .highlight, mjx-container').forEach(e => e.remove());"
        "return (a.textContent.match(/(\\\\\\(|\\\\\\[|\\$\\$).{0,60}/gu) || []);"
    )
    assert not raw, f"{chapter}: raw TeX is shown to the reader: {raw[:5]}"

    # Every figure loaded.
    broken = page.js(
        "return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))"
        ".map(i => i.getAttribute('src').slice(0, 100))"
    )
    assert not broken, f"{chapter}: images did not load: {broken}"

    # The Colab launch button opens this notebook on the repository's main branch.
    colab = page.js(
        "return Array.from(document.querySelectorAll("
        "  '.dropdown-launch-buttons a[href*=\"colab.research.google.com\"]')).map(a => a.href)"
    )
    expected = COLAB.format(path=chapter)
    assert colab == [expected], f"{chapter}: Colab launch links {colab}, expected [{expected!r}]"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_widgets_respond_without_a_kernel(pages, chapter):
    page = pages(chapter)
    n_widgets = page.js("return document.querySelectorAll('article .jupyter-widgets').length")
    if chapter in PAGES_WITH_WIDGETS:
        assert n_widgets > 0, f"{chapter}: the page shows no ipywidgets widget"
    if n_widgets == 0:
        return  # this chapter has no widget; nothing more to check

    # The first control that picks among options: a dropdown (or any select), else a selection slider.
    control = page.js(
        "return document.querySelector('article .widget-dropdown select')"
        " || document.querySelector('article .jupyter-widgets select')"
        " || document.querySelector('article .widget-slider .noUi-handle, article .widget-slider .ui-slider-handle')"
    )
    if control is None and chapter not in PAGES_WITH_WIDGETS:
        return  # only output widgets here (the progress bars of tqdm.auto): nothing to move
    assert control is not None, f"{chapter}: no dropdown, select or slider found in the page's widgets"

    # The images shown in the same cell output, before and after changing the control.
    visible_images = (
        "const area = arguments[0].closest('.cell_output') || arguments[0].closest('.jupyter-widgets');"
        "return Array.from(area.querySelectorAll('img'))"
        "  .filter(i => i.offsetParent !== null && i.getBoundingClientRect().width > 0)"
        "  .map(i => [i.src, i.complete && i.naturalWidth > 0]);"
    )
    before = page.js(visible_images, control)
    assert before, f"{chapter}: the widget next to the control shows no image"

    page.js("arguments[0].scrollIntoView({block: 'center'})", control)
    if control.tag_name == "select":
        from selenium.webdriver.support.ui import Select

        select = Select(control)
        options = select.options
        assert len(options) > 1, f"{chapter}: the widget's dropdown has only one option"
        current = next(i for i, option in enumerate(options) if option.is_selected())
        select.select_by_index((current + 1) % len(options))
    else:
        from selenium.webdriver.common.keys import Keys

        control.click()
        control.send_keys(Keys.ARROW_RIGHT)

    page.wait(
        lambda: page.js(visible_images, control) != before,
        "changing the widget's control did not change the image shown",
        timeout=10,
    )
    page.wait(
        lambda: all(loaded for _, loaded in page.js(visible_images, control)),
        "the image shown after changing the control did not load",
        timeout=10,
    )
    area = page.driver.execute_script(
        "return arguments[0].closest('.cell_output') || arguments[0].closest('.jupyter-widgets')", control
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    area.screenshot(str(SCREENSHOTS / f"{Path(chapter).name}-widget.png"))

    errors = [entry["message"] for entry in page.driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors, f"{chapter}: the browser logged errors while the widget changed:\n" + "\n".join(errors)


def test_landing_page(site, browser):
    page = Page(browser, site / "intro.html")
    assert page.js("return document.querySelector('article h1').textContent").startswith(
        "Deep Learning from First Principles"
    )
    errors = [entry["message"] for entry in page.log if entry["level"] == "SEVERE"]
    assert not errors, "intro.html: the browser logged errors:\n" + "\n".join(errors)
    links = page.js("return Array.from(document.querySelectorAll('article a.internal')).map(a => a.href)")
    for chapter in CHAPTERS:
        assert any(link.endswith(f"{chapter}.html") for link in links), f"intro.html does not link to {chapter}"
    page.screenshot(SCREENSHOTS / "intro.png")


def test_navigation_opens_on_a_small_screen(site, browser):
    """On a phone-sized window the table of contents hides behind the article header's toggle."""
    size = browser.get_window_size()
    browser.set_window_size(420, 860)
    try:
        page = Page(browser, site / "intro.html")
        toggles = [t for t in browser.find_elements("css selector", ".primary-toggle") if t.is_displayed()]
        assert toggles, "intro.html: no visible button opens the navigation on a small screen"
        toggles[0].click()
        page.wait(
            lambda: page.js(
                "const d = document.getElementById('pst-primary-sidebar-modal'); return !!(d && d.open);"
            ),
            "the navigation toggle does not open the table of contents on a small screen",
            timeout=5,
        )
        links = page.js(
            "return Array.from(document.querySelectorAll('#pst-primary-sidebar-modal a'))"
            ".filter(a => a.offsetParent !== null).map(a => a.getAttribute('href'))"
        )
        for chapter in CHAPTERS:
            assert any(link and link.endswith(f"{chapter}.html") for link in links), (
                f"the navigation opened on a small screen does not list {chapter}: {links}"
            )
    finally:
        browser.set_window_size(size["width"], size["height"])
