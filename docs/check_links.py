"""Check the internal links of a built HTML tree: every relative href must name a file
of the build, and every #fragment an id (or a name) in that file.

Sphinx's ``linkcheck`` builder checks links over the network; the documentation has no
external link worth a network round trip at build time, and the build must run offline,
so this checks the internal ones only. Usage: ``python docs/check_links.py BUILD_DIR``.
Exit status 1 and one line per broken link when any is broken.
"""
from __future__ import annotations

import os
import sys
from html.parser import HTMLParser
from urllib.parse import unquote, urlsplit


class _Page(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids = set()
        self.links = []   # (tag, attribute, value, line)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name") if tag == "a" else ("id",):
            if attrs.get(key):
                self.ids.add(attrs[key])
        for key in ("href", "src"):
            value = attrs.get(key)
            if value is not None and not (tag == "link" and attrs.get("rel") == "preconnect"):
                self.links.append((tag, key, value, self.getpos()[0]))


def _parse(path):
    page = _Page()
    with open(path, encoding="utf-8") as fh:
        page.feed(fh.read())
    return page


def check(root):
    root = os.path.abspath(root)
    pages = {}
    for folder, _dirs, files in os.walk(root):
        for name in files:
            if name.endswith(".html"):
                path = os.path.join(folder, name)
                pages[path] = _parse(path)
    broken = []
    for path, page in sorted(pages.items()):
        for tag, key, value, line in page.links:
            parts = urlsplit(value)
            if parts.scheme or parts.netloc or value.startswith(("mailto:", "javascript:")):
                continue   # external: not checked here
            target = path if not parts.path else os.path.normpath(
                os.path.join(os.path.dirname(path), unquote(parts.path)))
            if os.path.isdir(target):
                target = os.path.join(target, "index.html")
            where = f"{os.path.relpath(path, root)}:{line}"
            if not os.path.exists(target):
                broken.append(f"{where}: {tag} {key}={value!r}: no file {os.path.relpath(target, root)}")
                continue
            if parts.fragment and target.endswith(".html"):
                ids = pages[target].ids if target in pages else _parse(target).ids
                if unquote(parts.fragment) not in ids:
                    broken.append(f"{where}: {tag} {key}={value!r}: no id "
                                  f"{parts.fragment!r} in {os.path.relpath(target, root)}")
    return len(pages), broken


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python docs/check_links.py BUILD_DIR", file=sys.stderr)
        return 2
    n, broken = check(argv[0])
    for line in broken:
        print(line)
    if not n:
        print(f"no HTML pages under {argv[0]}")
        return 1
    print(f"internal links: {n} pages checked, {len(broken)} broken")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
