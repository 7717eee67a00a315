"""The house: llmimg's modules import one way (no circles, lazy imports inside functions included), and each part
imports only the parts below it (README's Layout)."""

import ast
from pathlib import Path

import llmimg

ROOT = Path(llmimg.__file__).parent
# a part -> the parts it must never import
FORBIDDEN = {
    "models": {"pipeline", "training", "evaluation", "serve", "cli", "bench", "data", "text"},
    "text": {"pipeline", "training", "evaluation", "serve", "cli", "bench", "models"},
    "data": {"pipeline", "training", "evaluation", "serve", "cli", "bench", "models"},
    "pipeline": {"training", "evaluation", "serve", "cli", "bench"},
    "training": {"serve", "cli", "bench"},
    "evaluation": {"training", "serve", "cli", "bench"},
    "serve": {"training", "cli", "bench"},
}


def module_name(path: Path) -> str:
    parts = ("llmimg", *path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """module -> the llmimg modules it imports anywhere in its file."""
    files = {module_name(path): path for path in ROOT.rglob("*.py")}
    graph = {}
    for name, path in files.items():
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("llmimg"):
                for alias in node.names:  # `from llmimg.data import shapes` imports the module llmimg.data.shapes
                    full = f"{node.module}.{alias.name}"
                    imported.add(full if full in files else node.module)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names if alias.name.startswith("llmimg."))
        graph[name] = {module for module in imported if module in files and module not in (name, "llmimg")}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, found = {}, {}, [], []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = stack[stack.index(node):]
            del stack[stack.index(node):]
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_cycles_finds_a_circle_and_no_false_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_no_import_circles():
    assert cycles(import_graph()) == []


def test_each_part_imports_only_the_parts_below_it():
    wrong = [(module, imported) for module, imports in import_graph().items() for imported in imports
             if module.count(".") >= 2 and imported.count(".") >= 2
             and imported.split(".")[1] in FORBIDDEN.get(module.split(".")[1], ())]
    assert wrong == []
