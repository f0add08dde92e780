"""pytest-xdist under this plugin: cells grouped so linked variants share a worker, the run id
handed to every worker, and the cores of idle workers given to the busy ones."""

from __future__ import annotations

import pytest

from harness.executors.xdist import busy_share

from .items import CellItem
from .state import BENCH


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """Under xdist, cells that share a variant or a `vs:` reference go to one worker
    (`--dist loadgroup`), so every cell is computed, and recorded, exactly once."""
    if getattr(config.option, "numprocesses", None) and getattr(config.option, "dist", "no") in ("no", "load"):
        config.option.dist = "loadgroup"


class XdistRunId:
    """Hands the controller's run id to every xdist worker, so all write one run folder, and
    whether cells are grouped (`--dist loadgroup`, which a worker cannot see when it was set
    by this plugin rather than typed)."""

    def pytest_configure_node(self, node) -> None:
        """The run id and the grouping, into the worker's input."""
        node.workerinput["llama_run_id"] = node.config.option.llama_run_id
        node.workerinput["llama_loadgroup"] = node.config.option.dist == "loadgroup"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """In an xdist worker under loadgroup, before the worker reports its collection: a cell's
    node id carries its group (`id@group`), which is how xdist's controller groups cells.
    xdist 3.8's worker sets the suffix on `item._nodeid`, which pytest 9.2 no longer reads (a
    node's id is `item._id`), so even a plain test marked xdist_group is split across workers;
    the suffix is set here, through pytest's own node id type, where it is missing."""
    config = session.config
    worker = getattr(config, "workerinput", None)
    if not worker or not (worker.get("llama_loadgroup") or getattr(config.option, "loadgroup", False)):
        return
    groups = set()
    for item in session.items:
        mark = item.get_closest_marker("xdist_group") if isinstance(item, CellItem) else None
        if mark is not None:
            groups.add(mark.kwargs["name"])
            if "@" not in item.nodeid.rsplit("]", 1)[-1]:
                _set_nodeid(item, f"{item.nodeid}@{mark.kwargs['name']}")
    bench = config.stash.get(BENCH, None)
    if bench is not None and groups:
        # fewer groups than workers: the idle workers' cores go to the busy ones
        bench.settings = busy_share(bench.settings, worker, len(groups))


def _set_nodeid(item: pytest.Item, nodeid: str) -> None:
    """A node id changed as xdist expects it: pytest 9.2 keeps it in `_id`, earlier ones in `_nodeid`."""
    if hasattr(item, "_id"):
        from _pytest.nodes import coerce_node_id

        item._id = coerce_node_id(nodeid)
    else:
        setattr(item, "_nodeid", nodeid)
