"""Cluster mode: the same cameras, pipelines and database, with the cameras spread over a Ray cluster's nodes.

``firelane serve --ray ADDRESS`` (or ``FIRELANE_RAY_ADDRESS``) makes sure one supervisor actor runs in the cluster
(``supervisor``); it keeps one camera actor per enabled camera (``actors``) and one batching detector per node.
PostgreSQL is the single source of truth: camera checkpoints, violations and alerts, as in one process.
"""
