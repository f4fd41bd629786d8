"""The reconstructor: predicts an image's values at secret coordinates from the rest of the image.

The secret coordinates are masked out of its input (set to zero, with a mask channel saying where),
so it cannot learn the identity; what it learns is how the certified generator ties those values to
the others. On the certified generator's outputs its error is small; on a substitute's it grows.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from trustplane.provenance._errors import ImageInputError, ProvenanceInputError

_RAW_SKIP_LIMIT = 4096  # images with at most this many values also feed the head directly


def check_images(images: Any, shape: tuple[int, ...] | None = None, *, what: str = "images") -> np.ndarray:
    """``images`` as float32 (N, C, H, W) in [0, 1]; a specific error for anything else."""
    arr = np.asarray(images)
    if arr.dtype.kind not in "fiu":
        raise ImageInputError(f"{what} must be numeric arrays, got dtype {arr.dtype}")
    if arr.ndim != 4:
        raise ImageInputError(
            f"{what} must have shape (N, C, H, W), got {arr.ndim} dimensions {tuple(arr.shape)}",
            hint="stack the images on a first axis; channels first",
            got=list(arr.shape),
        )
    if shape is not None and tuple(arr.shape[1:]) != tuple(shape):
        raise ImageInputError(
            f"{what} have shape {tuple(arr.shape[1:])} per image, the certificate expects {tuple(shape)}",
            hint="send images of the certified size, channels first (C, H, W)",
            got=list(arr.shape[1:]),
            expected=list(shape),
        )
    if arr.shape[0] == 0:
        raise ImageInputError(f"no {what} given")
    arr = arr.astype(np.float32, copy=False)
    if not np.all(np.isfinite(arr)):
        raise ImageInputError(f"{what} contain NaN or infinite values")
    lo, hi = float(arr.min()), float(arr.max())
    if lo < 0.0 or hi > 1.0:
        raise ImageInputError(
            f"{what} have values in [{lo:.4g}, {hi:.4g}]; certified images are floats in [0, 1]",
            hint="divide 8-bit images by 255; map generators that output [-1, 1] with (x + 1) / 2",
            min=lo,
            max=hi,
        )
    return arr


class _Net(nn.Module):
    def __init__(self, channels: int, height: int, width: int, k: int, base: int, hidden: int) -> None:
        super().__init__()
        self.trunk = nn.Sequential(
            nn.Conv2d(channels + 1, base, 3, padding=1),
            nn.GELU(),
            nn.Conv2d(base, base, 3, padding=1),
            nn.GELU(),
            nn.Conv2d(base, 2 * base, 4, stride=2, padding=1),
            nn.GELU(),
            nn.Conv2d(2 * base, 2 * base, 4, stride=2, padding=1),
            nn.GELU(),
            nn.AdaptiveAvgPool2d((max(1, min(8, height // 4)), max(1, min(8, width // 4)))),
            nn.Flatten(),
        )
        pooled = 2 * base * max(1, min(8, height // 4)) * max(1, min(8, width // 4))
        self.raw = channels * height * width <= _RAW_SKIP_LIMIT
        features = pooled + (channels * height * width if self.raw else 0)
        self.head = nn.Sequential(nn.Linear(features, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU())
        self.out = nn.Linear(hidden, k)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.trunk(torch.cat([x, mask.expand(x.shape[0], -1, -1, -1)], dim=1))
        if self.raw:
            h = torch.cat([h, x.flatten(1)], dim=1)
        out: torch.Tensor = self.out(self.head(h))
        return out


class Reconstructor:
    """Predicts the values at secret coordinates from an image with those coordinates masked.

    Follows the sklearn conventions: hyper-parameters here, :meth:`fit` learns ``coords_``,
    ``net_``, ``target_mean_`` and ``target_std_`` and returns self; the same ``random_state`` gives
    the same weights.

    Args:
        width: channels of the first convolutions (doubled after each downsampling).
        hidden: units of the two hidden layers of the head.
        epochs: passes over the training images.
        batch_size: images per optimiser step.
        learning_rate: Adam's initial step size (cosine-annealed to zero).
        random_state: seed of initialisation and shuffling.
        device: torch device to train and predict on ("cpu", "cuda", ...).
    """

    def __init__(
        self,
        width: int = 32,
        hidden: int = 256,
        epochs: int = 20,
        batch_size: int = 128,
        learning_rate: float = 2e-3,
        random_state: int | None = None,
        device: str = "cpu",
    ) -> None:
        self.width = width
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.random_state = random_state
        self.device = device

    def get_params(self) -> dict[str, Any]:
        return {
            "width": self.width,
            "hidden": self.hidden,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "learning_rate": self.learning_rate,
            "random_state": self.random_state,
            "device": self.device,
        }

    def _validate(self) -> None:
        for name in ("width", "hidden", "epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ProvenanceInputError(f"Reconstructor.{name} must be a positive integer, got {value!r}")
        if not (isinstance(self.learning_rate, float | int) and self.learning_rate > 0):
            raise ProvenanceInputError(f"Reconstructor.learning_rate must be positive, got {self.learning_rate!r}")

    def _build(self, shape: tuple[int, int, int], k: int) -> _Net:
        return _Net(shape[0], shape[1], shape[2], k, self.width, self.hidden)

    def _mask(self) -> torch.Tensor:
        c, h, w = self.image_shape_
        mask = torch.zeros(c * h * w)
        mask[torch.as_tensor(self.coords_)] = 1.0
        return mask.reshape(1, c, h, w).amax(dim=1, keepdim=True).to(self.device)

    def _masked(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1).clone()
        flat[:, torch.as_tensor(self.coords_, device=x.device)] = 0.0
        return flat.reshape(x.shape)

    def fit(self, X: Any, coords: Any) -> Reconstructor:  # noqa: N803 (sklearn naming)
        """Learn to predict ``X`` at the flat indices ``coords`` from ``X`` with them masked."""
        self._validate()
        images = check_images(X, what="training images")
        coords_arr = np.asarray(coords, dtype=np.int64).ravel()
        size = int(np.prod(images.shape[1:]))
        if coords_arr.size == 0 or np.unique(coords_arr).size != coords_arr.size:
            raise ProvenanceInputError("secret coordinates must be a non-empty set of distinct indices")
        if coords_arr.min() < 0 or coords_arr.max() >= size:
            raise ProvenanceInputError(f"secret coordinates must index an image of {size} values")
        self.coords_ = np.sort(coords_arr)
        self.image_shape_ = tuple(int(s) for s in images.shape[1:])
        targets = images.reshape(images.shape[0], -1)[:, self.coords_].astype(np.float64)
        self.target_mean_ = targets.mean(axis=0).astype(np.float32)
        self.target_std_ = np.maximum(targets.std(axis=0), 1e-4).astype(np.float32)
        seed = 0 if self.random_state is None else int(self.random_state)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = self._build(self.image_shape_, self.coords_.size).to(self.device)  # type: ignore[arg-type]
        gen = torch.Generator().manual_seed(seed)
        x_all = torch.from_numpy(images)
        y_all = torch.from_numpy(((targets - self.target_mean_) / self.target_std_).astype(np.float32))
        mask = self._mask()
        opt = torch.optim.Adam(net.parameters(), lr=float(self.learning_rate))
        n = x_all.shape[0]
        steps = self.epochs * math.ceil(n / self.batch_size)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=float(self.learning_rate), total_steps=steps)
        net.train()
        for _ in range(self.epochs):
            order = torch.randperm(n, generator=gen)
            for start in range(0, n, self.batch_size):
                batch = order[start : start + self.batch_size]
                x = self._masked(x_all[batch].to(self.device))
                loss = torch.mean((net(x, mask) - y_all[batch].to(self.device)) ** 2)
                opt.zero_grad(set_to_none=True)
                loss.backward()  # type: ignore[no-untyped-call]
                opt.step()
                sched.step()
        net.eval()
        self.net_ = net
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "net_"):
            raise ProvenanceInputError("this Reconstructor is not fitted yet; call fit() first")

    def predict_tensor(self, x: torch.Tensor) -> torch.Tensor:
        """Differentiable prediction (in pixel units) for a batch tensor; used by the adaptive attacks."""
        self._check_fitted()
        mean = torch.as_tensor(self.target_mean_, device=x.device)
        std = torch.as_tensor(self.target_std_, device=x.device)
        out: torch.Tensor = self.net_(self._masked(x), self._mask().to(x.device)) * std + mean
        return out

    def predict(self, X: Any, batch_size: int = 1024) -> np.ndarray:  # noqa: N803
        """Predicted values at the secret coordinates, shape (N, k)."""
        self._check_fitted()
        images = check_images(X, self.image_shape_)
        outs = []
        with torch.no_grad():
            for start in range(0, images.shape[0], batch_size):
                x = torch.from_numpy(images[start : start + batch_size]).to(self.device)
                outs.append(self.predict_tensor(x).cpu().numpy())
        return np.concatenate(outs).astype(np.float64)

    def residuals(self, X: Any) -> np.ndarray:  # noqa: N803
        """Observed minus predicted values at the secret coordinates, shape (N, k)."""
        images = check_images(X, getattr(self, "image_shape_", None))
        observed = images.reshape(images.shape[0], -1)[:, self.coords_].astype(np.float64)
        return np.asarray(observed - self.predict(images))

    def error(self, X: Any) -> np.ndarray:  # noqa: N803
        """Per-image reconstruction error: the mean squared residual at the secret coordinates."""
        return np.asarray(np.mean(self.residuals(X) ** 2, axis=1))

    # --- serialisation -------------------------------------------------------------------------------
    def to_arrays(self, prefix: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        self._check_fitted()
        arrays = {f"{prefix}coords": self.coords_, f"{prefix}target_mean": self.target_mean_}
        arrays[f"{prefix}target_std"] = self.target_std_
        for name, tensor in self.net_.state_dict().items():
            arrays[f"{prefix}net.{name}"] = tensor.detach().cpu().numpy()
        params = {k: v for k, v in self.get_params().items() if k != "device"}
        return {"params": params, "image_shape": list(self.image_shape_)}, arrays

    @classmethod
    def from_arrays(
        cls, meta: dict[str, Any], arrays: dict[str, np.ndarray], prefix: str, device: str = "cpu"
    ) -> Reconstructor:
        rec = cls(**meta["params"], device=device)
        rec.coords_ = arrays[f"{prefix}coords"].astype(np.int64)
        rec.image_shape_ = tuple(int(s) for s in meta["image_shape"])
        rec.target_mean_ = arrays[f"{prefix}target_mean"]
        rec.target_std_ = arrays[f"{prefix}target_std"]
        net = rec._build(rec.image_shape_, rec.coords_.size)  # type: ignore[arg-type]
        state = {
            name[len(prefix) + 4 :]: torch.from_numpy(arr.copy())
            for name, arr in arrays.items()
            if name.startswith(f"{prefix}net.")
        }
        net.load_state_dict(state)
        net.eval()
        rec.net_ = net.to(device)
        return rec
