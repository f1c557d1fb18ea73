"""Scheduled test-failover drills: a DR plan that was never rehearsed is a hope; a drill is the proof."""
