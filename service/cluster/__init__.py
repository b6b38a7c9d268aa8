"""Cluster mode: the same cameras, pipelines and database, with the cameras spread over a Ray cluster's nodes.

``firelane serve --ray ADDRESS`` (or ``FIRELANE_RAY_ADDRESS``) makes sure one supervisor actor runs in the cluster
(``supervisor``); it runs the enabled cameras in camera actors of a few cameras each (``actors``, ``groups``)
and one batching detector per node.
PostgreSQL is the single source of truth: camera checkpoints, violations and alerts, as in one process.
"""
