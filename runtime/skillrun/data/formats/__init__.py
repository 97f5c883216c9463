"""Detection dataset formats (COCO, KITTI, YOLO, seed-004 JSONL) for the data skills, torch-free.

``common`` holds the in-memory form every conversion passes through, ``kitti``,
``yolo`` and ``jsonl`` read (and write) one format each, and ``handler`` is the
plumbing the job handlers share (status events, report.json, preflight checks).
"""
