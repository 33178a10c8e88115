"""InceptionTime (Ismail Fawaz et al. 2020): inception modules with residual links, on calendar-true series."""

from __future__ import annotations

import torch
from torch import nn

from inseason.models.inputs import prepare_inputs
from inseason.models.registry import register_model


def inception_kernel_sizes(kernel_size: int, n_steps: int) -> tuple[int, int, int]:
    """The three convolution lengths of an inception module for series of ``n_steps`` steps.

    The paper's lengths are ``kernel_size // 1, // 2, // 4`` (40, 20, 10) for series of hundreds of steps.
    Here the longest is capped at half the series (a season of 73 five-day slots: 9, 17, 35; of 23
    sixteen-day slots: 3, 5, 11) and every length is odd (so 'same' padding is symmetric) and at least 3.

    Args:
        kernel_size: The longest kernel asked for (the paper: 40).
        n_steps: Steps T of the input series.

    Returns:
        The three kernel lengths, longest last.
    """
    longest = max(3, min(kernel_size, n_steps // 2))

    def odd(length: int) -> int:
        return max(3, length if length % 2 else length - 1)

    return odd(longest // 4), odd(longest // 2), odd(longest)


class InceptionModule(nn.Module):
    """Bottleneck 1×1 conv → three convs of growing length, beside max-pool → 1×1 conv; BatchNorm, ReLU."""

    def __init__(self, in_channels: int, *, filters: int, bottleneck: int, kernel_sizes: tuple[int, ...]) -> None:
        super().__init__()
        # The reference code skips the bottleneck on a univariate input (one channel).
        self.bottleneck: nn.Module = (
            nn.Conv1d(in_channels, bottleneck, 1, bias=False) if in_channels > 1 else nn.Identity()
        )
        width = bottleneck if in_channels > 1 else in_channels
        self.convs = nn.ModuleList(nn.Conv1d(width, filters, k, padding="same", bias=False) for k in kernel_sizes)
        self.pool = nn.MaxPool1d(3, stride=1, padding=1)
        self.pool_conv = nn.Conv1d(in_channels, filters, 1, bias=False)
        self.norm = nn.BatchNorm1d(filters * (len(kernel_sizes) + 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``x`` [B, in_channels, T] to [B, 4 filters, T]."""
        narrow = self.bottleneck(x)
        branches = [conv(narrow) for conv in self.convs] + [self.pool_conv(self.pool(x))]
        out: torch.Tensor = torch.relu(self.norm(torch.cat(branches, dim=1)))
        return out


@register_model("inceptiontime")
class InceptionTime(nn.Module):
    """Six inception modules with a residual link every three → masked global average pooling → Dense.

    Source: H. Ismail Fawaz, B. Lucas, G. Forestier, C. Pelletier, D. F. Schmidt, J. Weber, G. I. Webb,
    L. Idoumghar, P.-A. Muller, F. Petitjean, "InceptionTime: Finding AlexNet for time series
    classification", Data Mining and Knowledge Discovery 34, 2020 (32 filters per branch, bottleneck 32,
    kernels 40/20/10, max-pool 3, depth 6, residual every 3 modules, global average pooling). Calendar-true
    on season-anchored buckets: masked slots are zeroed and two channels are added, the bucket mask (with
    ``mask_channel``) and the slot's place in the window, (t + 0.5) / T (with ``position_channel``), so the
    network knows which slots are empty and when in the season a pattern sits. The global average pooling
    runs over the observed slots only, so an in-season input (later slots masked) is averaged over what was
    seen. Kernel lengths are scaled to the series (see `inception_kernel_sizes`).

    Size: 10 bands (+ 2 channels), 73 slots (kernels 9/17/35), 6 classes: 437 254 parameters.
    """

    adapter = "bucketed"

    def __init__(
        self,
        *,
        n_bands: int,
        n_steps: int,
        n_classes: int,
        filters: int = 32,
        bottleneck: int = 32,
        kernel_size: int = 40,
        depth: int = 6,
        mask_channel: bool = True,
        position_channel: bool = True,
    ) -> None:
        super().__init__()
        self.n_bands, self.n_steps = n_bands, n_steps
        self.mask_channel, self.position_channel = mask_channel, position_channel
        self.kernel_sizes = inception_kernel_sizes(kernel_size, n_steps)
        channels = n_bands + int(mask_channel) + int(position_channel)
        width = 4 * filters
        self.blocks = nn.ModuleList()
        self.shortcuts = nn.ModuleList()
        residual_channels = channels
        for index in range(depth):
            self.blocks.append(
                InceptionModule(
                    channels if index == 0 else width,
                    filters=filters,
                    bottleneck=bottleneck,
                    kernel_sizes=self.kernel_sizes,
                )
            )
            if index % 3 == 2:
                self.shortcuts.append(
                    nn.Sequential(nn.Conv1d(residual_channels, width, 1, bias=False), nn.BatchNorm1d(width))
                )
                residual_channels = width
        self.head = nn.Linear(width, n_classes)

    def forward(self, values: torch.Tensor, mask: torch.Tensor, doy: torch.Tensor) -> torch.Tensor:
        """Class logits [B, classes] of a batch of bucketed series (``doy`` is implied by the bucket index)."""
        values, _ = prepare_inputs(values, mask, doy, n_bands=self.n_bands, n_steps=self.n_steps)
        weight = mask.bool().unsqueeze(1).to(values.dtype)  # [B, 1, T]
        x = values.transpose(1, 2)
        extra = []
        if self.mask_channel:
            extra.append(weight)
        if self.position_channel:
            steps = torch.arange(self.n_steps, dtype=values.dtype, device=values.device)
            extra.append(((steps + 0.5) / self.n_steps).expand(x.shape[0], 1, self.n_steps))
        x = torch.cat([x, *extra], dim=1)
        residual = x
        shortcuts = iter(self.shortcuts)
        for index, module in enumerate(self.blocks):
            x = module(x)
            if index % 3 == 2:
                x = torch.relu(x + next(shortcuts)(residual))
                residual = x
        pooled = (x * weight).sum(dim=2) / weight.sum(dim=2).clamp(min=1.0)
        logits: torch.Tensor = self.head(pooled)
        return logits
