"""Which cameras share a camera actor in cluster mode, and which group moves to even out the nodes (no Ray)."""

from __future__ import annotations

import pytest

from service.cluster.groups import group_for_new_camera, group_to_move, node_loads

NODES = ["node-a", "node-b", "node-c"]


def assign_all(cameras: list[str], per_actor: int, members: dict[str, list[str]] | None = None,
               group_nodes: dict[str, str] | None = None) -> dict[str, list[str]]:
    """Cameras joining one after another, as the supervisor adds them."""
    members = {g: list(c) for g, c in (members or {}).items()}
    for camera_id in cameras:
        members.setdefault(group_for_new_camera(members, group_nodes or {}, NODES, per_actor), []).append(camera_id)
    return members


def test_cameras_fill_a_group_before_the_next_one_starts():
    members = assign_all([f"cam{i}" for i in range(10)], per_actor=4)
    assert members == {"g0": ["cam0", "cam1", "cam2", "cam3"], "g1": ["cam4", "cam5", "cam6", "cam7"],
                       "g2": ["cam8", "cam9"]}


def test_one_camera_per_actor_is_one_group_per_camera():
    assert assign_all(["a", "b", "c"], per_actor=1) == {"g0": ["a"], "g1": ["b"], "g2": ["c"]}


def test_a_freed_place_is_taken_by_the_fullest_group_and_a_freed_name_is_reused():
    members = {"g0": ["a", "b"], "g1": ["c", "d", "e"], "g3": ["f"]}
    assert group_for_new_camera(members, {}, NODES, per_actor=4) == "g1"  # fullest with room
    full = {"g0": ["a", "b"], "g1": ["c", "d"], "g3": ["e", "f"]}
    assert group_for_new_camera(full, {}, NODES, per_actor=2) == "g2"  # lowest free name


def test_between_groups_as_full_the_one_on_the_idler_node_is_chosen():
    members = {"g0": ["a", "b"], "g1": ["c", "d"], "g2": ["e", "f", "g", "h"]}
    nodes = {"g0": "node-a", "g1": "node-b", "g2": "node-a"}
    assert group_for_new_camera(members, nodes, NODES, per_actor=4) == "g1"


def test_existing_groups_keep_their_cameras_when_others_join():
    before = {"g0": ["a", "b", "c"], "g1": ["d"]}
    after = assign_all(["e", "f", "g"], per_actor=3, members=before)
    for group, cameras in before.items():
        assert after[group][:len(cameras)] == cameras
    assert after == {"g0": ["a", "b", "c"], "g1": ["d", "e", "f"], "g2": ["g"]}


def test_cameras_per_actor_below_one_is_refused():
    with pytest.raises(ValueError, match="1 or more"):
        group_for_new_camera({}, {}, NODES, per_actor=0)


def test_a_group_moves_to_the_idlest_node_when_that_narrows_the_gap():
    members = {"g0": ["a", "b", "c", "d"], "g1": ["e", "f", "g", "h"], "g2": ["i", "j"], "g3": ["k"]}
    nodes = {"g0": "node-a", "g1": "node-a", "g2": "node-b", "g3": "node-c"}
    assert node_loads(members, nodes, NODES) == {"node-a": 8, "node-b": 2, "node-c": 1}
    assert group_to_move(members, nodes, NODES) == ("g0", "node-c")  # 8/2/1 → 4/2/5


def test_no_group_moves_when_moving_would_not_narrow_the_gap():
    one_full_group = {"g0": ["a", "b", "c", "d"]}
    assert group_to_move(one_full_group, {"g0": "node-a"}, NODES) is None  # 4/0/0 would only become 0/4/0
    even = {"g0": ["a", "b"], "g1": ["c", "d"], "g2": ["e"]}
    assert group_to_move(even, {"g0": "node-a", "g1": "node-b", "g2": "node-c"}, NODES) is None


def test_with_one_camera_per_group_one_camera_moves_while_nodes_differ_by_two_or_more():
    members = {"g0": ["a"], "g1": ["b"], "g2": ["c"]}
    nodes = {"g0": "node-a", "g1": "node-a", "g2": "node-a"}
    assert group_to_move(members, nodes, NODES) == ("g0", "node-b")
    nodes = {"g0": "node-a", "g1": "node-a", "g2": "node-b"}
    assert group_to_move(members, nodes, NODES) == ("g0", "node-c")
    nodes = {"g0": "node-a", "g1": "node-b", "g2": "node-c"}
    assert group_to_move(members, nodes, NODES) is None


def test_groups_on_nodes_that_are_gone_or_not_heard_from_count_nowhere():
    members = {"g0": ["a", "b"], "g1": ["c", "d"], "g2": ["e", "f"]}
    nodes = {"g0": "node-a", "g1": "node-dead"}  # g2 is starting: its node is not known yet
    assert node_loads(members, nodes, ["node-a", "node-b"]) == {"node-a": 2, "node-b": 0}
    assert group_to_move(members, nodes, ["node-a", "node-b"]) is None  # a group of 2 does not narrow 2/0
    assert group_to_move(members, nodes, ["node-a"]) is None  # one node: nowhere to go
