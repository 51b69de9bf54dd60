#!/usr/bin/env python3
"""The layering rules of ARCHITECTURE.md, checked: which workspace crate may depend on which
(from `cargo metadata`), that the service binary links no lab crate (`cargo tree`), and that
the top-level modules of core/src import one another without a circle.

Prints every breach and exits 1 when there is one."""

import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
API, CORE, LAB, TESTS = "efi-plugin-api", "efi-core", "efi-lab", "efi-tests"


def cargo(*args):
    return subprocess.run(
        ["cargo", *args], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout


def crate_rules(breaches):
    meta = json.loads(cargo("metadata", "--no-deps", "--format-version", "1"))
    ours = {p["name"]: p for p in meta["packages"]}
    plugins = {
        name
        for name, p in ours.items()
        if any(
            os.sep + part + os.sep in p["manifest_path"]
            for part in ("plugins", "examples", os.path.join("fixtures", "plugins"))
        )
    }
    for name, p in ours.items():
        deps = {(d["name"], d["kind"] or "normal") for d in p["dependencies"] if d["name"] in ours}
        for dep, kind in sorted(deps):
            why = None
            if name == API:
                why = "plugin-api imports nothing of ours"
            elif name in plugins and dep != API:
                why = "a plugin imports only plugin-api"
            elif name == CORE and (dep in plugins or dep in (LAB, TESTS)):
                why = "core never names a plugin, and the lab is never a dependency of the service"
            elif name == LAB and dep in {CORE, TESTS} | plugins:
                why = "the lab reaches efi-poller only as the world does, never by linking it"
            if why:
                breaches.append(f"{name} depends on {dep} ({kind}): {why}")
    if not plugins:
        breaches.append("no plugin crates found: the layering check is looking in the wrong place")


def service_binary_links_no_lab(breaches):
    tree = cargo("tree", "-p", CORE, "-e", "normal", "--prefix", "none")
    lab = sorted({line.split()[0] for line in tree.splitlines() if line.startswith(LAB)})
    if lab:
        breaches.append(f"`cargo tree -p {CORE} -e normal` holds {', '.join(lab)}")


def module_circles(breaches, src=os.path.join(ROOT, "core", "src")):
    modules = {}
    for entry in os.listdir(src):
        path = os.path.join(src, entry)
        if entry.endswith(".rs") and entry not in ("lib.rs", "main.rs"):
            modules[entry[:-3]] = [path]
        elif os.path.isdir(path):
            modules[entry] = [
                os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs if f.endswith(".rs")
            ]
    edges = {m: set() for m in modules}
    for module, files in modules.items():
        for path in files:
            text = open(path, encoding="utf-8").read()
            # Unit tests may reach anywhere; the layering is about the code they test.
            text = re.split(r"#\[cfg\(test\)\]\s*mod tests", text)[0]
            for used in re.findall(r"\bcrate::(\w+)", text):
                if used in modules and used != module:
                    edges[module].add(used)
    # Tarjan's strongly connected components: a component of two or more is a circle.
    index, low, stack, on_stack, circles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    for circle in circles:
        inside = [f"{a} -> {b}" for a in circle for b in sorted(edges[a]) if b in circle]
        breaches.append(f"core/src modules import each other in a circle: {'; '.join(inside)}")


def main():
    breaches = []
    crate_rules(breaches)
    service_binary_links_no_lab(breaches)
    module_circles(breaches)
    for b in breaches:
        print(f"layering: {b}")
    if breaches:
        print("layering: see ARCHITECTURE.md, \"Layering rules\"")
        return 1
    print("layering: ok (crates, the service binary's dependency tree, core's modules)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
