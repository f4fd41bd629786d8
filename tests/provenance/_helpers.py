"""Tiny generators for fast tests: an untrained decoder is a perfectly good deterministic generator."""

from __future__ import annotations

import torch

from trustplane.provenance._demo import Decoder


def tiny_generator(seed: int = 0, width: int = 8) -> Decoder:
    """A randomly initialised demo decoder (latent 8, 3x16x16 outputs in (0, 1)); the same seed, the same weights."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        dec = Decoder(latent_dim=8, width=width)
    with torch.no_grad():  # spread the outputs over (0, 1): a fresh decoder's are nearly constant
        dec.fc.weight.mul_(3.0)
        dec.net[-1].weight.mul_(12.0)
    return dec.eval()


def cli_generator() -> Decoder:
    """Referenced from CLI tests as ``tests.provenance._helpers:cli_generator``."""
    return tiny_generator(0)


def cli_substitute() -> Decoder:
    """Another generator of the same shape, for CLI tests of a rejected batch."""
    return tiny_generator(1)
