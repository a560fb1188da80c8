"""The loss registry: forget objectives x retain regularisers, with pinned sign conventions.

Conventions (tests pin them): ``logp`` is the *summed* log-probability of the answer tokens; every
function returns a quantity to *minimise*. GA minimises -NLL; NPO minimises
-(2/beta) log sigmoid(beta (logp_ref - logp_theta)); DPO minimises
-log sigmoid(beta ((logp_theta(c) - logp_ref(c)) - (logp_theta(r) - logp_ref(r)))).
The KL regulariser is KL(p_ref || p_theta) averaged over *answer* tokens of the retain example,
masked for prompt and padding (the official code averages over every padded position).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from nauf_return.errors import ConfigError

CORES = ("ga", "npo", "idk", "idk_dpo", "refuse", "refuse_dpo")
REGULARISERS = {"": "none", "_difference": "gd", "_kl_minimization": "kl"}
# Paper names -> registry ids (GD/KL as regularisers follow the official naming).
ALIASES = {
    "ga": "ga", "gd": "ga_difference", "kl": "ga_kl_minimization", "npo": "npo",
    "rgd": "idk_difference", "idk": "idk", "rdpo": "idk_dpo", "dpo": "refuse_dpo",
    "nauf": "augmented_refuse_kl_minimization", "nauf_gd": "augmented_refuse_difference",
    "nauf_no_cda": "refuse_kl_minimization",
}


@dataclass(frozen=True)
class Method:
    core: str
    regulariser: str  # none | gd | kl
    cda: bool

    @property
    def name(self) -> str:
        suffix = {v: k for k, v in REGULARISERS.items()}[self.regulariser]
        return ("augmented_" if self.cda else "") + self.core + suffix

    @property
    def needs_reference(self) -> bool:
        return self.core in ("npo", "idk_dpo", "refuse_dpo") or self.regulariser == "kl"


def all_method_names() -> list[str]:
    return [Method(c, r, a).name for a in (False, True) for c in CORES
            for r in REGULARISERS.values()]


def parse_method(name: str) -> Method:
    """Official ids (``augmented_refuse_kl_minimization``) or paper aliases (``nauf``)."""
    key = ALIASES.get(name.lower(), name.lower())
    cda = key.startswith("augmented_")
    rest = key.removeprefix("augmented_")
    for suffix in ("_kl_minimization", "_difference", ""):
        if rest.endswith(suffix) and rest[: len(rest) - len(suffix)] in CORES:
            return Method(rest[: len(rest) - len(suffix)], REGULARISERS[suffix], cda)
    raise ConfigError(f"method: unknown method {name!r}; expected one of "
                      f"{sorted(ALIASES)} or an official id such as {all_method_names()[:4]}...")


def _shifted(logits: torch.Tensor, labels: torch.Tensor):
    return logits[:, :-1, :], labels[:, 1:]


def sequence_logprob(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Summed log-probability of the supervised (label != -100) tokens, per example."""
    logits, labels = _shifted(logits, labels)
    mask = labels != -100
    logp = torch.log_softmax(logits.float(), dim=-1)
    picked = logp.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (picked * mask).sum(-1)


def token_nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean NLL over all supervised tokens of the batch (the HF causal-LM loss)."""
    logits, labels = _shifted(logits, labels)
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), labels.reshape(-1),
                           ignore_index=-100)


def answer_kl(ref_logits: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """KL(p_ref || p_theta) per answer token, averaged over answer tokens only."""
    ref_logits, labels = _shifted(ref_logits, labels)
    logits = logits[:, :-1, :]
    mask = (labels != -100).float()
    ref_logp = torch.log_softmax(ref_logits.float(), dim=-1)
    logp = torch.log_softmax(logits.float(), dim=-1)
    kl = (ref_logp.exp() * (ref_logp - logp)).sum(-1)
    return (kl * mask).sum() / mask.sum().clamp(min=1.0)


def npo_loss(logp: torch.Tensor, ref_logp: torch.Tensor, beta: float) -> torch.Tensor:
    return (-(2.0 / beta) * F.logsigmoid(beta * (ref_logp - logp))).mean()


def dpo_loss(logp_c, ref_logp_c, logp_r, ref_logp_r, beta: float) -> torch.Tensor:
    margin = (logp_c - ref_logp_c) - (logp_r - ref_logp_r)
    return (-F.logsigmoid(beta * margin)).mean()


Forward = Callable[[dict[str, torch.Tensor]], torch.Tensor]


def _inputs(part: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {"input_ids": part["input_ids"], "attention_mask": part["attention_mask"]}


def compute_loss(
    method: Method, policy: Forward, reference: Forward | None, batch: dict, beta: float = 0.1,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Loss to minimise for one batch with parts ``forget``, ``idk``, ``refuse``, ``retain``.

    ``policy``/``reference`` map model inputs to logits; ``reference`` runs without gradients.
    """
    if method.needs_reference and reference is None:
        raise ConfigError(f"method {method.name} needs a reference model")

    def logits_of(fn: Forward, key: str) -> torch.Tensor:
        return fn(_inputs(batch[key]))

    core = method.core
    if core == "ga":
        forget = -token_nll(logits_of(policy, "forget"), batch["forget"]["labels"])
    elif core in ("idk", "refuse"):
        forget = token_nll(logits_of(policy, core), batch[core]["labels"])
    elif core == "npo":
        labels = batch["forget"]["labels"]
        logp = sequence_logprob(logits_of(policy, "forget"), labels)
        with torch.no_grad():
            ref = sequence_logprob(logits_of(reference, "forget"), labels)
        forget = npo_loss(logp, ref, beta)
    else:  # idk_dpo / refuse_dpo: chosen = IDK or refusal, rejected = the true answer
        chosen = "idk" if core == "idk_dpo" else "refuse"
        lc, lr = batch[chosen]["labels"], batch["forget"]["labels"]
        logp_c = sequence_logprob(logits_of(policy, chosen), lc)
        logp_r = sequence_logprob(logits_of(policy, "forget"), lr)
        with torch.no_grad():
            ref_c = sequence_logprob(logits_of(reference, chosen), lc)
            ref_r = sequence_logprob(logits_of(reference, "forget"), lr)
        forget = dpo_loss(logp_c, ref_c, logp_r, ref_r, beta)

    logs = {"forget_loss": float(forget.detach())}
    loss = forget
    if method.regulariser == "gd":
        retain = token_nll(logits_of(policy, "retain"), batch["retain"]["labels"])
        loss = loss + retain
        logs["retain_loss"] = float(retain.detach())
    elif method.regulariser == "kl":
        with torch.no_grad():
            ref_logits = logits_of(reference, "retain")
        retain = answer_kl(ref_logits, logits_of(policy, "retain"), batch["retain"]["labels"])
        loss = loss + retain
        logs["retain_loss"] = float(retain.detach())
    logs["loss"] = float(loss.detach())
    return loss, logs
