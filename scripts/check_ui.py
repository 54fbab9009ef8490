#!/usr/bin/env python3
"""Checks the window's ES modules without npm: every ui/**/*.js parses as an ES module (esprima-fork, an ES2026
parser from PyPI), every import resolves to a file (relative paths, or a bare name through index.html's import map),
every named import exists among the target's exports, every module index.html loads exists, and no identifier
is used that the module declares nowhere (nor the browser provides).

Usage: python3 scripts/check_ui.py [UI_DIR]      (exit status 1 with one line per problem)
       python3 scripts/check_ui.py --self-test   (proves the check fails on broken modules)
"""
import json
import os
import re
import sys
import tempfile

try:
    import esprima  # provided by the PyPI package esprima-fork (scripts/setup.sh test installs it)
except ImportError:
    sys.exit("check_ui: the Python module esprima is missing: pip install esprima-fork (scripts/setup.sh test does it)")


def pattern_names(node):
    """Names bound by a declaration pattern (`const { a, b: c, ...d } = …`, `const [x] = …`)."""
    if node is None:
        return []
    t = node.type
    if t == "Identifier":
        return [node.name]
    if t == "ObjectPattern":
        out = []
        for p in node.properties:
            out += pattern_names(p.argument if p.type == "RestElement" else p.value)
        return out
    if t == "ArrayPattern":
        out = []
        for e in node.elements:
            out += pattern_names(e)
        return out
    if t == "AssignmentPattern":
        return pattern_names(node.left)
    if t == "RestElement":
        return pattern_names(node.argument)
    return []


# Names the browser and the Tauri webview provide.
GLOBALS = set("""
window document console navigator location history localStorage sessionStorage setTimeout clearTimeout setInterval
clearInterval requestAnimationFrame cancelAnimationFrame fetch URL Blob DOMParser Event CustomEvent HashChangeEvent
KeyboardEvent Promise Map Set WeakMap JSON Math Number String Boolean Object Array Date Error TypeError RegExp Symbol
Intl undefined NaN Infinity isNaN isFinite parseInt parseFloat encodeURIComponent decodeURIComponent structuredClone
getComputedStyle matchMedia HTMLElement Node alert queueMicrotask globalThis arguments
""".split())


def walk(node, parent=None, field=None, visit=None):
    """Calls visit(node, parent, field) on every node of an esprima tree."""
    if isinstance(node, list):
        for item in node:
            walk(item, parent, field, visit)
        return
    if not hasattr(node, "type"):
        return
    visit(node, parent, field)
    for key, value in vars(node).items():
        if key in ("type", "loc", "range") or value is None:
            continue
        if isinstance(value, list) or hasattr(value, "type"):
            walk(value, node, key, visit)


def undeclared(tree):
    """Identifiers used but declared nowhere in the module (file-wide, so a typo or a missing import is caught;
    shadowing is not checked). Returns [(name, line)]."""
    declared, used = set(), []

    def visit(node, parent, field):
        t = node.type
        if t == "VariableDeclarator":
            declared.update(pattern_names(node.id))
        elif t in ("FunctionDeclaration", "FunctionExpression", "ArrowFunctionExpression", "AsyncFunctionDeclaration",
                   "AsyncFunctionExpression", "AsyncArrowFunctionExpression"):
            if getattr(node, "id", None) is not None:
                declared.add(node.id.name)
            for param in node.params:
                declared.update(pattern_names(param))
        elif t in ("ClassDeclaration", "ClassExpression") and node.id is not None:
            declared.add(node.id.name)
        elif t == "CatchClause" and node.param is not None:
            declared.update(pattern_names(node.param))
        elif t in ("ImportSpecifier", "ImportDefaultSpecifier", "ImportNamespaceSpecifier"):
            declared.add(node.local.name)
        elif t == "Identifier":
            if parent is None:
                return
            pt = parent.type
            if pt in ("MemberExpression",) and field == "property" and not parent.computed:
                return
            if pt in ("Property", "MethodDefinition", "PropertyDefinition", "FieldDefinition") and field == "key" and not parent.computed:
                return
            if pt in ("ImportSpecifier", "ImportDefaultSpecifier", "ImportNamespaceSpecifier", "ExportSpecifier",
                      "LabeledStatement", "BreakStatement", "ContinueStatement"):
                return
            if field in ("id", "params", "param") and pt != "AssignmentPattern":
                return
            used.append((node.name, node.loc.start.line if node.loc else 0))

    walk(tree, visit=visit)
    # Names inside declaration patterns were visited as "used" through ObjectPattern values; they are declared.
    return [(n, line) for n, line in used if n not in declared and n not in GLOBALS]


def module_info(path):
    """(exports, star_exports, imports) of a module; raises on a syntax error."""
    with open(path, encoding="utf-8") as f:
        tree = esprima.parseModule(f.read(), {"loc": True})
    exports, stars, imports = set(), [], []
    unknown = undeclared(tree)
    for node in tree.body:
        if node.type == "ExportNamedDeclaration":
            d = node.declaration
            if d is not None:
                if d.type in ("FunctionDeclaration", "ClassDeclaration", "AsyncFunctionDeclaration"):
                    exports.add(d.id.name)
                elif d.type == "VariableDeclaration":
                    for decl in d.declarations:
                        exports.update(pattern_names(decl.id))
            for s in node.specifiers or []:
                exports.add(s.exported.name)
            if node.source is not None:
                imports.append((node.source.value, [s.local.name for s in node.specifiers], node.loc.start.line))
        elif node.type == "ExportDefaultDeclaration":
            exports.add("default")
        elif node.type == "ExportAllDeclaration":
            stars.append(node.source.value)
        elif node.type == "ImportDeclaration":
            names = []
            for s in node.specifiers:
                if s.type == "ImportSpecifier":
                    names.append(s.imported.name)
                elif s.type == "ImportDefaultSpecifier":
                    names.append("default")
            imports.append((node.source.value, names, node.loc.start.line))
    return exports, stars, imports, unknown


def import_map(ui):
    """The bare names index.html maps, and the module scripts it loads."""
    index = os.path.join(ui, "index.html")
    if not os.path.exists(index):
        return {}, []
    html = open(index, encoding="utf-8").read()
    mapping = {}
    m = re.search(r'<script type="importmap">(.*?)</script>', html, re.S)
    if m:
        mapping = json.loads(m.group(1)).get("imports", {})
    scripts = re.findall(r'<script[^>]*type="module"[^>]*src="([^"]+)"', html)
    return mapping, scripts


def check(ui):
    problems = []
    mapping, scripts = import_map(ui)
    files = []
    for root, _, names in os.walk(ui):
        files += [os.path.join(root, n) for n in names if n.endswith(".js")]
    infos = {}
    for path in sorted(files):
        try:
            infos[os.path.abspath(path)] = module_info(path)
        except Exception as e:  # esprima's Error carries the line and column in its message
            problems.append(f"{os.path.relpath(path, ui)}: does not parse as an ES module: {e}")
    for s in scripts:
        if not os.path.exists(os.path.join(ui, s)):
            problems.append(f"index.html: loads {s}, which does not exist")

    def exports_of(path, seen=()):
        exports, stars, _, _ = infos[path]
        out = set(exports)
        for star in stars:
            target = os.path.abspath(os.path.join(os.path.dirname(path), star))
            if target in infos and target not in seen:
                out |= exports_of(target, seen + (path,)) - {"default"}
        return out

    for path, (_, _, imports, unknown) in sorted(infos.items()):
        rel = os.path.relpath(path, ui)
        for name, line in unknown:
            problems.append(f"{rel}:{line}: {name!r} is used but declared nowhere (a missing import or a typo?)")
        for source, names, line in imports:
            if source.startswith("./") or source.startswith("../"):
                target = os.path.abspath(os.path.join(os.path.dirname(path), source))
            elif source in mapping:
                target = os.path.abspath(os.path.join(ui, mapping[source]))
            else:
                problems.append(f"{rel}:{line}: imports {source!r}, which is neither a relative path nor in index.html's import map")
                continue
            if target not in infos:
                problems.append(f"{rel}:{line}: imports {source!r}: no such module ({os.path.relpath(target, ui)})")
                continue
            available = exports_of(target)
            for n in names:
                if n not in available:
                    problems.append(f"{rel}:{line}: imports {n!r} from {source!r}, which does not export it")
    return problems, len(infos)


def self_test():
    with tempfile.TemporaryDirectory() as d:
        os.makedirs(os.path.join(d, "lib"))
        open(os.path.join(d, "index.html"), "w").write(
            '<script type="importmap">{"imports": {"core": "./core.js"}}</script><script type="module" src="main.js"></script>')
        open(os.path.join(d, "core.js"), "w").write("export const { invoke, Channel } = window.x;\n")
        open(os.path.join(d, "lib", "a.js"), "w").write("export function a() { return 1 ?? 2; }\nexport const b = 1;\n")
        open(os.path.join(d, "main.js"), "w").write(
            'import { a, b } from "./lib/a.js";\nimport { invoke } from "core";\nexport class C { x = a()?.y; }\n')
        problems, n = check(d)
        assert problems == [] and n == 3, problems
        open(os.path.join(d, "main.js"), "w").write('import { a, nope } from "./lib/a.js";\nimport { z } from "./gone.js";\nimport "left-pad";\n')
        open(os.path.join(d, "lib", "bad.js"), "w").write("export const = 1;\n")
        problems, _ = check(d)
        text = "\n".join(problems)
        open(os.path.join(d, "lib", "c.js"), "w").write("export function c(x) { return x + missing; }\n")
        problems, _ = check(d)
        text = "\n".join(problems)
        for expected in ["'nope' from './lib/a.js'", "no such module (gone.js)", "'left-pad'", "lib/bad.js: does not parse", "'missing' is used"]:
            assert expected in text, f"self-test: expected {expected!r} in:\n{text}"
    print("check_ui self-test: ok")


def main():
    if sys.argv[1:] == ["--self-test"]:
        self_test()
        return
    ui = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ui")
    problems, n = check(ui)
    for p in problems:
        print(f"check_ui: {p}", file=sys.stderr)
    if problems:
        sys.exit(1)
    print(f"check_ui: {n} modules parse, every import resolves and every named import exists")


if __name__ == "__main__":
    main()
