"""Tests for the builtin RT-DETR engine (skillrun.engine.rtdetr): post-processing, COCO evaluation, plots."""
