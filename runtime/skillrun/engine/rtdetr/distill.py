"""``rtdetr distill``: train a student (``model.*``, ``train.*``) with the task loss plus distillation terms.

The lifecycle is train's (:func:`skillrun.engine.rtdetr.train.fit`: checkpoints, status.json,
resume, DDP, EMA, validation); this module adds, through a :class:`DistillRecipe`, a frozen
teacher loaded from ``distill.pretrained_teacher_model_path`` and one loss term per binding:

* ``srcs`` - the encoder's input feature maps: the outputs of ``model.encoder_input_proj[i]``
  (the backbone stages of ``return_interm_indices`` projected to the encoder width), one per level.
* ``dsrcs`` - the decoder's input feature maps: the outputs of ``model.decoder_input_proj[i]``
  (the hybrid encoder's outputs projected to ``d_model``, plus any extra downsampled level).
* ``logits`` - the decoder's final class logits, compared on matched queries.

Criteria and level pairing are in :mod:`distill_losses`. Where the student's width differs
from the teacher's, a learned 1x1 convolution per level maps the student onto the teacher; the
projections train with the student (same optimiser, LR and schedule), are saved in each
checkpoint under ``distill`` and are not part of the exported model.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import nn

from skillrun.engine.rtdetr import runtime
from skillrun.engine.rtdetr.distill_losses import feature_loss, logit_loss
from skillrun.engine.rtdetr.train import Recipe, fit

#: binding name -> the ModuleList (under ``model.model``) whose outputs it captures
FEATURE_MODULES = {"srcs": "encoder_input_proj", "dsrcs": "decoder_input_proj"}
FEATURES = tuple(FEATURE_MODULES)
CRITERIA = {"IOU": FEATURES, "MSE": (*FEATURES, "logits"), "KL": ("logits",)}
#: the projections' initialisation (and the probe that sizes them) draw from their own generator,
#: so a distilled run and a plain run of the same student see the same global random stream
HEAD_SEED = 7


def run(spec: dict[str, Any], out: Path) -> int:
    return fit(spec, out, DistillRecipe(spec["distill"]))


def check_bindings(bindings: list[dict[str, Any]]) -> None:
    """The binding rules the schema also enforces, repeated for specs that bypass validation."""
    problems = []
    for i, b in enumerate(bindings):
        s, t, c = b.get("student_module_name", "srcs"), b.get("teacher_module_name", "srcs"), b.get("criterion", "IOU")
        where = f"distill.bindings[{i}]"
        if c not in CRITERIA:
            problems.append(f"{where}.criterion={c!r} is not one of {sorted(CRITERIA)}")
        elif s not in CRITERIA[c] or t not in CRITERIA[c]:
            problems.append(f"{where}: criterion {c} takes {' or '.join(CRITERIA[c])} on both sides, got {s} -> {t}")
        elif (s == "logits") != (t == "logits"):
            problems.append(f"{where}: logits bind only to logits, got {s} -> {t}")
    if problems:
        raise ValueError("; ".join(problems) + " (IOU bindings must use srcs or dsrcs; KL only logits)")


@contextmanager
def capture(model: Any, names: set[str]) -> Iterator[dict[str, list[torch.Tensor]]]:
    """Record the outputs of the ``FEATURE_MODULES`` named in ``names`` during one forward.

    Hooks live only inside the ``with``: a deep copy of the model (the EMA) never inherits them.
    """
    found: dict[str, list[torch.Tensor]] = {n: [] for n in names}
    inner = getattr(model, "model", model)
    handles = []
    for name in names:
        for module in getattr(inner, FEATURE_MODULES[name]):
            handles.append(module.register_forward_hook(lambda _m, _i, o, n=name: found[n].append(o)))
    try:
        yield found
    finally:
        for h in handles:
            h.remove()


class Distiller(nn.Module):
    """Student + projection heads; ``forward`` returns the student's output with the distillation terms added to ``.loss``.

    The teacher is held outside the module tree (no state dict entry, no DDP gradient sync)
    and runs in eval mode without gradients on the same images.
    """

    def __init__(self, student: nn.Module, teacher: nn.Module, bindings: list[dict[str, Any]], heads: nn.ModuleDict) -> None:
        super().__init__()
        self.student = student
        self.heads = heads
        self._teacher = (teacher,)
        self.bindings = bindings
        self.s_names = {b["student_module_name"] for b in bindings if b["student_module_name"] in FEATURES}
        self.t_names = {b["teacher_module_name"] for b in bindings if b["teacher_module_name"] in FEATURES}
        self.sums: dict[str, float] = {}
        self.count = 0

    def forward(self, pixel_values: torch.Tensor, labels: Any = None) -> Any:
        teacher = self._teacher[0]
        with torch.no_grad(), capture(teacher, self.t_names) as t_feats:
            t_out = teacher(pixel_values=pixel_values)
        with capture(self.student, self.s_names) as s_feats:
            out = self.student(pixel_values=pixel_values, labels=labels)
        s_logits, s_boxes = out.logits, out.pred_boxes
        meta = getattr(out, "denoising_meta_values", None)
        if meta:  # training: the denoising queries come first; only the matching queries are distilled
            dn = int(meta["dn_num_split"][0])
            s_logits, s_boxes = s_logits[:, dn:], s_boxes[:, dn:]
        total = out.loss if out.loss is not None else s_logits.sum() * 0.0
        for i, b in enumerate(self.bindings):
            s_name, t_name, crit = b["student_module_name"], b["teacher_module_name"], b["criterion"]
            if s_name == "logits":
                term = logit_loss(crit, s_logits, s_boxes, t_out.logits, t_out.pred_boxes)
            else:
                term = feature_loss(crit, s_feats[s_name], t_feats[t_name], self.heads[str(i)] if str(i) in self.heads else None)
            total = total + float(b.get("weight", 1.0)) * term
            key = f"distill_{s_name}_{crit.lower()}_{i}"
            self.sums[key] = self.sums.get(key, 0.0) + float(term.detach())
        self.count += 1
        out.loss = total
        return out

    def pop_stats(self) -> dict[str, float]:
        stats = {k: v / max(1, self.count) for k, v in self.sums.items()}
        self.sums, self.count = {}, 0
        return stats


def build_heads(student: nn.Module, teacher: nn.Module, bindings: list[dict[str, Any]], device: Any) -> nn.ModuleDict:
    """1x1 projections (student width -> teacher width) per feature binding and level, where the widths differ."""
    names = {b["student_module_name"] for b in bindings} | {b["teacher_module_name"] for b in bindings}
    names &= set(FEATURES)
    gen = torch.Generator().manual_seed(HEAD_SEED)
    probe = torch.rand(1, 3, 64, 64, generator=gen).to(device)
    widths: dict[str, dict[str, list[int]]] = {}
    for role, model in (("s", student), ("t", teacher)):
        was = model.training
        model.eval()
        with torch.no_grad(), capture(model, names) as found:
            model(pixel_values=probe)
        model.train(was)
        widths[role] = {n: [int(f.shape[1]) for f in found[n]] for n in names}
    heads = nn.ModuleDict()
    for i, b in enumerate(bindings):
        if b["student_module_name"] not in FEATURES:
            continue
        sw, tw = widths["s"][b["student_module_name"]], widths["t"][b["teacher_module_name"]]
        n = min(len(sw), len(tw))
        if sw[-n:] == tw[-n:]:
            continue
        convs = nn.ModuleList()
        for cs, ct in zip(sw[-n:], tw[-n:]):
            conv = nn.Conv2d(cs, ct, kernel_size=1)
            with torch.no_grad():
                bound = 1.0 / cs**0.5
                conv.weight.copy_(torch.empty_like(conv.weight).uniform_(-bound, bound, generator=gen))
                conv.bias.zero_()
            convs.append(conv)
        heads[str(i)] = convs
    return heads.to(device, memory_format=torch.channels_last)


class DistillRecipe(Recipe):
    """Training with a teacher: :class:`Distiller` as the training module, its heads in the optimiser."""

    action = "distill"
    verb = "distilling"
    past = "distilled"

    def __init__(self, distill: dict[str, Any]) -> None:
        self.teacher_path = distill["pretrained_teacher_model_path"]
        self.bindings = [{"student_module_name": "srcs", "teacher_module_name": "srcs", "criterion": "IOU", "weight": 1.0, **b}
                         for b in (distill.get("bindings") or [{}])]
        check_bindings(self.bindings)
        self.module: Distiller | None = None
        self.teacher_desc = ""

    def setup(self, spec: dict[str, Any], model: Any, class_map: Any, ctx: runtime.Ctx) -> None:
        from skillrun.engine.rtdetr.checkpoint import model_from_checkpoint
        from skillrun.engine.rtdetr.classmap import ClassMap

        with torch.random.fork_rng(devices=[]):  # building the teacher must not move the student's random stream
            teacher, ckpt = model_from_checkpoint(self.teacher_path, use_ema=True)
        t_classes = ClassMap.from_dict(ckpt["class_map"])
        if any(b["student_module_name"] == "logits" for b in self.bindings) and list(t_classes.category_ids) != list(class_map.category_ids):
            msg = (f"distill.pretrained_teacher_model_path={self.teacher_path}: logit distillation needs the teacher's classes, but the teacher "
                   f"knows category ids {list(t_classes.category_ids)} and the data {list(class_map.category_ids)}; train the teacher on the "
                   "same categories or use only srcs/dsrcs bindings")
            raise ValueError(msg)
        teacher = runtime.place_model(teacher, ctx)
        for p in teacher.parameters():
            p.requires_grad_(False)
        heads = build_heads(model, teacher, self.bindings, ctx.device)
        self.module = Distiller(model, teacher, self.bindings, heads)
        cfg = ckpt["model_config"]
        self.teacher_desc = f"{cfg['backbone_preset']} ({cfg['version']}) epoch {ckpt.get('epoch')}"
        ctx.log(f"teacher {self.teacher_path}: {self.teacher_desc}; {len(heads)} projection head(s)")

    def training_module(self, model: Any) -> Any:
        if self.module is None:
            msg = "DistillRecipe.setup() must run before training_module()"
            raise RuntimeError(msg)
        return self.module

    def extra_groups(self, optim: dict[str, Any]) -> list[dict[str, Any]]:
        params = [p for p in self.module.heads.parameters()] if self.module is not None else []
        return [{"params": params, "lr": optim["lr"], "weight_decay": optim["weight_decay"], "backbone": False}] if params else []

    def state(self) -> dict[str, Any]:
        heads = self.module.heads.state_dict() if self.module is not None else {}
        return {"heads": heads, "teacher": str(self.teacher_path), "bindings": self.bindings}

    def load_state(self, state: dict[str, Any] | None) -> None:
        if state and self.module is not None and state.get("heads"):
            self.module.heads.load_state_dict(state["heads"])

    def epoch_stats(self) -> dict[str, float]:
        return self.module.pop_stats() if self.module is not None else {}

    def describe(self) -> str:
        terms = ", ".join(f"{b['student_module_name']}->{b['teacher_module_name']} {b['criterion']} x{b.get('weight', 1.0)}" for b in self.bindings)
        return f", teacher {self.teacher_desc}, bindings {terms}"
