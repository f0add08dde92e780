"""What outside packages add to the harness, by entry point, without a fork.

A package declares, in its own pyproject.toml:

    [project.entry-points."pytest_llama.kinds"]
    toy = "toy_plugin.kind:Toy"            # a Kind (class or instance), as harness/kinds/ holds
    [project.entry-points."pytest_llama.backends"]
    toy = "toy_plugin.backend:ToyBackend"  # a Backend (class or instance), as harness/backends/ holds
    [project.entry-points."pytest_llama.scorers"]
    rhymes = "toy_plugin.scorers:rhymes"   # a comparison (answer, target, **options) -> bool | float
    [project.entry-points."pytest_llama.executors"]
    toy = "toy_plugin.executor"            # a module with executor(options) -> Executor

The entry point's name is the name a spec uses. The groups are read when a registry is first
asked (a spec validated, a report rendered), never when the harness is imported. An executor's
module is imported only when it is chosen, as ours are. So collection imports what the outside
descriptors import and no more. A package that fails to import, or that takes a name the
harness (or another package) already has, is an `ExtensionError` naming the package and the
name. It never crashes the run with a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata
from typing import Any, Iterable

GROUPS = ("pytest_llama.kinds", "pytest_llama.backends", "pytest_llama.scorers", "pytest_llama.executors")


class ExtensionError(Exception):
    """An outside package's entry point cannot be used; the message names the package, the
    group and the name, and what to do."""


@dataclass(frozen=True)
class Extension:
    """One entry point of an outside package: its name, where it points, and its package."""

    group: str
    name: str
    value: str
    package: str

    def load(self) -> Any:
        """The object it names, imported now; ExtensionError when it cannot be."""
        try:
            return metadata.EntryPoint(self.name, self.value, self.group).load()
        except Exception as exc:   # any error importing someone else's code is theirs to fix
            raise ExtensionError(
                f"package {self.package!r}: its {self.group} entry point {self.name!r} = {self.value!r} "
                f"failed to import ({type(exc).__name__}: {exc}); fix the package or uninstall it "
                f"(pip uninstall {self.package})") from None


def _package(ep: metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return dist.metadata["Name"] if dist is not None else ep.value.split(":")[0].split(".")[0]


def declared(group: str, taken: Iterable[str]) -> list[Extension]:
    """The entry points of a group, not loaded, in a fixed order. ExtensionError for a name in
    `taken` (the harness's own) or declared by two packages."""
    if group not in GROUPS:
        raise ValueError(f"no extension group {group!r}; one of {', '.join(GROUPS)}")
    owners = {name: "pytest-llama" for name in taken}
    found = []
    seen: set[tuple[str, str]] = set()
    for ep in sorted(metadata.entry_points(group=group), key=lambda e: (e.name, e.value)):
        ext = Extension(group, ep.name, ep.value, _package(ep))
        if (ext.name, ext.package) in seen:   # one distribution found twice on the path
            continue
        seen.add((ext.name, ext.package))
        if ext.name in owners:
            raise ExtensionError(
                f"package {ext.package!r} registers {group} {ext.name!r}, a name {owners[ext.name]!r} "
                f"already has; rename it in {ext.package}'s [project.entry-points.{group!r}]")
        owners[ext.name] = ext.package
        found.append(ext)
    return found


def loaded(group: str, taken: Iterable[str]) -> list[tuple[Extension, Any]]:
    """Every entry point of the group with the object it names (a class is instantiated), and
    checked to call itself by its entry point's name when it has a `name`."""
    out = []
    for ext in declared(group, taken):
        obj = ext.load()
        if isinstance(obj, type):
            try:
                obj = obj()
            except Exception as exc:
                raise ExtensionError(f"package {ext.package!r}: {group} {ext.name!r}: {ext.value} could not be "
                                     f"made ({type(exc).__name__}: {exc})") from None
        own = getattr(obj, "name", ext.name)
        if isinstance(own, str) and own != ext.name and not callable(obj):
            raise ExtensionError(f"package {ext.package!r}: {group} entry point {ext.name!r} names an object "
                                 f"called {own!r}; make the two names the same")
        out.append((ext, obj))
    return out
