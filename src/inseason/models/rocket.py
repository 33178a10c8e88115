"""MiniRocket (Dempster, Schmidt & Webb 2021): fixed convolution kernels, PPV features and a linear head.

The 84 kernels of length 9 (weights −1 and 2, three 2s) are applied at dilations spread over the series
length to a random subset of the input channels each; every (kernel, dilation) gets several biases, the
quantiles of its convolution output on one training sample, and each bias gives one feature, the proportion
of positive values (PPV) of ``conv − bias`` over the *observed* steps. Only the head is trained: the features
are standardised (running statistics over all training batches) and a linear layer gives the logits, so the
normal training loop fits a logistic regression on them.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch
from torch import nn

from inseason.models.inputs import prepare_inputs
from inseason.models.registry import register_model

#: Length of every kernel and the 84 ways of placing its three weights of 2 among nine (the rest are −1).
KERNEL_LENGTH = 9
_KERNEL_INDICES = tuple(itertools.combinations(range(KERNEL_LENGTH), 3))
N_KERNELS = len(_KERNEL_INDICES)
_GOLDEN = (math.sqrt(5) + 1) / 2


def minirocket_dilations(
    n_steps: int, *, features: int, max_dilations: int = 32
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The dilations of MiniRocket's kernels for a series of ``n_steps`` steps and the features of each.

    As in the reference code: ``features // 84`` features per kernel, spread over up to ``max_dilations``
    dilations exponentially spaced from 1 to ``(n_steps − 1) / 8`` (so a dilated kernel still fits in the
    series); each distinct dilation gets features in proportion to how often it was drawn. Unlike the
    reference, a (kernel, dilation) pair gets at most ``n_steps`` features (biases): its quantiles are taken
    over at most that many values, so a short series gets fewer features.

    Args:
        n_steps: Steps T of the series.
        features: Features asked for (the paper: 10 000).
        max_dilations: Most dilations per kernel (the paper: 32).

    Returns:
        ``(dilations, features per kernel at each)``.
    """
    per_kernel = max(1, features // N_KERNELS)
    draws = min(per_kernel, max_dilations)
    multiplier = per_kernel / draws
    exponent = math.log2(max(1.0, (n_steps - 1) / (KERNEL_LENGTH - 1)))
    dilation_draws = np.floor(np.logspace(0, exponent, draws, base=2)).astype(np.int64)
    dilations, counts = np.unique(dilation_draws, return_counts=True)
    per_dilation = (counts * multiplier).astype(np.int64)
    remainder = per_kernel - int(per_dilation.sum())
    for index in range(remainder):
        per_dilation[index % len(per_dilation)] += 1
    capped = np.minimum(per_dilation, n_steps)
    return tuple(int(d) for d in dilations), tuple(int(n) for n in capped)


@register_model("minirocket")
class MiniRocket(nn.Module):
    """Fixed MiniRocket kernels (PPV over observed steps, ~10 000 features) → standardisation → Dense.

    Source: A. Dempster, D. F. Schmidt, G. I. Webb, "MiniRocket: A Very Fast (Almost) Deterministic
    Transform for Time Series Classification", KDD 2021 (84 kernels of length 9 with weights −1/2,
    dilations up to 32 per kernel, biases from quantiles of the convolution output on training samples,
    PPV features, 9 996 features by default; the multivariate form draws a random subset of channels per
    kernel and dilation). The kernels (channel subsets) are buffers drawn from the model's seed; the biases
    are buffers fitted on the first batch the model sees in training mode (``fitted`` records it), so a
    bundle stores and reloads them. Calendar-true on season-anchored buckets: masked slots are zeroed, the
    bucket mask is an extra input channel (with ``mask_channel``), and PPV counts only observed slots (and,
    for half the features as in the paper, only slots whose dilated kernel lies inside the series), so an
    in-season input is judged on what was seen. Only the head is trained.

    Size: 10 bands, 73 slots, 6 classes: 9 996 features, 59 982 parameters (the head).
    """

    adapter = "bucketed"
    fitted: torch.Tensor  # buffers, registered in __init__
    quantiles: torch.Tensor

    def __init__(
        self,
        *,
        n_bands: int,
        n_steps: int,
        n_classes: int,
        features: int = 10_000,
        max_dilations: int = 32,
        mask_channel: bool = True,
    ) -> None:
        super().__init__()
        self.n_bands, self.n_steps, self.mask_channel = n_bands, n_steps, mask_channel
        self.dilations, self.per_dilation = minirocket_dilations(
            n_steps, features=features, max_dilations=max_dilations
        )
        channels = n_bands + int(mask_channel)
        base = torch.full((N_KERNELS, KERNEL_LENGTH), -1.0)
        for kernel, twos in enumerate(_KERNEL_INDICES):
            base[kernel, list(twos)] = 2.0
        most = min(channels, KERNEL_LENGTH)
        n_features = 0
        for index, count in enumerate(self.per_dilation):
            # Channels per (kernel, dilation): 2^U(0, log2(min(C, 9) + 1)), floored, as in MiniRocketMultivariate.
            sizes = torch.floor(2 ** (torch.rand(N_KERNELS) * math.log2(most + 1))).long().clamp(1, most)
            select = torch.zeros(N_KERNELS, channels)
            for kernel, size in enumerate(sizes.tolist()):
                select[kernel, torch.randperm(channels)[:size]] = 1.0
            self.register_buffer(f"weight_{index}", base.unsqueeze(1) * select.unsqueeze(2))
            self.register_buffer(f"bias_{index}", torch.zeros(N_KERNELS, count))
            # Half the (kernel, dilation) pairs use zero padding, the others only the steps where the kernel fits.
            padded = (torch.arange(N_KERNELS) + index) % 2 == 0
            self.register_buffer(f"padded_{index}", padded)
            n_features += N_KERNELS * count
        quantiles = (torch.arange(1, n_features + 1, dtype=torch.float64) * _GOLDEN) % 1
        self.register_buffer("quantiles", quantiles.float())  # the level of each feature's bias
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))
        self.n_features = n_features
        self.norm = nn.BatchNorm1d(n_features, affine=False, momentum=None)  # cumulative: the features are fixed
        self.head = nn.Linear(n_features, n_classes)

    def forward(self, values: torch.Tensor, mask: torch.Tensor, doy: torch.Tensor) -> torch.Tensor:
        """Class logits [B, classes]; the first call in training mode fits the biases on its batch."""
        values, _ = prepare_inputs(values, mask, doy, n_bands=self.n_bands, n_steps=self.n_steps)
        mask = mask.bool()
        if self.training and not bool(self.fitted):
            self.fit(values, mask, doy)
        features = self.transform(values, mask, doy)
        logits: torch.Tensor = self.head(self.norm(features))
        return logits

    def _channels(self, values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The convolution input [B, channels, T]: zeroed values and, with ``mask_channel``, the mask."""
        x = values.transpose(1, 2)
        if self.mask_channel:
            x = torch.cat([x, mask.unsqueeze(1).to(x.dtype)], dim=1)
        return x

    def _convolve(self, x: torch.Tensor, index: int) -> torch.Tensor:
        """The 84 kernels at dilation ``index`` on ``x`` [B, channels, T], zero-padded: [B, 84, T]."""
        dilation = self.dilations[index]
        weight: torch.Tensor = getattr(self, f"weight_{index}")
        return nn.functional.conv1d(x, weight, dilation=dilation, padding=(KERNEL_LENGTH // 2) * dilation)

    def _counted(self, mask: torch.Tensor, index: int) -> torch.Tensor:
        """The steps PPV counts at dilation ``index``, [B, 84, T]: observed, and inside for unpadded kernels."""
        reach = (KERNEL_LENGTH // 2) * self.dilations[index]
        steps = torch.arange(self.n_steps, device=mask.device)
        inside = (steps >= reach) & (steps < self.n_steps - reach)
        padded: torch.Tensor = getattr(self, f"padded_{index}")
        allowed = padded.unsqueeze(1) | inside.unsqueeze(0)  # [84, T]
        return mask.unsqueeze(1) & allowed.unsqueeze(0)

    @torch.no_grad()
    def fit(self, values: torch.Tensor, mask: torch.Tensor, doy: torch.Tensor) -> None:
        """Set the biases from quantiles of the convolution outputs over the observed steps of a batch.

        Each (kernel, dilation) pair takes one sample of the batch at random (among those with an
        observation) and its biases are the quantiles of that sample's convolution output over its observed
        steps, at the low-discrepancy levels ``frac(i φ)`` of the reference code. A batch with no
        observation at all leaves the model unfitted.

        Args:
            values: Inputs [B, T, C].
            mask: True where a step holds an observation [B, T].
            doy: Day of season of each step [B, T] (unused: the bucket index is the day).
        """
        values, _ = prepare_inputs(values, mask, doy, n_bands=self.n_bands, n_steps=self.n_steps)
        mask = mask.bool()
        candidates = torch.nonzero(mask.any(dim=1)).flatten()
        if candidates.numel() == 0:
            return
        x = self._channels(values, mask)
        offset = 0
        kernels = torch.arange(N_KERNELS, device=values.device)
        for index, count in enumerate(self.per_dilation):
            chosen = candidates[torch.randint(candidates.numel(), (N_KERNELS,), device=values.device)]
            outputs = self._convolve(x[chosen], index)[kernels, kernels]  # [84, T]: kernel k on its sample
            seen = mask[chosen]
            n_seen = seen.sum(dim=1, keepdim=True)  # [84, 1], at least 1
            ordered = torch.sort(outputs.masked_fill(~seen, math.inf), dim=1).values
            levels = self.quantiles[offset : offset + N_KERNELS * count].view(count, N_KERNELS).T  # [84, count]
            offset += N_KERNELS * count
            position = levels.to(ordered.dtype) * (n_seen - 1).to(ordered.dtype)
            low = position.floor().long()
            high = position.ceil().long()
            share = position - low.to(ordered.dtype)
            bias = ordered.gather(1, low) * (1 - share) + ordered.gather(1, high) * share
            getattr(self, f"bias_{index}").copy_(bias)
        self.fitted.fill_(True)

    def transform(self, values: torch.Tensor, mask: torch.Tensor, doy: torch.Tensor) -> torch.Tensor:
        """The PPV features [B, features] of a batch: the share of counted steps where ``conv > bias``.

        A sample without a counted step gets 0 for that feature.

        Args:
            values: Inputs [B, T, C].
            mask: True where a step holds an observation [B, T].
            doy: Day of season of each step [B, T] (unused: the bucket index is the day).

        Returns:
            Float32 [B, features].
        """
        values, _ = prepare_inputs(values, mask, doy, n_bands=self.n_bands, n_steps=self.n_steps)
        mask = mask.bool()
        x = self._channels(values, mask)
        parts = []
        for index in range(len(self.dilations)):
            outputs = self._convolve(x, index)  # [B, 84, T]
            counted = self._counted(mask, index)  # [B, 84, T]
            bias: torch.Tensor = getattr(self, f"bias_{index}")  # [84, count]
            # Uncounted steps sort first (−inf) and are never above a bias: the hits are the sorted values above.
            ordered = torch.sort(outputs.masked_fill(~counted, -math.inf), dim=-1).values
            above = torch.searchsorted(ordered, bias.expand(outputs.shape[0], -1, -1).contiguous(), right=True)
            hits = (self.n_steps - above).to(outputs.dtype)  # [B, 84, count]
            total = counted.sum(dim=-1, keepdim=True).to(outputs.dtype).clamp(min=1.0)
            parts.append((hits / total).flatten(1))
        return torch.cat(parts, dim=1)
