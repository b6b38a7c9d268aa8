"""Accuracy evaluation against annotated footage."""
