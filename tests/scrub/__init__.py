"""Tests of the pure de-identification core (picsync.scrub)."""
