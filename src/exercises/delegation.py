"""Catching a backward rule that hands its work to a library instead of deriving it.

Two independent checks, because each alone is easy to dodge:

* by behaviour: while a student's rule runs on plain arrays (`guard`), the engine's
  traversal, every built-in op's backward and imports of torch/jax raise `Delegated`;
* by reading: `scan` parses the rule's source and names each call of a differentiation
  API (`grad`, `.backward(...)`, `vjp`, ...) or an import of another autodiff library.
"""
import ast
import contextlib
import importlib.abc
import inspect
import sys
import textwrap

FOREIGN = ("torch", "jax", "jaxlib", "tensorflow", "autograd", "mygrad", "micrograd")
AUTODIFF_CALLS = {"grad", "backward", "vjp", "jvp", "jacrev", "jacfwd", "gradcheck",
                  "gradgradcheck", "checkpoint"}
ESCAPES = {"__import__", "exec", "eval", "compile", "importlib", "__subclasses__",
           "__globals__", "__builtins__"}


class Delegated(Exception):
    """Raised when a rule under `guard` calls the engine's backward or a foreign library."""


def _refuse(what):
    def refuse(*args, **kwargs):
        raise Delegated(f"it called {what}; this part asks you to write the rule yourself")
    return refuse


class _BlockForeign(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in FOREIGN:
            raise Delegated(f"it imported {name}; this part must use numpy only")
        return None


def _builtin_functions():
    from autodiff.function import Function
    found, stack = [], list(Function.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.__module__.startswith("autodiff.") and "backward" in vars(cls):
            found.append(cls)
    return found


@contextlib.contextmanager
def guard():
    """Make every way of getting a gradient from a library fail while the block runs."""
    import autodiff
    from autodiff import autograd
    patched = [(autograd, "_run", _refuse("the engine's backward pass"))]
    patched += [(cls, "backward", staticmethod(_refuse(f"the built-in {cls.__name__}.backward")))
                for cls in _builtin_functions()]
    hidden_modules = {m: sys.modules.pop(m) for m in list(sys.modules)
                      if m.split(".")[0] in FOREIGN}
    saved = [(obj, attr, vars(obj)[attr]) for obj, attr, _ in patched]
    finder = _BlockForeign()
    try:
        for obj, attr, value in patched:
            setattr(obj, attr, value)
        sys.meta_path.insert(0, finder)
        yield
    finally:
        sys.meta_path.remove(finder)
        for obj, attr, value in saved:
            setattr(obj, attr, value)
        sys.modules.update(hidden_modules)
        assert autodiff.autograd._run is saved[0][2]


def scan(source):
    """What in `source` looks like delegation, in words; [] if nothing does."""
    try:
        tree = ast.parse(textwrap.dedent(source))
    except SyntaxError as e:
        return [f"it does not parse: {e.msg} (line {e.lineno})"]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [
                node.module or ""]
            for name in names:
                if name.split(".")[0] in FOREIGN + ("autodiff",):
                    found.append(f"it imports {name} (line {node.lineno})")
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in AUTODIFF_CALLS:
                found.append(f"it calls {name}(...) (line {node.lineno})")
        if isinstance(node, ast.Name) and node.id in ESCAPES | set(FOREIGN):
            found.append(f"it uses {node.id} (line {node.lineno})")
        elif isinstance(node, ast.Attribute) and node.attr in ESCAPES:
            found.append(f"it uses .{node.attr} (line {node.lineno})")
    return sorted(set(found), key=found.index)


def scan_object(obj, attrs):
    """`scan` over the source of `obj`'s methods named in `attrs` (those it defines)."""
    found = []
    for attr in attrs:
        fn = getattr(obj, attr, None)
        fn = getattr(fn, "__func__", fn)
        if fn is None:
            continue
        try:
            source = inspect.getsource(fn)
        except (OSError, TypeError):
            continue  # no source to read (e.g. built in C); the behaviour check still runs
        found += [f"{getattr(obj, '__name__', '?')}.{attr}: {f}" for f in scan(source)]
    return found
