"""The losses networks are trained on: cross-entropy and generalized cross-entropy.

Generalized cross-entropy (GCE; Zhang & Sabuncu 2018, "Generalized Cross Entropy Loss for Training Deep
Neural Networks with Noisy Labels") is ``(1 - p_y ** q) / q`` for the probability ``p_y`` the network gives
the sample's label. Its gradient is cross-entropy's scaled by ``p_y ** q``, so a sample the network finds
improbable — often a wrong label — pulls less than under cross-entropy, where it pulls the most. ``q → 0``
is cross-entropy, ``q = 1`` the mean absolute error. It is an option (``loss: gce``), not the default:
docs/defaults.md measures what it gains on wrong labels and in season, and what it costs under a short fixed
epoch budget (it learns more slowly).
"""

from __future__ import annotations

import torch
from torch import nn

from inseason.train.config import Loss


def generalized_cross_entropy(
    logits: torch.Tensor, target: torch.Tensor, *, q: float, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean generalized cross-entropy of ``logits`` against class indices ``target``.

    Weighted as `torch.nn.functional.cross_entropy` weights: each sample by its class's weight, the sum
    divided by the sum of the weights.

    Args:
        logits: [B, C] scores.
        target: [B] class indices.
        q: the exponent, in (0, 1].
        weight: [C] class weights (None: all 1).

    Returns:
        The scalar loss.
    """
    log_p = torch.log_softmax(logits.float(), dim=1).gather(1, target[:, None]).squeeze(1)
    per_sample = (1.0 - torch.exp(q * log_p)) / q
    if weight is None:
        return per_sample.mean()
    w = weight[target]
    return (w * per_sample).sum() / w.sum()


def training_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    loss: Loss,
    weight: torch.Tensor | None,
    q: float,
    label_smoothing: float,
) -> torch.Tensor:
    """The loss a network is optimised on (validation and the logged figures stay plain cross-entropy).

    Args:
        logits: [B, C] scores.
        target: [B] class indices.
        loss: ``cross_entropy`` or ``gce``.
        weight: [C] class weights (None: all 1).
        q: GCE's exponent (``gce`` only).
        label_smoothing: share of each label spread over the other classes (``cross_entropy`` only).

    Returns:
        The scalar loss.
    """
    if loss == "gce":
        return generalized_cross_entropy(logits, target, q=q, weight=weight)
    return nn.functional.cross_entropy(logits, target, weight=weight, label_smoothing=label_smoothing)


def distillation_loss(logits: torch.Tensor, teacher: torch.Tensor, *, temperature: float) -> torch.Tensor:
    """Knowledge-distillation term: ``T² · KL(softmax(teacher / T) ‖ softmax(logits / T))``, mean over the batch.

    Hinton, Vinyals & Dean 2015 ("Distilling the Knowledge in a Neural Network"): the ``T²`` keeps the term's
    gradients on the scale of the label loss's whatever the temperature.

    Args:
        logits: [B, C] scores of the network trained.
        teacher: [B, C] scores of the teacher (no gradient flows into them).
        temperature: divides both; above 1 it weighs the teacher's second choices more.

    Returns:
        The scalar loss.
    """
    student = torch.log_softmax(logits.float() / temperature, dim=1)
    target = torch.log_softmax(teacher.detach().float() / temperature, dim=1)
    kl = nn.functional.kl_div(student, target, reduction="batchmean", log_target=True)
    return kl * temperature**2
