"""The RT-DETR model from a spec's ``model`` section: Hugging Face transformers, no download.

Backbone presets follow the RT-DETR "vd" ResNets (r18/r34 basic blocks, r50/r101
bottlenecks) with the hybrid encoder and decoder sizes of the published configs;
``tiny`` is a narrow preset that trains on two CPU cores. ``model.*`` spec fields
map one to one onto the config; ``null`` keeps the preset's value. The resolved
config dict is stored in every checkpoint, so evaluate/export rebuild the exact
architecture without the train spec.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: backbone preset -> (resnet config, transformer config)
PRESETS: dict[str, dict[str, Any]] = {
    "resnet_18": {
        "backbone": {"depths": [2, 2, 2, 2], "hidden_sizes": [64, 128, 256, 512], "layer_type": "basic", "embedding_size": 64},
        "model": {"encoder_hidden_dim": 256, "d_model": 256, "encoder_ffn_dim": 1024, "decoder_ffn_dim": 1024, "decoder_layers": 3, "encoder_layers": 1, "heads": 8},
    },
    "resnet_34": {
        "backbone": {"depths": [3, 4, 6, 3], "hidden_sizes": [64, 128, 256, 512], "layer_type": "basic", "embedding_size": 64},
        "model": {"encoder_hidden_dim": 256, "d_model": 256, "encoder_ffn_dim": 1024, "decoder_ffn_dim": 1024, "decoder_layers": 4, "encoder_layers": 1, "heads": 8},
    },
    "resnet_50": {
        "backbone": {"depths": [3, 4, 6, 3], "hidden_sizes": [256, 512, 1024, 2048], "layer_type": "bottleneck", "embedding_size": 64},
        "model": {"encoder_hidden_dim": 256, "d_model": 256, "encoder_ffn_dim": 1024, "decoder_ffn_dim": 1024, "decoder_layers": 6, "encoder_layers": 1, "heads": 8},
    },
    "resnet_101": {
        "backbone": {"depths": [3, 4, 23, 3], "hidden_sizes": [256, 512, 1024, 2048], "layer_type": "bottleneck", "embedding_size": 64},
        "model": {"encoder_hidden_dim": 384, "d_model": 256, "encoder_ffn_dim": 2048, "decoder_ffn_dim": 1024, "decoder_layers": 6, "encoder_layers": 1, "heads": 8},
    },
    # ~1.2 M parameters: about 30 images/s of 160 px training on two CPU cores
    "tiny": {
        "backbone": {"depths": [1, 1, 1, 1], "hidden_sizes": [16, 32, 64, 128], "layer_type": "basic", "embedding_size": 16},
        "model": {"encoder_hidden_dim": 64, "d_model": 64, "encoder_ffn_dim": 128, "decoder_ffn_dim": 128, "decoder_layers": 2, "encoder_layers": 1, "heads": 4},
    },
}
STRIDES = (4, 8, 16, 32)


def model_config(model: dict[str, Any], num_labels: int, id2label: dict[int, str] | None = None) -> dict[str, Any]:
    """The resolved, JSON-safe description of the architecture (stored in checkpoints)."""
    preset = PRESETS[model.get("backbone", "resnet_50")]
    pm = preset["model"]
    levels = list(model.get("return_interm_indices") or [1, 2, 3])
    width = model.get("hidden_dim") or pm["d_model"]
    enc_width = model.get("hidden_dim") or pm["encoder_hidden_dim"]
    heads = model.get("nheads") or pm["heads"]
    ffn = model.get("dim_feedforward")
    hidden_sizes = preset["backbone"]["hidden_sizes"]
    cfg = {
        "version": model.get("version", "v2"),
        "backbone_preset": model.get("backbone", "resnet_50"),
        "backbone": {**preset["backbone"], "out_features": [f"stage{i + 1}" for i in levels]},
        "encoder_in_channels": [hidden_sizes[i] for i in levels],
        "feat_strides": [STRIDES[i] for i in levels],
        "encoder_hidden_dim": enc_width,
        "decoder_in_channels": [enc_width] * len(levels),
        "encode_proj_layers": [len(levels) - 1],
        "d_model": width,
        "encoder_ffn_dim": ffn or pm["encoder_ffn_dim"],
        "decoder_ffn_dim": ffn or pm["decoder_ffn_dim"],
        "encoder_layers": model.get("enc_layers") or pm["encoder_layers"],
        "decoder_layers": model.get("dec_layers") or pm["decoder_layers"],
        "encoder_attention_heads": heads,
        "decoder_attention_heads": heads,
        "num_feature_levels": model.get("num_feature_levels", len(levels)),
        "num_queries": model.get("num_queries", 300),
        "num_denoising": model.get("num_denoising", 100),
        "label_noise_ratio": model.get("label_noise_ratio", 0.5),
        "box_noise_scale": model.get("box_noise_scale", 1.0),
        "dropout": model.get("dropout_ratio", 0.0),
        "weight_loss_vfl": model.get("vfl_loss_coef", 1.0),
        "weight_loss_bbox": model.get("bbox_loss_coef", 5.0),
        "weight_loss_giou": model.get("giou_loss_coef", 2.0),
        "num_labels": num_labels,
        "id2label": {int(k): v for k, v in (id2label or {i: str(i) for i in range(num_labels)}).items()},
    }
    if cfg["version"] == "v2":
        cfg["decoder_method"] = model.get("decoder_method", "default")
    return cfg


def build_model(cfg: dict[str, Any]) -> Any:
    """A freshly initialised RT-DETR (v1 or v2) for the resolved config."""
    from transformers import RTDetrConfig, RTDetrForObjectDetection, RTDetrResNetConfig, RTDetrV2Config, RTDetrV2ForObjectDetection

    bb = cfg["backbone"]
    backbone = RTDetrResNetConfig(
        embedding_size=bb["embedding_size"],
        hidden_sizes=bb["hidden_sizes"],
        depths=bb["depths"],
        layer_type=bb["layer_type"],
        out_features=bb["out_features"],
    )
    kwargs = {k: v for k, v in cfg.items() if k not in ("version", "backbone_preset", "backbone", "num_labels", "id2label")}
    id2label = {int(k): v for k, v in cfg["id2label"].items()}
    common = {"backbone_config": backbone, "id2label": id2label, "label2id": {v: k for k, v in id2label.items()}, **kwargs}
    if cfg["version"] == "v2":
        return RTDetrV2ForObjectDetection(RTDetrV2Config(**common))
    common.pop("decoder_method", None)
    return RTDetrForObjectDetection(RTDetrConfig(**common))


def load_pretrained(model: Any, path: str | Path, *, backbone_only: bool = False) -> dict[str, Any]:
    """Copy weights from one of our checkpoints or a local HF folder; returns what matched.

    Only tensors whose name and shape match are copied (a different number of
    classes leaves the class heads freshly initialised). A file or folder that
    yields no matching tensor is an error, never a silent no-op.
    """
    import torch

    source = Path(path)
    if source.is_dir():
        state = _hf_folder_state(source)
    else:
        ckpt = torch.load(source, map_location="cpu", weights_only=False)
        ours = isinstance(ckpt, dict) and "model" in ckpt
        state = (ckpt.get("ema") or ckpt["model"]) if ours else ckpt  # our checkpoint (EMA first) or a bare state dict
    own = model.state_dict()
    prefix = "model.backbone."
    matched, skipped = {}, []
    for name, tensor in state.items():
        if backbone_only and prefix not in name:
            continue
        if name in own and own[name].shape == tensor.shape:
            matched[name] = tensor
        elif name in own:
            skipped.append(name)
    if not matched:
        msg = f"{source}: no tensor matches this RT-DETR architecture (backbone preset or version differ?)"
        raise ValueError(msg)
    model.load_state_dict(matched, strict=False)
    return {"loaded": len(matched), "shape_mismatch": skipped, "of": len(own)}


def _hf_folder_state(folder: Path) -> dict[str, Any]:
    """The state dict of a local Hugging Face model folder (safetensors or pytorch_model.bin)."""
    import torch

    st = sorted(folder.glob("*.safetensors"))
    if st:
        from safetensors.torch import load_file

        out: dict[str, Any] = {}
        for f in st:
            out.update(load_file(str(f)))
        return out
    bins = sorted(folder.glob("pytorch_model*.bin"))
    if bins:
        out = {}
        for f in bins:
            out.update(torch.load(f, map_location="cpu", weights_only=True))
        return out
    msg = f"{folder}: no *.safetensors or pytorch_model*.bin weights in this folder"
    raise ValueError(msg)


def param_groups(model: Any, *, lr: float, lr_backbone: float, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups: backbone at lr_backbone; no weight decay on norms and biases (RT-DETRv2 recipe)."""
    groups: dict[tuple[bool, bool], list[Any]] = {(b, d): [] for b in (True, False) for d in (True, False)}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        backbone = ".backbone." in f".{name}"
        decay = p.ndim > 1 and "norm" not in name and not name.endswith(".bias")
        groups[(backbone, decay)].append(p)
    out = []
    for (backbone, decay), params in groups.items():
        if params and not (backbone and lr_backbone == 0):
            out.append({"params": params, "lr": lr_backbone if backbone else lr, "weight_decay": weight_decay if decay else 0.0, "backbone": backbone})
    if lr_backbone == 0:
        for name, p in model.named_parameters():
            if ".backbone." in f".{name}":
                p.requires_grad_(False)
    return out
