"""A small generator to certify on CPU: a convolutional VAE trained on procedurally drawn shapes.

The dataset is generated (no download): 3-channel 16x16 images of a soft two-colour gradient with one
filled disc, square or triangle of random colour, position and size. The generator is the VAE's
decoder on standard-normal latents, which is deterministic given the latent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

IMAGE_SIZE = 16


def make_shapes(n: int, *, size: int = IMAGE_SIZE, random_state: int = 0) -> np.ndarray:
    """``n`` images (n, 3, size, size), float32 in [0, 1]: a gradient background and one coloured shape."""
    rng = np.random.default_rng(random_state)
    yy, xx = np.meshgrid(np.linspace(0, 1, size), np.linspace(0, 1, size), indexing="ij")
    c0 = rng.uniform(0.0, 0.5, (n, 3, 1, 1))
    c1 = rng.uniform(0.0, 0.5, (n, 3, 1, 1))
    angle = rng.uniform(0, 2 * math.pi, (n, 1, 1, 1))
    t = (np.cos(angle) * xx + np.sin(angle) * yy + 1.5) / 3.0
    img = c0 * (1 - t) + c1 * t
    kind = rng.integers(0, 3, n)
    cx = rng.uniform(0.25, 0.75, n)[:, None, None]
    cy = rng.uniform(0.25, 0.75, n)[:, None, None]
    r = rng.uniform(0.12, 0.3, n)[:, None, None]
    disc = (xx - cx) ** 2 + (yy - cy) ** 2 - r**2
    square = np.maximum(np.abs(xx - cx), np.abs(yy - cy)) - r
    triangle = np.maximum(yy - (cy + r), np.maximum((cy - r) - yy + 2 * (xx - cx), (cy - r) - yy - 2 * (xx - cx)))
    sdf = np.where(kind[:, None, None] == 0, disc, np.where(kind[:, None, None] == 1, square, triangle))
    alpha = 1.0 / (1.0 + np.exp(sdf * size * 4.0))  # soft edge, about a quarter pixel wide
    colour = rng.uniform(0.5, 1.0, (n, 3, 1, 1))
    img = img * (1 - alpha[:, None]) + colour * alpha[:, None]
    return np.clip(img, 0.0, 1.0).astype(np.float32)


class Decoder(nn.Module):
    """Latent (B, latent_dim) to image (B, 3, 16, 16) in [0, 1]; ``latent_dim`` and ``width`` are attributes."""

    def __init__(self, latent_dim: int = 16, width: int = 32) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.width = width
        self.fc = nn.Linear(latent_dim, 2 * width * 4 * 4)
        self.net = nn.Sequential(
            nn.GELU(),
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1),
            nn.GELU(),
            nn.ConvTranspose2d(width, width, 4, stride=2, padding=1),
            nn.GELU(),
            nn.Conv2d(width, 3, 3, padding=1),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).reshape(z.shape[0], 2 * self.width, 4, 4)
        return torch.sigmoid(self.net(h))


class _Encoder(nn.Module):
    def __init__(self, latent_dim: int, width: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, width, 4, stride=2, padding=1),
            nn.GELU(),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1),
            nn.GELU(),
            nn.Flatten(),
            nn.Linear(2 * width * 16, 2 * latent_dim),
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.net(x).chunk(2, dim=1)
        return mu, logvar.clamp(-8, 8)


class VAE(nn.Module):
    def __init__(self, latent_dim: int = 16, width: int = 32) -> None:
        super().__init__()
        self.encoder = _Encoder(latent_dim, width)
        self.decoder = Decoder(latent_dim, width)


@dataclass(frozen=True)
class TrainConfig:
    latent_dim: int = 16
    width: int = 32
    epochs: int = 15
    batch_size: int = 128
    learning_rate: float = 2e-3
    beta: float = 0.1


def train_vae(
    data: np.ndarray,
    config: TrainConfig = TrainConfig(),
    *,
    random_state: int = 0,
    init: VAE | None = None,
    epochs: int | None = None,
    learning_rate: float | None = None,
) -> VAE:
    """Train (or, from ``init``, fine-tune a copy of) a VAE on ``data``; seeded, so repeatable."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(random_state)
        vae = VAE(config.latent_dim, config.width)
        if init is not None:
            vae.load_state_dict(init.state_dict())
        gen = torch.Generator().manual_seed(random_state)
        x_all = torch.from_numpy(data)
        opt = torch.optim.Adam(vae.parameters(), lr=learning_rate or config.learning_rate)
        n = x_all.shape[0]
        vae.train()
        for _ in range(config.epochs if epochs is None else epochs):
            order = torch.randperm(n, generator=gen)
            for start in range(0, n, config.batch_size):
                x = x_all[order[start : start + config.batch_size]]
                mu, logvar = vae.encoder(x)
                eps = torch.randn(mu.shape, generator=gen)
                recon = vae.decoder(mu + eps * torch.exp(0.5 * logvar))
                rec_loss = ((recon - x) ** 2).sum(dim=(1, 2, 3)).mean()
                kl = (-0.5 * (1 + logvar - mu**2 - logvar.exp()).sum(dim=1)).mean()
                loss = rec_loss + config.beta * kl
                opt.zero_grad(set_to_none=True)
                loss.backward()  # type: ignore[no-untyped-call]
                opt.step()
    vae.eval()
    return vae
