"""Reading what a job left in its results folder: metric summaries and artifact lists."""
