"""The report pages (suite and ablation) in a real headless browser (Debian ``chromium``): they render, their images
load, no console errors.

Skipped when no ``chromium`` is on PATH (``.ci/run`` installs it with apt-get).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image
from test_ablation_page import make_ablation
from test_report import make_pairs, make_results, make_run

from bench.report import rerender, write_report
from bench.report.ablation import write_report as write_ablation_report

BROWSER = shutil.which("chromium")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        BROWSER is None, reason="no headless browser: `chromium` is not on PATH (apt-get install chromium)"
    ),
]

WINDOW = (1280, 9000)  # tall enough that the whole page is in the screenshot
MAGENTA = (255, 0, 255)  # the generated person images: found in the screenshot only if the grid image rendered
BAR_BLUE = (31, 119, 180)  # the first method's bars: found only if a plot image rendered
# With --enable-logging=stderr, every console message is a line like
#   [pid:tid:date:INFO:CONSOLE:1] "Uncaught Error: boom", source: file:///.../index.html (1)
CONSOLE = re.compile(r":CONSOLE[:(\]]")
# With --v=1 the browser logs each file it fetches.
FETCHED = re.compile(r"FileURLLoader::Start: (file://\S+)")


def _chromium(
    page: Path, profile: Path, *args: str, window: tuple[int, int] = WINDOW
) -> subprocess.CompletedProcess[str]:
    """Run headless chromium on ``page`` (flags that work as root in a container, no network, fresh profile)."""
    command = [
        BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
        "--disable-extensions", "--hide-scrollbars", f"--user-data-dir={profile}", "--enable-logging=stderr",
        "--v=1", f"--window-size={window[0]},{window[1]}", *args, page.as_uri(),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0, f"chromium failed ({result.returncode}):\n{result.stderr[-3000:]}"
    return result


def _console_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if CONSOLE.search(line)]


class _Images(HTMLParser):
    """The ``src`` of every ``<img>`` and the count of every tag in the DOM."""

    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []
        self.tags: dict[str, int] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] = self.tags.get(tag, 0) + 1
        if tag == "img":
            self.sources.append(dict(attrs).get("src") or "")


def test_console_check_catches_an_error(tmp_path):
    """The control: a page with a script error must show up in the console lines, else the check proves nothing."""
    page = tmp_path / "broken.html"
    page.write_text('<!DOCTYPE html><html><body><p>x</p><script>throw new Error("control")</script></body></html>')
    result = _chromium(page, tmp_path / "profile", "--dump-dom")
    assert any("control" in line for line in _console_lines(result.stderr)), result.stderr[-3000:]


def test_report_page_renders_with_its_images_and_no_console_errors(tmp_path):
    out = tmp_path / "report"
    write_report(make_results(), make_run(), out, qualitative=make_pairs(tmp_path / "in", ["pf_afn", "pb_afn"]))
    page = out / "index.html"

    dom = _chromium(page, tmp_path / "profile-dom", "--dump-dom")
    parsed = _Images()
    parsed.feed(dom.stdout)
    assert parsed.tags.get("table", 0) >= 3, f"tables missing from the rendered DOM: {parsed.tags}"
    assert parsed.tags.get("script", 0) == 0
    assert "qualitative.png" in parsed.sources and any(s.startswith("plots/") for s in parsed.sources)
    for source in parsed.sources:
        assert not re.match(r"[a-z]+://", source), f"not self-contained: {source}"
        assert (out / source).is_file(), f"<img> points at a missing file: {source}"
    assert _console_lines(dom.stderr) == [], "console messages on a page without scripts"

    shot = tmp_path / "screenshot.png"
    result = _chromium(page, tmp_path / "profile-shot", f"--screenshot={shot}")
    fetched = {Path(m.removeprefix("file://")).resolve() for m in FETCHED.findall(result.stderr)}
    unfetched = [s for s in parsed.sources if (out / s).resolve() not in fetched]
    assert not unfetched, f"the browser never fetched {unfetched} (or no longer logs FileURLLoader::Start at --v=1)"
    assert _console_lines(result.stderr) == []

    with Image.open(shot) as image:
        rgb = image.convert("RGB")
    assert rgb.size == WINDOW
    colours = rgb.getcolors(1 << 20) or []
    assert len(colours) > 50, "the screenshot is (nearly) uniform: nothing rendered"
    counts = {colour: count for count, colour in colours}
    assert counts.get(MAGENTA, 0) > 1000, "the qualitative grid did not render"
    assert counts.get(BAR_BLUE, 0) > 1000, "no plot rendered"
    assert counts.get((255, 246, 224), 0) > 100, "no published row (shaded) in the screenshot"


# Appended to a copy of a page: after load, records what the browser laid out in a body attribute (and, inside a frame,
# sends it to the frame's parent).
_PROBE = """<script>window.addEventListener("load", () => {
  const table = document.getElementById("ablation-table") || document.querySelector("table.results");
  const nav = document.querySelector("nav");
  const links = [...nav.querySelectorAll("a")].map(a => a.getBoundingClientRect().right);
  const data = JSON.stringify({
    images: [...document.images].map(i => [i.getAttribute("src").slice(0, 40), i.naturalWidth]),
    table: [table.scrollWidth, table.parentElement.clientWidth],
    page: [document.documentElement.scrollWidth, window.innerWidth],
    nav: [Math.max(...links), nav.getBoundingClientRect().right, window.innerWidth],
  });
  document.body.setAttribute("data-probe", data);
  if (window.parent !== window) window.parent.postMessage(data, "*");
});</script>"""
# Headless chromium keeps its window at least 500 px wide: a phone's viewport is a frame of that width in a page.
_PHONE_FRAME = """<!DOCTYPE html><html><body style="margin:0">
<iframe src="probe.html" style="width:{width}px;height:{height}px;border:0"></iframe>
<script>window.addEventListener("message", e => document.body.setAttribute("data-probe", e.data));</script>
</body></html>"""


def _probe(page: Path, profile: Path, viewport: tuple[int, int]) -> dict:
    """Lay ``page`` out in a ``viewport`` (a frame when narrower than a window can be) and return what
    :data:`_PROBE` measured; no console message allowed."""
    probe = page.with_name("probe.html")
    probe.write_text(page.read_text().replace("</body>", _PROBE + "</body>"))
    if viewport[0] < 500:
        framed = page.with_name("frame.html")
        framed.write_text(_PHONE_FRAME.format(width=viewport[0], height=viewport[1]))
        probe, viewport = framed, (800, viewport[1] + 100)
    result = _chromium(probe, profile, "--virtual-time-budget=5000", "--dump-dom", window=viewport)
    assert _console_lines(result.stderr) == [], _console_lines(result.stderr)
    found = re.search(r'data-probe="([^"]*)"', result.stdout)
    assert found, "the probe did not run"
    return json.loads(found.group(1).replace("&quot;", '"'))


def test_ablation_page_renders_its_images_and_its_table_fits_at_1400_px(tmp_path):
    out = tmp_path / "ablation"
    write_ablation_report(make_ablation(), out)
    page = out / "index.html"
    dom = _chromium(page, tmp_path / "profile-dom", "--dump-dom")
    parsed = _Images()
    parsed.feed(dom.stdout)
    assert parsed.tags.get("table", 0) >= 2 and parsed.tags.get("script", 0) == 0, parsed.tags
    assert len(parsed.sources) == 2 and all(s.startswith("data:image/png;base64,") for s in parsed.sources)
    assert _console_lines(dom.stderr) == [], "console messages on a page without scripts"

    measured = _probe(page, tmp_path / "profile-probe", (1400, 2000))
    assert len(measured["images"]) == 2 and all(width > 0 for _, width in measured["images"]), measured["images"]
    assert measured["table"][0] <= measured["table"][1], f"the main table overflows at 1400 px: {measured['table']}"
    assert measured["page"][0] <= measured["page"][1], f"the page scrolls sideways at 1400 px: {measured['page']}"


REFERENCE = Path(__file__).parents[2] / "reports" / "synthetic"


@pytest.mark.skipif(not (REFERENCE / "run.json").is_file(), reason="no committed reports/synthetic to render")
def test_the_reference_report_fits_1400_px_and_its_navigation_390_px(tmp_path):
    """The committed synthetic report, redrawn by this code from its results.csv and run.json (nothing run): the main
    table fits a 1,400-px window, every image loads, the navigation stays inside a phone's 390-px viewport, and the
    page never scrolls sideways."""
    folder = tmp_path / "synthetic"
    shutil.copytree(REFERENCE, folder)
    rerender(folder)
    page = folder / "index.html"

    wide = _probe(page, tmp_path / "profile-wide", (1400, 2000))
    assert wide["images"] and all(width > 0 for _, width in wide["images"]), wide["images"]
    assert wide["table"][0] <= wide["table"][1], f"the main table overflows at 1400 px: {wide['table']}"
    assert wide["page"][0] <= wide["page"][1], f"the page scrolls sideways at 1400 px: {wide['page']}"

    phone = _probe(page, tmp_path / "profile-phone", (390, 2000))
    assert phone["nav"][0] <= phone["nav"][2] and phone["nav"][1] <= phone["nav"][2], f"nav off screen: {phone['nav']}"
    assert phone["page"][0] <= phone["page"][1], f"the page scrolls sideways at 390 px: {phone['page']}"
