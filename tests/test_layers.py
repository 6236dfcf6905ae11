"""The package's floors: every module imports only from floors below its own (imports inside
functions count too), so there is no circle and no arrow up. A new module must be placed here.
docs/design.md draws this list."""
import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "pyautograd"

# From the ground up. Modules on one floor do not import each other.
FLOORS = [
    ["errors", "grad_mode", "_convert", "backends._build_c"],  # nothing of the package
    ["backends.base"],  # the storage contract
    ["backends.list2d", "backends.carray"],  # the two backends
    ["backends.recording"],  # recording a step's kernel launches
    ["backends.verify", "backends.plan"],  # both backends compared; a recording as a C plan
    ["backends"],  # choosing a backend
    ["ops", "memory"],  # the rule table; the C pool's controls
    ["backward"],  # the reverse loop
    ["matrix"],  # the autograd node and the engine that applies a row
    ["factories", "forward", "explain", "gradcheck", "viz", "config"],
    ["autograd.functional", "autograd.function"],  # torch.autograd.functional; your own ops
    ["autograd.custom"],  # JAX's custom_vjp / custom_jvp, made of Functions
    ["autograd"],  # torch.autograd's API: grad, backward, Function
    ["dlpack", "data", "optim.optimizer", "nn.module", "nn.init", "nn.functional"],
    ["optim.sgd", "optim.adam", "optim.lr_scheduler", "nn.modules", "nn.losses",
     "nn.normalization", "nn.sparse", "nn.utils"],
    ["optim.rmsprop", "nn.torch_bridge"],
    ["optim", "nn"],
    ["compile"],  # the user-facing compiled step: above matrix, below (and blind to) optim
    ["demo"],
    ["", "__main__"],  # the package itself
]


def module_names():
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


MODULES = module_names()
FLOOR_OF = {name: i for i, floor in enumerate(FLOORS) for name in floor}


def imports_of(name):
    """The package's modules that module `name` imports, anywhere in its code."""
    path = MODULES[name]
    package = [p for p in name.split(".") if p]
    if path.name != "__init__.py":
        package = package[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the module's package, up level - 1 packages
                target = package[:len(package) - node.level + 1] + \
                    (node.module.split(".") if node.module else [])
            elif (node.module or "").split(".")[0] == "pyautograd":
                target = node.module.split(".")[1:]
            else:
                continue
            for alias in node.names:  # `from x import y`: module x.y when it is one, else x
                whole = ".".join(target + [alias.name])
                found.add(whole if whole in MODULES else ".".join(target))
        elif isinstance(node, ast.Import):
            found.update(alias.name.partition(".")[2] for alias in node.names
                         if alias.name.split(".")[0] == "pyautograd")
    return {m for m in found if m in MODULES and m != name}  # (not the compiled extension)


def test_every_module_stands_on_a_floor():
    assert sorted(set(MODULES) - set(FLOOR_OF)) == [], "place these modules in FLOORS"
    assert sorted(set(FLOOR_OF) - set(MODULES)) == [], "FLOORS names modules that do not exist"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_a_module_imports_only_from_lower_floors(name):
    upward = sorted(dep for dep in imports_of(name) if FLOOR_OF[dep] >= FLOOR_OF[name])
    assert upward == [], (f"{name or 'pyautograd'} (floor {FLOOR_OF[name]}) imports "
                          + ", ".join(f"{d or 'pyautograd'} (floor {FLOOR_OF[d]})" for d in upward))


def test_the_import_graph_has_no_circle():
    """Implied by the floors, checked directly so that a wrong FLOORS list cannot hide one."""
    graph = {name: imports_of(name) for name in MODULES}
    state = {}

    def visit(node, path):
        state[node] = "open"
        for dep in graph[node]:
            if state.get(dep) == "open":
                raise AssertionError("import circle: " + " -> ".join(path + [node, dep]))
            if dep not in state:
                visit(dep, path + [node])
        state[node] = "done"
    for name in sorted(graph):
        if name not in state:
            visit(name, [])


def test_the_checker_sees_relative_absolute_and_function_level_imports():
    assert {"backends.recording", "errors"} <= imports_of("backends.plan")
    assert "matrix" in imports_of("compile")
    assert "backends.carray" in imports_of("compile")  # imported inside a function
