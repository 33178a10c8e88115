"""The shared tensor contract of every network: check ``(values, mask, doy)`` and neutralise masked steps.

Every network's ``forward(values, mask, doy)`` takes ``values`` float32 [B, T, C], ``mask`` bool [B, T]
(True where a step holds a real observation or a filled bucket) and ``doy`` int64 [B, T] (day of season).
Masked-out steps may hold anything (zeros, NaN, stale numbers); zeroing them here, before any layer sees
them, is what makes a model's output independent of what sits under the mask.
"""

from __future__ import annotations

import torch

from inseason.errors import InputError


def prepare_inputs(
    values: torch.Tensor,
    mask: torch.Tensor,
    doy: torch.Tensor,
    *,
    n_bands: int,
    n_steps: int | None,
    exact_steps: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Check the shapes of a batch against a model's sizes and return ``(values, doy)`` zeroed where masked.

    Args:
        values: Inputs float32 [B, T, C].
        mask: True where a step holds an observation [B, T].
        doy: Day of season of each step [B, T].
        n_bands: The number of bands C the model was built for.
        n_steps: The number of steps the model was built for; None accepts any length.
        exact_steps: The batch must have exactly ``n_steps`` steps (models that flatten time); otherwise at
            most that many.

    Returns:
        ``(values, doy)`` with masked steps set to 0.

    Raises:
        InputError: The shapes do not match each other or the model's bands and steps.
    """
    if values.ndim != 3 or mask.shape != values.shape[:2] or doy.shape != values.shape[:2]:
        raise InputError(
            f"model inputs must be values [B, T, C], mask [B, T] and doy [B, T]; got "
            f"{tuple(values.shape)}, {tuple(mask.shape)}, {tuple(doy.shape)}: fix the input adapter"
        )
    steps, bands = values.shape[1], values.shape[2]
    if bands != n_bands:
        raise InputError(
            f"model was built for {n_bands} bands but the batch has {bands}: "
            "use the band list the model was trained with"
        )
    if n_steps is not None and (steps != n_steps if exact_steps else steps > n_steps):
        relation = "exactly" if exact_steps else "at most"
        raise InputError(
            f"model was built for {relation} {n_steps} time steps but the batch has {steps}: "
            "use the input adapter settings the model was trained with"
        )
    mask = mask.bool()
    values = torch.where(mask.unsqueeze(-1), values, torch.zeros((), dtype=values.dtype, device=values.device))
    doy = torch.where(mask, doy, torch.zeros((), dtype=doy.dtype, device=doy.device))
    return values, doy


def attention_mask(mask: torch.Tensor) -> torch.Tensor:
    """The steps attention may look at: the masked-in steps, or every step of a sample that has none.

    A sample without any observation (an as-of date before its first image) would otherwise make a
    softmax over nothing (NaN); its steps are all zero after :func:`prepare_inputs`, so letting attention
    see them gives a constant, finite output instead.

    Args:
        mask: True where a step holds an observation [B, T].

    Returns:
        Bool [B, T].
    """
    mask = mask.bool()
    return mask | ~mask.any(dim=1, keepdim=True)
