"""What the browser tests share (imported from the script's own directory)."""

# Debian's Chromium, headless, quiet: no background traffic, no first-run pages.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
