#!/usr/bin/env python3
"""Lists the import circles between the modules of squall's `src/`.

    python3 benches/tools/import_cycles.py [--files] [--tests] [--edges] [SRC_DIR]

A module depends on another when its code names it: a `use crate::…`, `use super::…`,
`use self::…` (or a child module's name) declaration, or a path such as
`crate::http::Method` or `super::frame::Opcode` written in the code. Each path is
resolved through the module tree and through the `use` declarations it passes (so
`crate::Error` is a use of `error`, and `super::Remote` in `reactor/core.rs` is a use of
`reactor::remote` when `reactor/mod.rs` re-exports it from there).

Circles are counted between siblings, as layers are: an edge from `web::app` to
`web::compress` is an edge between the siblings `app` and `compress` of `web`; an edge
from `http::h1::body` to `error` is an edge between the top-level modules `http` and
`error` (so `metrics::serve` using `http::server`, which counts into `metrics::hooks`,
is a circle between the layers `http` and `metrics`). With `--files`, circles are
counted between the files themselves instead (`metrics::serve` -> `http::server::conn`
-> `metrics::hooks` is then no circle). Either way, a module naming its own ancestor or
descendant (a `mod.rs` re-exporting its children, a child using `super::*`) is
containment, not layering, and is not counted.

Every strongly connected set of siblings is printed with the lines that make its edges,
one circle per block; the exit status is 1 when there is any circle, 0 when none.
Code under `#[cfg(test)]` (test modules, test-only imports) is left out unless `--tests`
is given. `--edges` prints every counted sibling edge instead.
"""

import os
import re
import sys
from collections import defaultdict

# ---------------------------------------------------------------------------------------
# Lexing: blank out comments, strings and char literals (keeping line numbers), so that
# paths in doc comments or strings do not count and braces can be matched.


def strip_code(text):
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "r" and re.match(r'r#*"', text[i:]) and not re.match(r"\w", text[i - 1 : i]):
            m = re.match(r'r(#*)"', text[i:])
            end = text.find('"' + m.group(1), i + m.end())
            end = n if end < 0 else end + 1 + len(m.group(1))
            out.append('""' + re.sub(r"[^\n]", " ", text[i + 2 : end]))
            i = end
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('"' + re.sub(r"[^\n]", " ", text[i + 1 : j]) + '"')
            i = j + 1
        elif c == "'":
            m = re.match(r"'(\\.[^']*|[^\\'])'", text[i:])
            if m:  # a char literal ('{', '\n', '\u{7f}'); otherwise a lifetime
                out.append("' '")
                i += m.end()
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def matching_brace(code, open_at):
    depth = 0
    for j in range(open_at, len(code)):
        if code[j] == "{":
            depth += 1
        elif code[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    return len(code) - 1


CFG_TEST = re.compile(r"#\[cfg\((test|all\(test[^\]]*|doctest)\)\]\s*")


def drop_test_code(code):
    """Blanks out items under #[cfg(test)]; returns (code, names of test-only child modules)."""
    test_mods = set()
    pos = 0
    while True:
        m = CFG_TEST.search(code, pos)
        if not m:
            return code, test_mods
        j = m.end()
        while code.startswith("#[", j):  # further attributes
            j = code.index("]", j) + 1
            while j < len(code) and code[j].isspace():
                j += 1
        item = re.match(r"(pub(\([^)]*\))?\s+)?mod\s+(\w+)\s*;", code[j:])
        if item:
            test_mods.add(item.group(3))
            end = j + item.end()
        else:
            semi = code.find(";", j)
            brace = code.find("{", j)
            if brace >= 0 and (semi < 0 or brace < semi):
                end = matching_brace(code, brace) + 1
            else:
                end = semi + 1
        code = code[: m.start()] + re.sub(r"[^\n]", " ", code[m.start() : end]) + code[end:]
        pos = end


# ---------------------------------------------------------------------------------------
# The module tree and each module's `use` declarations.


class Module:
    def __init__(self, path, file):
        self.path = path  # tuple of segments; () is the crate root
        self.file = file
        self.children = {}
        self.aliases = {}  # name -> (absolute segments or relative, line)
        self.refs = []  # (raw path segments, line, text)
        self.globs = []  # raw path segments of `use path::*`


def expand_use_tree(tree):
    """`a::{b, c::{d@e, self}}` -> [['a','b'], ['a','c','d@e'], ['a','c']] (`@` marks `as`)."""
    tree = re.sub(r"\s+", "", tree)
    out = []

    def walk(prefix, s):
        # split s at top-level commas
        parts, depth, cur = [], 0, ""
        for ch in s:
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            if ch == "," and depth == 0:
                parts.append(cur)
                cur = ""
            else:
                cur += ch
        if cur:
            parts.append(cur)
        for p in parts:
            m = re.match(r"^(.*?)(::)?\{(.*)\}$", p)
            if m and "{" in p:
                head = [x for x in m.group(1).split("::") if x] if m.group(1) else []
                walk(prefix + head, m.group(3))
                continue
            segs = [x for x in p.split("::") if x]
            if not segs:
                continue
            if segs[-1] == "self":
                segs = segs[:-1]
                if not prefix + segs:
                    continue
            out.append(prefix + segs)

    walk([], tree)
    return out


USE = re.compile(r"\buse\s+([^;]*);", re.S)


def parse_uses(mod, code):
    for m in USE.finditer(code):
        line = code.count("\n", 0, m.start()) + 1
        raw = m.group(1)
        # Turn `X as Y` into `X@Y` before whitespace is removed.
        raw = re.sub(r"(\w)\s+as\s+(\w+)", r"\1@\2", raw)
        raw = re.sub(r"^::", "", raw.strip())
        for full in expand_use_tree(raw):
            last = full[-1]
            if "@" in last:
                seg, alias = last.split("@")
                full = full[:-1] + [seg]
            else:
                alias = full[-1]
            if full[-1] == "*":
                mod.globs.append((full[:-1], line))
                mod.refs.append((full[:-1], line, "use " + "::".join(full)))
                continue
            if full[-1] == "self":
                full = full[:-1]
            if alias != "_":
                mod.aliases[alias] = full
            mod.refs.append((full, line, "use " + "::".join(full)))


INLINE = re.compile(r"(?<![\w:])((?:crate|super|self)(?:\s*::\s*(?:\w+|\{))+)")


def parse_inline_paths(mod, code):
    blank_uses = USE.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), code)
    for m in INLINE.finditer(blank_uses):
        segs = [s for s in re.split(r"\s*::\s*", m.group(1)) if s and s != "{"]
        line = blank_uses.count("\n", 0, m.start()) + 1
        mod.refs.append((segs, line, "::".join(segs)))


def load_tree(src, with_tests):
    root = Module((), os.path.join(src, "lib.rs"))
    modules = {(): root}

    def load(mod):
        with open(mod.file, encoding="utf-8") as f:
            code = strip_code(f.read())
        test_mods = set()
        if not with_tests:
            code, test_mods = drop_test_code(code)
        here = os.path.dirname(mod.file)
        base = os.path.basename(mod.file)
        if base in ("lib.rs", "mod.rs"):
            child_dir = here
        else:
            child_dir = os.path.join(here, base[:-3])
        for m in re.finditer(r"(?m)^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", code):
            name = m.group(1)
            if name in test_mods:
                continue
            for cand in (os.path.join(child_dir, name + ".rs"), os.path.join(child_dir, name, "mod.rs")):
                if os.path.exists(cand):
                    child = Module(mod.path + (name,), cand)
                    mod.children[name] = child
                    modules[child.path] = child
                    load(child)
                    break
        parse_uses(mod, code)
        parse_inline_paths(mod, code)

    load(root)
    return modules


# ---------------------------------------------------------------------------------------
# Resolution: a path named in module `mod` -> the module that defines what it names.


def resolve(modules, mod, segs, seen=None):
    """Returns the path of the deepest module the path reaches, or None (another crate)."""
    seen = seen or set()
    if not segs:
        return None
    first, rest = segs[0], list(segs[1:])
    if first == "crate":
        cur = modules[()]
    elif first == "self":
        cur = mod
    elif first == "super":
        cur = modules[mod.path[:-1]]
        while rest and rest[0] == "super":
            cur = modules[cur.path[:-1]]
            rest.pop(0)
    elif first in mod.children:
        cur = mod.children[first]
    elif first in mod.aliases and (mod.path, first) not in seen:
        seen.add((mod.path, first))
        target = resolve(modules, mod, mod.aliases[first], seen)
        if target is None:
            return None
        return resolve_from(modules, modules[target], rest, seen)
    else:
        return None  # another crate, std, or a local name
    return resolve_from(modules, cur, rest, seen)


def resolve_from(modules, cur, rest, seen):
    for i, s in enumerate(rest):
        if s in cur.children:
            cur = cur.children[s]
        elif s in cur.aliases and (cur.path, s) not in seen:
            seen.add((cur.path, s))
            target = resolve(modules, cur, cur.aliases[s], seen)
            if target is None:
                return cur.path
            return resolve_from(modules, modules[target], rest[i + 1 :], seen)
        else:
            break
    return cur.path


def sibling_edge(a, b):
    """(parent, child of parent holding a, child holding b), or None for containment."""
    k = 0
    while k < len(a) and k < len(b) and a[k] == b[k]:
        k += 1
    if k == len(a) or k == len(b):
        return None
    return a[:k], a[k], b[k]


def sccs(nodes, edges):
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def main(argv):
    with_tests = "--tests" in argv
    by_file = "--files" in argv
    show_edges = "--edges" in argv
    rest = [a for a in argv if not a.startswith("--")]
    src = rest[0] if rest else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src")
    src = os.path.normpath(src)
    modules = load_tree(src, with_tests)
    # (parent) -> child -> child -> [evidence]
    graph = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for mod in modules.values():
        for segs, line, text in mod.refs:
            target = resolve(modules, mod, segs)
            if target is None:
                continue
            e = sibling_edge(mod.path, target)
            if e is None:
                continue
            parent, a, b = e
            if by_file:  # one graph over whole module paths
                parent, a, b = (), "::".join(mod.path), "::".join(target)
            rel = os.path.relpath(mod.file, os.path.dirname(src))
            graph[parent][a][b].append(f"{rel}:{line}: {text}")

    def name(parent, child):
        return "::".join(parent + (child,)) or "crate"

    if show_edges:
        for parent in sorted(graph):
            for a in sorted(graph[parent]):
                for b in sorted(graph[parent][a]):
                    print(f"{name(parent, a)} -> {name(parent, b)}  ({len(graph[parent][a][b])} refs)")
        return 0
    found = 0
    for parent in sorted(graph):
        g = graph[parent]
        nodes = set(g) | {b for a in g for b in g[a]}
        for comp in sccs(nodes, {a: set(g[a]) for a in g}):
            found += 1
            print("circle: " + " <-> ".join(name(parent, c) for c in comp))
            for a in comp:
                for b in comp:
                    if b in g.get(a, {}):
                        ev = g[a][b]
                        print(f"  {name(parent, a)} -> {name(parent, b)}:")
                        for line in ev[:6]:
                            print(f"    {line}")
                        if len(ev) > 6:
                            print(f"    … and {len(ev) - 6} more")
    print(f"{found} circle(s)" if found else "no import circles")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
