"""The skill bank: skill folders found through plugins, loaded on demand."""
