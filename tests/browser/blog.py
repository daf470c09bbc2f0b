"""The blog example in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright).

Signs up (the first account: the author), signs out, signs in, composes an entry whose
title and body hold <script> (they must show as text and never run), views it, edits it,
finds it in the archive and the Atom feed. Then a page on another origin (a server on
another port) submits a form to /compose without the XSRF token while the author is
signed in: it must be refused with 403 and create nothing. Screenshots go to DIR
(entry.png always; failure.png on failure); the script exits 1 on failure.

usage: blog.py --binary PATH_TO_BLOG --db PATH --screenshots DIR --chromium PATH
"""

import argparse
import http.server
import os
import subprocess
import sys
import threading
import xml.dom.minidom

from playwright.sync_api import sync_playwright

from common import CHROMIUM_ARGS

WAIT_MS = 30_000  # failure bound of each wait

TITLE = "<script>window.__ran = 1</script> First & foremost"
BODY = "Some **bold** text.\n\n<script>window.__ran = 2</script>\n\n<b onmouseover=\"window.__ran = 3\">hover</b>"


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print(f"ok: {what}")


def submit(page, fields):
    """Fills the form's fields (name: value; `markdown` is the textarea, the others
    inputs) and submits it."""
    for name, value in fields.items():
        tag = "textarea" if name == "markdown" else "input"
        page.fill(f"{tag}[name={name}]", value)
    page.click("input[type=submit]")


def attacker(blog_url):
    """A server on another port whose page posts a form to the blog without a token."""
    page = f"""<!DOCTYPE html><html><body>
<form id="f" method="post" action="{blog_url}/compose">
<input name="title" value="pwned"><input name="markdown" value="by another origin">
</form><script>document.getElementById("f").submit();</script></body></html>""".encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def run(page, url):
    ran = []
    page.on("dialog", lambda d: (ran.append(d.message), d.dismiss()))

    page.goto(url + "/auth/create")
    submit(page, {"email": "ann@example.com", "name": "Ann", "password": "correct horse"})
    page.wait_for_url(url + "/")
    check(page.is_visible("text=New post"), "signed up as the author")

    page.click("text=Sign out")
    page.wait_for_url(url + "/")
    check(page.is_visible("text=Sign in"), "signed out")

    page.click("text=Sign in")
    submit(page, {"email": "ann@example.com", "password": "wrong"})
    check(page.is_visible("text=Wrong email or password."), "a wrong password is told")
    submit(page, {"password": "correct horse"})
    page.wait_for_url(url + "/")
    check(page.is_visible("text=New post"), "signed in")

    page.click("text=New post")
    page.wait_for_url(url + "/compose")
    submit(page, {"title": TITLE, "markdown": BODY})
    page.wait_for_url(url + "/entry/script-window-ran-1-script-first-foremost")
    check(page.inner_text(".entry h1") == TITLE, "the title shows as text")
    check(page.inner_text(".entry .body strong") == "bold", "Markdown is rendered")
    page.hover("text=hover")
    check(page.evaluate("window.__ran") is None and not ran, "no script from the entry ran")
    check(page.locator(".entry .body script").count() == 0, "the body's <script> is removed")
    check(page.locator("[onmouseover]").count() == 0, "event handlers are removed")
    page.screenshot(path=os.path.join(args.screenshots, "entry.png"), full_page=True)

    page.click("text=Edit this post")
    page.wait_for_url("**/compose?id=1")
    check(page.input_value("input[name=title]") == TITLE, "the edit form holds the title")
    check(page.input_value("textarea[name=markdown]") == BODY, "the edit form holds the text")
    submit(page, {"title": TITLE + " (edited)"})
    page.wait_for_url(url + "/entry/script-window-ran-1-script-first-foremost")
    check(page.inner_text(".entry h1") == TITLE + " (edited)", "the edit is saved")

    page.goto(url + "/archive")
    check(page.inner_text("ul.archive .title") == TITLE + " (edited)", "the archive lists it")

    feed = page.request.get(url + "/feed")
    check(feed.status == 200 and feed.headers["content-type"].startswith("application/atom+xml"), "the feed is Atom")
    doc = xml.dom.minidom.parseString(feed.body())
    titles = [t.firstChild.data for t in doc.getElementsByTagName("title")]
    check(TITLE + " (edited)" in titles, "the feed holds the entry, well-formed")

    # Another origin's page posts to /compose with the author's cookies but no token.
    evil = attacker(url)
    try:
        with page.expect_response(url + "/compose") as refused:
            page.goto(f"http://127.0.0.1:{evil.server_address[1]}/")
        check(refused.value.status == 403, f"the cross-origin POST is refused ({refused.value.status})")
        check("_xsrf" in refused.value.text(), "for its missing XSRF token")
    finally:
        evil.shutdown()
    page.goto(url + "/archive")
    check(page.locator("text=pwned").count() == 0, "the cross-origin POST created nothing")
    check(not ran, "no dialog was ever opened")


def main():
    global args
    p = argparse.ArgumentParser()
    p.add_argument("--binary", required=True)
    p.add_argument("--db", required=True)
    p.add_argument("--screenshots", required=True)
    p.add_argument("--chromium", default="/usr/bin/chromium")
    args = p.parse_args()
    os.makedirs(args.screenshots, exist_ok=True)
    proc = subprocess.Popen(
        [args.binary, "--port", "0", "--db", args.db],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        if not line.startswith("listening on http://"):
            raise RuntimeError(f"blog printed {line!r}")
        url = line.strip().removeprefix("listening on ")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.set_default_timeout(WAIT_MS)
            try:
                run(page, url)
            except Exception:
                page.screenshot(path=os.path.join(args.screenshots, "failure.png"), full_page=True)
                raise
            finally:
                browser.close()
    finally:
        proc.kill()
        proc.wait()
    print("blog: ok")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:
        print(f"FAILED: {e!r}")
        sys.exit(1)
