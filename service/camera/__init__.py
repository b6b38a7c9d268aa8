"""The camera runtime: frames through detection, tracking and zone occupancy to violations, and the state a camera
keeps (checkpoints, the local spool) so that its violations survive restarts and outages."""
