"""The builtin RT-DETR engine (Hugging Face transformers) behind `python -m skillrun.engine rtdetr ACTION`."""
