"""Which camera runs in which camera actor, and which actor moves when nodes are unevenly loaded (no Ray here).

A camera actor runs a small group of cameras as threads of one process, as `firelane serve` runs all of its
cameras: the interpreter, PyTorch and OpenCV are paid once per group rather than once per camera
(``FIRELANE_RAY_CAMERAS_PER_ACTOR``; 1 is one process per camera).

- Fill-first: a new camera joins the fullest group that still has room (ties: the group on the node with the fewest
  cameras, then the lowest name); when every group is full it starts a new one, named ``g<n>`` with the lowest free
  ``n``, which Ray places (spread over the nodes). Groups stay few and full, which is where the memory goes.
- Stable: a camera stays in its group for as long as it runs, whatever restarts. The supervisor holds the groups
  and hands a restarted group actor its cameras; a restarted supervisor learns them back from the group actors.
  Only a camera that stops (disabled, deleted, a new source) leaves its group, and it rejoins fill-first.
- Rebalance by group: a whole group moves from the busiest node to the idlest when that narrows the gap between
  them (the group is smaller than the gap), the largest such group first. With one camera per group this is the
  old rule: one camera at a time while two nodes differ by two or more.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

GROUP_NAME = "g{}"


def node_loads(members: Mapping[str, Sequence[str]], group_nodes: Mapping[str, str],
               nodes: Sequence[str]) -> dict[str, int]:
    """Cameras per alive node, counting the groups whose node is known."""
    load = {node_id: 0 for node_id in nodes}
    for group, cameras in members.items():
        if group_nodes.get(group) in load:
            load[group_nodes[group]] += len(cameras)
    return load


def group_for_new_camera(members: Mapping[str, Sequence[str]], group_nodes: Mapping[str, str],
                         nodes: Sequence[str], per_actor: int) -> str:
    """The group a camera that is not running joins (fill-first), or the name of the new group it starts."""
    if per_actor < 1:
        raise ValueError(f"cameras per actor must be 1 or more, not {per_actor}")
    load = node_loads(members, group_nodes, nodes)
    with_room = [group for group, cameras in members.items() if len(cameras) < per_actor]
    if with_room:
        return min(with_room, key=lambda g: (-len(members[g]), load.get(group_nodes.get(g, ""), 0), _order(g)))
    taken = set(members)
    return next(GROUP_NAME.format(n) for n in range(len(taken) + 1) if GROUP_NAME.format(n) not in taken)


def group_to_move(members: Mapping[str, Sequence[str]], group_nodes: Mapping[str, str],
                  nodes: Sequence[str]) -> tuple[str, str] | None:
    """(group, node to move it to) that narrows the gap between the busiest and the idlest node, if any."""
    if len(nodes) < 2:
        return None
    load = node_loads(members, group_nodes, nodes)
    busiest = max(load, key=lambda n: load[n])
    idlest = min(load, key=lambda n: load[n])
    gap = load[busiest] - load[idlest]
    movable = [g for g, cameras in members.items() if group_nodes.get(g) == busiest and 0 < len(cameras) < gap]
    if not movable:
        return None
    return min(movable, key=lambda g: (-len(members[g]), _order(g))), idlest


def _order(group: str) -> tuple[int, str]:
    """g2 before g10."""
    digits = group.removeprefix("g")
    return (int(digits), group) if digits.isdigit() else (1 << 30, group)
