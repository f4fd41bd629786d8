"""certify and verify on a tiny generator: masking, determinism, errors, power, type-I error."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trustplane.provenance import (
    Certificate,
    ImageInputError,
    Reconstructor,
    TooFewSamplesError,
    certify,
    prune_weights,
    quantize_weights,
    sample_images,
    verify,
)
from trustplane.provenance._certificate import verify_features

from ._helpers import tiny_generator
from .conftest import KEY


def test_reconstructor_never_sees_the_secret_coordinates(certificate: Certificate) -> None:
    rec = certificate.members[0].reconstructor
    x = sample_images(tiny_generator(0), 16, random_state=3)
    y = x.copy().reshape(16, -1)
    y[:, rec.coords_] = np.random.default_rng(0).random((16, rec.coords_.size))
    y = y.reshape(x.shape)
    assert np.array_equal(rec.predict(x), rec.predict(y))
    # ... but it does see everything else
    z = x.copy().reshape(16, -1)
    others = np.setdiff1d(np.arange(z.shape[1]), rec.coords_)[:50]
    z[:, others] = 1.0 - z[:, others]
    assert np.abs((rec.predict(x) - rec.predict(z.reshape(x.shape))) / rec.target_std_).max() > 1e-3


def test_reconstruction_beats_predicting_the_mean(certificate: Certificate) -> None:
    rec = certificate.members[0].reconstructor
    x = sample_images(tiny_generator(0), 200, random_state=4)
    targets = x.reshape(200, -1)[:, rec.coords_]
    assert rec.error(x).mean() < 0.5 * targets.var(axis=0).mean()


def test_certificate_round_trips_and_is_reproducible(certificate: Certificate, generator) -> None:  # type: ignore[no-untyped-def]
    data = certificate.to_bytes()
    back = Certificate.from_bytes(data)
    assert back.to_bytes() == data
    assert back.certificate_id == certificate.certificate_id
    x = sample_images(generator, 20, random_state=5)
    assert np.array_equal(back.features(x).z, certificate.features(x).z)
    public = certificate.public_metadata()
    assert "coords" not in str(public) and public["sha256"] == certificate.sha256
    assert public["k"] == [32] and public["n_calibration"] == 400


def test_same_seed_same_certificate_bytes(generator) -> None:  # type: ignore[no-untyped-def]
    kwargs = {
        "k": 8,
        "n_train": 200,
        "n_reference": 50,
        "n_calibration": 50,
        "reconstructor": Reconstructor(width=4, hidden=16, epochs=1),
        "random_state": 3,
    }
    a = certify(generator, KEY, **kwargs)
    b = certify(generator, KEY, **kwargs)
    c = certify(generator, KEY, **{**kwargs, "random_state": 4})
    assert a.sha256 == b.sha256
    assert a.sha256 != c.sha256


def test_certified_outputs_pass_and_substitutes_fail(certificate: Certificate, generator) -> None:  # type: ignore[no-untyped-def]
    certified = verify(sample_images(generator, 60, random_state=11), certificate)
    assert certified.decision == "certified" and certified.p_value > 0.05
    for substitute in (tiny_generator(1), prune_weights(generator, 0.5), quantize_weights(generator, 4)):
        result = verify(sample_images(substitute, 60, random_state=11), certificate)
        assert result.decision == "substitute", result
        assert result.p_value <= 0.05


def test_type_one_error_on_certified_batches(certificate: Certificate, generator) -> None:  # type: ignore[no-untyped-def]
    feats = certificate.features(sample_images(generator, 1000, random_state=12))
    from trustplane.provenance._certificate import ImageFeatures

    rejected = 0
    batches = 100
    for i in range(batches):
        sl = slice(i * 10, (i + 1) * 10)
        res = verify_features(
            ImageFeatures(feats.z[sl], feats.u[sl], feats.raw_error[sl]),
            certificate,
            alpha=0.1,
            permutations=199,
            random_state=i,
        )
        rejected += res.decision == "substitute"
    # Valid at alpha = 0.1: Binomial(100, <= 0.1) exceeds 20 with probability < 0.001.
    assert rejected <= 20


def test_ensembles_of_keys(generator) -> None:  # type: ignore[no-untyped-def]
    cert = certify(
        generator,
        [KEY, b"second-key-0123456789abc"],
        k=16,
        n_train=600,
        n_reference=100,
        n_calibration=200,
        reconstructor=Reconstructor(width=8, hidden=128, epochs=8, batch_size=32, learning_rate=3e-3),
    )
    assert len(cert.members) == 2
    assert not np.array_equal(cert.members[0].reconstructor.coords_, cert.members[1].reconstructor.coords_)
    assert cert.calibration_u.shape == (200, 32)
    assert verify(sample_images(tiny_generator(1), 40, random_state=2), cert).decision == "substitute"


@pytest.mark.parametrize(
    ("images", "fragment"),
    [
        (np.zeros((2, 3, 8, 8), dtype=np.float32), "shape"),
        (np.zeros((3, 16, 16), dtype=np.float32), "(N, C, H, W)"),
        (np.full((2, 3, 16, 16), 255.0, dtype=np.float32), "[0, 1]"),
        (np.full((2, 3, 16, 16), -0.5, dtype=np.float32), "[0, 1]"),
        (np.full((2, 3, 16, 16), np.nan, dtype=np.float32), "NaN"),
        (np.zeros((0, 3, 16, 16), dtype=np.float32), "no images"),
    ],
)
def test_bad_images_get_specific_errors(certificate: Certificate, images: np.ndarray, fragment: str) -> None:
    with pytest.raises(ImageInputError) as info:
        verify(images, certificate)
    assert fragment in info.value.message
    assert info.value.code == "provenance.bad_images"


def test_too_few_calibration_samples_for_the_error_rate(certificate: Certificate, generator) -> None:  # type: ignore[no-untyped-def]
    x = sample_images(generator, 1, random_state=1)
    with pytest.raises(TooFewSamplesError) as info:
        verify(x, certificate, alpha=0.001)  # 400 calibration samples give p >= 1/401
    assert info.value.extra["needed"] == 999
    assert "999" in (info.value.hint or "")
    assert verify(x, certificate, alpha=0.01).permutations == 400  # exact conformal p-value


def test_generators_outside_unit_range_are_refused() -> None:
    class Wide(torch.nn.Module):
        latent_dim = 4

        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return torch.tanh(z[:, :3, None, None].expand(-1, 3, 8, 8))

    with pytest.raises(ImageInputError) as info:
        certify(Wide(), KEY, k=4, n_train=10, n_reference=5, n_calibration=5)
    assert "(x + 1) / 2" in (info.value.hint or "")
