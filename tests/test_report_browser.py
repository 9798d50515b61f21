"""report.html in a real browser (Debian's headless Chromium): it renders, nothing is wider than a
1280 px window or overflows its box, every link (captures, the cards' anchors) resolves; a
NodePort/DSR check's card carries the probed path as an inline SVG."""
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from suite_runner import REPO, needs_root, check_count

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (./bootstrap installs it)")

# Measures the page once it has loaded, with every <details> opened, and writes what it found
# into the DOM, which --dump-dom prints.
PROBE = """<script>
window.addEventListener('load', () => {
  document.querySelectorAll('details').forEach(d => d.open = true);
  const vw = document.documentElement.clientWidth, out = {vw, page: document.documentElement.scrollWidth,
    wide: [], overflowing: [], links: [], cards: document.querySelectorAll('article.card').length,
    svgs: document.querySelectorAll('article.card svg').length,
    verdict: (document.querySelector('[data-verdict]') || {}).dataset?.verdict};
  for (const el of document.querySelectorAll('body *')) {
    if (el.closest('svg') && el.tagName.toLowerCase() !== 'svg') continue;
    const r = el.getBoundingClientRect();
    if (r.width && r.right > vw + 1) out.wide.push(el.tagName + ' ' + Math.round(r.right));
    if (el.clientWidth && el.scrollWidth > el.clientWidth + 1) out.overflowing.push(el.tagName + '.' + el.className + ' ' + el.scrollWidth + '>' + el.clientWidth);
  }
  document.querySelectorAll('a[href]').forEach(a => out.links.push(a.href));
  const pre = document.createElement('pre'); pre.id = 'cc-probe'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def measure(report: Path, tmp_path: Path) -> dict:
    probe = report.with_name("_probe.html")
    probe.write_text(report.read_text().replace("</body>", PROBE + "</body>"))
    try:
        proc = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                               "--window-size=1280,900", f"--user-data-dir={tmp_path / 'chromium'}",
                               "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()],
                              capture_output=True, text=True, timeout=120)
        found = re.search(r'<pre id="cc-probe">(.*?)</pre>', proc.stdout, re.S)
        assert found, proc.stderr[-2000:]
        import html
        return json.loads(html.unescape(found.group(1)))
    finally:
        probe.unlink(missing_ok=True)


def screenshot(report: Path, out: Path, tmp_path: Path) -> None:
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--window-size=1280,2000", f"--user-data-dir={tmp_path / 'chromium'}",
                    f"--screenshot={out}", report.as_uri()], capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def dsr_defect_run(tmp_path_factory):
    """A run with one failing DSR check (and its probed path), under -n 2 so two workers' captures exist."""
    reports = tmp_path_factory.mktemp("reports")
    proc = subprocess.run([sys.executable, "-m", "calico_conformance.cli", "run", "--reports-dir", str(reports),
                           "--lab-dataplane", "defect-dsr-via-ingress", "-n", "2"],
                          cwd=REPO, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    return reports


@needs_root
@needs_chromium
def test_the_report_renders_unclipped_at_1280_px_and_every_link_resolves(dsr_defect_run, tmp_path):
    seen = measure(dsr_defect_run / "report.html", tmp_path)
    rec = json.loads((dsr_defect_run / "summary.json").read_text())
    assert seen["verdict"] == rec["verdict"] == "not conformant"
    assert seen["cards"] == len(rec["checks"]) == check_count()
    assert seen["page"] <= seen["vw"] <= 1280, seen
    assert seen["wide"] == [] and seen["overflowing"] == [], seen
    files = [unquote(urlparse(u).path) for u in seen["links"] if u.startswith("file:") and "#" not in u]
    assert files and all(Path(f).is_file() for f in files), [f for f in files if not Path(f).is_file()]
    pcaps = {str(p) for p in dsr_defect_run.glob("evidence/**/*.pcap")}
    assert pcaps and pcaps <= set(files), "every capture is linked, every worker's and the client's"
    assert any("client" in Path(p).name for p in pcaps & set(files))
    anchors = [u.split("#", 1)[1] for u in seen["links"] if "#" in u]
    html = (dsr_defect_run / "report.html").read_text()
    assert anchors and all(f'id="{a}"' in html for a in anchors)
    screenshot(dsr_defect_run / "report.html", tmp_path / "report.png", tmp_path)
    assert (tmp_path / "report.png").stat().st_size > 10_000


@needs_root
@needs_chromium
def test_the_dsr_card_draws_the_probed_path_and_where_it_broke(dsr_defect_run, tmp_path):
    rec = json.loads((dsr_defect_run / "summary.json").read_text())
    dsr = rec["checks"][0]
    assert dsr["id"] == "EBPF-DSR-DIRECT-RETURN" and dsr["outcome"] == "failed"
    path = dsr["path"]
    assert [h["role"] for h in path["hops"]] == ["client", "ingress", "backend", "pod"]
    assert path["tunnelled"] and path["reply"] == "via ingress"        # the defect: no direct return
    assert {h["role"] for h in path["hops"] if h["broken"]} >= {"backend"}
    assert all(h["capture"] and Path(h["capture"]).is_file() for h in path["hops"])
    card = (dsr_defect_run / "report.html").read_text().split('id="EBPF-DSR-DIRECT-RETURN"', 1)[1].split("</article>")[0]
    assert "<svg" in card and "expectation broke at:" in card and "back through the tunnel" in card
    assert "What to do:" in card and "v3.29 document" in card
    assert measure(dsr_defect_run / "report.html", tmp_path)["svgs"] >= 1
