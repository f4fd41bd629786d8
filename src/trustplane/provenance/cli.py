"""``trustplane provenance``: certify generators, verify images, revoke and rotate, run the suites, test LLM APIs."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from trustplane.core.config import ModelConfig, Settings, load_settings
from trustplane.core.output import JsonOpt, console, emit
from trustplane.provenance._errors import ProvenanceInputError, SubstitutionDetectedError

app = typer.Typer(
    help="Provenance: certify image generators, verify that outputs come from them, test LLM APIs for substitution.",
    no_args_is_help=True,
)

GeneratorOpt = Annotated[
    str, typer.Option("--generator", help="'demo' (a small VAE trained on generated shapes) or module:attribute.")
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of every random step (same seed, same result).")]


def _settings() -> Settings:
    return load_settings()


def _store(settings: Settings) -> Any:
    from trustplane.core.store import get_store
    from trustplane.provenance._registry import CertificateStore

    store = get_store(settings)
    store.upgrade()
    return CertificateStore(settings, store)


def _read_keys(key_files: list[Path] | None, n_keys: int) -> list[bytes]:
    from trustplane.provenance._secret import new_key

    if key_files:
        keys = []
        for path in key_files:
            try:
                raw = path.read_bytes()
            except OSError as exc:
                raise ProvenanceInputError(f"cannot read key file {path}: {exc.strerror}") from None
            text = raw.strip()
            try:
                keys.append(
                    bytes.fromhex(text.decode()) if text and all(c in b"0123456789abcdefABCDEF" for c in text) else raw
                )
            except ValueError:
                keys.append(raw)
        return keys
    if n_keys < 1:
        raise ProvenanceInputError("--keys must be at least 1")
    return [new_key() for _ in range(n_keys)]


def _certify(
    settings: Settings,
    generator: str,
    keys: list[bytes],
    k: int,
    n_train: int,
    n_reference: int,
    n_calibration: int,
    epochs: int,
    pixel_format: str,
    latent_dim: int | None,
    seed: int,
) -> Any:
    from trustplane.provenance._certificate import certify as do_certify
    from trustplane.provenance._generators import resolve_generator
    from trustplane.provenance._reconstructor import Reconstructor

    gen = resolve_generator(settings, generator, seed=seed)
    with console.status("certifying: sampling, training the reconstructor, calibrating"):
        return do_certify(
            gen,
            keys,
            k=k,
            n_train=n_train,
            n_reference=n_reference,
            n_calibration=n_calibration,
            latent_dim=latent_dim,
            reconstructor=Reconstructor(epochs=epochs),
            pixel_format=pixel_format,  # type: ignore[arg-type]
            generator_name=generator,
            random_state=seed,
        )


def _record_table(title: str, rec: Any) -> Table:
    table = Table(title=title, show_header=False)
    d = rec.as_dict()
    for key in (
        "certificate_id",
        "sha256",
        "generator",
        "log_index",
        "rotated_from",
        "revoked",
        "revoke_reason",
        "superseded_by",
    ):
        if d.get(key) is not None:
            table.add_row(key, str(d[key]))
    for key in ("image_shape", "k", "key_ids", "n_calibration", "pixel_format"):
        table.add_row(key, str(d["public"].get(key)))
    return table


@app.command()
def certify(
    generator: GeneratorOpt = "demo",
    key_file: Annotated[
        list[Path] | None,
        typer.Option("--key-file", help="Secret key file (hex or raw bytes); repeat for an ensemble."),
    ] = None,
    keys: Annotated[int, typer.Option("--keys", help="Fresh random keys to use when no --key-file is given.")] = 1,
    k: Annotated[int, typer.Option("-k", help="Secret coordinates per key.")] = 64,
    n_train: Annotated[int, typer.Option("--n-train", help="Generated images the reconstructor trains on.")] = 20_000,
    n_reference: Annotated[int, typer.Option("--n-reference", help="Images that standardise the scores.")] = 1000,
    n_calibration: Annotated[int, typer.Option("--n-calibration", help="Images kept for the p-values.")] = 2000,
    epochs: Annotated[int, typer.Option("--epochs", help="Reconstructor training epochs.")] = 20,
    pixel_format: Annotated[
        str, typer.Option("--pixel-format", help="'float' (.npy outputs) or 'uint8' (outputs delivered as PNG).")
    ] = "float",
    latent_dim: Annotated[
        int | None, typer.Option("--latent-dim", help="Latent size, if the generator has no latent_dim.")
    ] = None,
    seed: SeedOpt = 0,
    as_json: JsonOpt = False,
) -> None:
    """Certify a generator: seal the certificate under TRUSTPLANE_HOME and log its hash and public metadata."""
    settings = _settings()
    key_bytes = _read_keys(key_file, keys)
    cert = _certify(
        settings, generator, key_bytes, k, n_train, n_reference, n_calibration, epochs, pixel_format, latent_dim, seed
    )
    rec = _store(settings).register(cert)
    emit(as_json, rec.as_dict(), lambda: console.print(_record_table("certificate registered", rec)))


@app.command()
def verify(
    images: Annotated[
        list[Path], typer.Argument(help=".npy files (N, C, H, W) or (C, H, W) in [0, 1], or 8-bit PNG files.")
    ],
    certificate: Annotated[str, typer.Option("--certificate", "-c", help="Certificate id (cert-...).")],
    alpha: Annotated[
        float, typer.Option("--alpha", help="Type-I error rate: chance of rejecting certified outputs.")
    ] = 0.05,
    permutations: Annotated[
        int | None, typer.Option("--permutations", help="Monte Carlo permutations (default: enough for alpha).")
    ] = None,
    seed: SeedOpt = 0,
    as_json: JsonOpt = False,
) -> None:
    """Test whether images come from the certified generator; exit status 1 when they do not."""
    from trustplane.provenance._certificate import verify as do_verify
    from trustplane.provenance._images import check_pixel_format, read_images

    settings = _settings()
    cert = _store(settings).load(certificate)
    arr, from_png = read_images(images)
    check_pixel_format(cert.pixel_format, from_png)
    result = do_verify(arr, cert, alpha=alpha, permutations=permutations, random_state=seed)
    data = result.as_dict()

    def human() -> None:
        colour = "green" if result.decision == "certified" else "red"
        console.print(
            f"[{colour}]{result.decision}[/]: p = {result.p_value:.4g} (error p = {result.p_value_mse:.4g}, "
            f"bias p = {result.p_value_bias:.4g}) on n = {result.n} images at alpha = {alpha:g}"
        )

    emit(as_json, data, human)
    if result.decision != "certified":
        raise SubstitutionDetectedError(
            f"the {result.n} images are not from the generator of {certificate} (p = {result.p_value:.4g} <= {alpha:g})",
            certificate_id=certificate,
            p_value=result.p_value,
        )


@app.command()
def sample(
    out: Annotated[Path, typer.Option("--out", help="Output .npy file (N, C, H, W), or a folder for PNG files.")],
    n: Annotated[int, typer.Option("-n", help="Number of images.")] = 100,
    generator: GeneratorOpt = "demo",
    substitute: Annotated[
        str | None,
        typer.Option("--substitute", help="Demo substitute: int8, int4, prune25, prune50, finetune1, finetune5."),
    ] = None,
    latent_seed: Annotated[int, typer.Option("--latent-seed", help="Seed of the latents.")] = 12345,
    seed: SeedOpt = 0,
    as_json: JsonOpt = False,
) -> None:
    """Write outputs of a generator (or of a demo substitute) to try `verify` on."""
    import numpy as np

    from trustplane.provenance._certificate import sample_images
    from trustplane.provenance._generators import resolve_generator
    from trustplane.provenance._images import write_png

    if n < 1:
        raise ProvenanceInputError("-n must be at least 1")
    gen = resolve_generator(_settings(), generator, seed=seed, substitute=substitute)
    imgs = np.clip(sample_images(gen, n, random_state=latent_seed), 0.0, 1.0).astype(np.float32)
    if out.suffix == ".npy":
        out.parent.mkdir(parents=True, exist_ok=True)
        np.save(out, imgs)
        files = [str(out)]
    else:
        out.mkdir(parents=True, exist_ok=True)
        files = []
        for i, img in enumerate(imgs):
            path = out / f"image-{i:05d}.png"
            write_png(path, img)
            files.append(str(path))
    data = {
        "generator": generator,
        "substitute": substitute,
        "n": n,
        "shape": list(imgs.shape[1:]),
        "files": files[:5],
        "count": len(files),
    }
    emit(as_json, data, lambda: console.print(f"wrote {n} images ({'x'.join(map(str, imgs.shape[1:]))}) to {out}"))


@app.command("list")
def list_certificates(
    all_: Annotated[bool, typer.Option("--all", help="Include revoked certificates.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """List registered certificates (public facts only)."""
    records = _store(_settings()).list(include_revoked=all_)
    table = Table(title=f"{len(records)} certificates")
    for col in ("certificate_id", "generator", "image shape", "keys", "revoked", "log index"):
        table.add_column(col)
    for r in records:
        table.add_row(
            r.certificate_id,
            r.generator,
            str(r.public.get("image_shape")),
            str(len(r.public.get("key_ids", []))),
            r.revoke_reason or "",
            str(r.log_index),
        )
    emit(as_json, [r.as_dict() for r in records], lambda: console.print(table))


@app.command()
def show(
    certificate: Annotated[str, typer.Argument(help="Certificate id.")],
    as_json: JsonOpt = False,
) -> None:
    """Show a certificate's public record (hash, metadata, log index, revocation)."""
    rec = _store(_settings()).record(certificate)
    emit(as_json, rec.as_dict(), lambda: console.print(_record_table(certificate, rec)))


@app.command()
def revoke(
    certificate: Annotated[str, typer.Argument(help="Certificate id.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded in the transparency log).")],
    as_json: JsonOpt = False,
) -> None:
    """Revoke a certificate; verifying against it fails from now on."""
    rec = _store(_settings()).revoke(certificate, reason)
    emit(as_json, rec.as_dict(), lambda: console.print(_record_table("revoked", rec)))


@app.command()
def rotate(
    certificate: Annotated[str, typer.Argument(help="Certificate id to replace.")],
    generator: GeneratorOpt = "demo",
    key_file: Annotated[
        list[Path] | None, typer.Option("--key-file", help="New secret key file(s); default: fresh keys.")
    ] = None,
    epochs: Annotated[int, typer.Option("--epochs", help="Reconstructor training epochs.")] = 20,
    n_train: Annotated[int, typer.Option("--n-train", help="Generated images the reconstructor trains on.")] = 20_000,
    seed: SeedOpt = 0,
    as_json: JsonOpt = False,
) -> None:
    """Key rotation: re-certify the same generator with fresh keys and revoke the old certificate in its favour."""
    settings = _settings()
    store = _store(settings)
    old = store.record(certificate)
    public = old.public
    keys = _read_keys(key_file, len(public.get("key_ids", [])) or 1)
    cert = _certify(
        settings,
        generator,
        keys,
        int(public["k"][0]),
        n_train,
        int(public.get("n_reference", 1000)),
        int(public["n_calibration"]),
        epochs,
        str(public.get("pixel_format", "float")),
        None,
        seed,
    )
    revoked, new = store.rotate(certificate, cert)
    data = {"revoked": revoked.as_dict(), "new": new.as_dict()}
    emit(as_json, data, lambda: console.print(_record_table(f"{certificate} rotated to {new.certificate_id}", new)))


@app.command()
def suite(
    out: Annotated[
        Path, typer.Option("--out", help="Directory for the table (JSON, Markdown) and plot (PNG, HTML).")
    ] = Path("provenance-out"),
    quick: Annotated[bool, typer.Option("--quick", help="Reduced sizes (a minute; what CI runs).")] = False,
    keys: Annotated[int, typer.Option("--keys", help="Keys in the certificate's ensemble.")] = 1,
    seed: SeedOpt = 0,
    as_json: JsonOpt = False,
) -> None:
    """The substitute suite: FPR at 95% TPR (n=1, 10), AUROC, verify() power, with CIs; table and plot."""
    from trustplane.provenance._suite import SuiteConfig, plot_suite, run_suite
    from trustplane.provenance._tables import suite_markdown

    config = SuiteConfig.quick(random_state=seed, n_keys=keys) if quick else SuiteConfig(random_state=seed, n_keys=keys)
    with console.status("substitute suite") as status:
        result = run_suite(config, progress=lambda msg: status.update(f"substitute suite: {msg}"))
    out.mkdir(parents=True, exist_ok=True)
    (out / "provenance-suite.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    (out / "provenance-suite.md").write_text(suite_markdown(result))
    files = plot_suite(result, out)
    data = {
        **result.to_dict(),
        "files": [str(out / "provenance-suite.json"), str(out / "provenance-suite.md"), *map(str, files)],
    }
    emit(as_json, data, lambda: console.print(suite_markdown(result), markup=False, highlight=False))


@app.command()
def attacks(
    out: Annotated[Path, typer.Option("--out", help="Directory for the results (JSON, Markdown).")] = Path(
        "provenance-out"
    ),
    quick: Annotated[bool, typer.Option("--quick", help="Reduced sizes (what CI runs).")] = False,
    seed: SeedOpt = 0,
    as_json: JsonOpt = False,
) -> None:
    """Adaptive attacks: PGD from a surrogate, a query attack on accept/reject answers, partial substitution."""
    from trustplane.provenance._attacks import AttackConfig, attacks_markdown, run_attacks

    config = AttackConfig.quick(random_state=seed) if quick else AttackConfig(random_state=seed)
    with console.status("adaptive attacks") as status:
        result = run_attacks(config, progress=lambda msg: status.update(f"adaptive attacks: {msg}"))
    out.mkdir(parents=True, exist_ok=True)
    (out / "provenance-attacks.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    (out / "provenance-attacks.md").write_text(attacks_markdown(result))
    emit(as_json, result.to_dict(), lambda: console.print(attacks_markdown(result), markup=False, highlight=False))


def _model(settings: Settings, spec: str, upstream_model: str | None, role: str) -> Any:
    from trustplane.core.models import Model, get_model

    if spec.startswith(("http://", "https://")):
        options: dict[str, Any] = {"base_url": spec, "max_retries": 1, "timeout": 60}
        if upstream_model:
            options["model"] = upstream_model
        return Model.from_config(ModelConfig(name=upstream_model or role, backend="openai", options=options))
    if spec == "local":
        return Model.from_config(ModelConfig(name="local", backend="local", options={}))
    return get_model(settings, spec)


@app.command("llm-test")
def llm_test(
    candidate: Annotated[str, typer.Option("--candidate", help="OpenAI-compatible URL, or a configured model name.")],
    reference: Annotated[
        str, typer.Option("--reference", help="'local' (bundled SmolLM2) or a configured local model.")
    ] = "local",
    candidate_model: Annotated[
        str | None, typer.Option("--candidate-model", help="Model id to ask a candidate URL for.")
    ] = None,
    queries: Annotated[int, typer.Option("--queries", help="Questions asked of the candidate.")] = 50,
    samples: Annotated[int, typer.Option("--samples", help="Reference answers per question (rank test).")] = 10,
    max_tokens: Annotated[int, typer.Option("--max-tokens", help="Tokens per answer.")] = 24,
    temperature: Annotated[
        float, typer.Option("--temperature", help="Sampling temperature asked of both sides.")
    ] = 1.0,
    alpha: Annotated[float, typer.Option("--alpha", help="Type-I error rate.")] = 0.05,
    seed: SeedOpt = 0,
    as_json: JsonOpt = False,
) -> None:
    """Model Equality Testing (MMD, Hamming kernel) and the rank-based uniformity test of an LLM API; exit 1 if substituted."""
    from rich.progress import Progress

    from trustplane.provenance._llm import run_llm_test

    settings = _settings()
    ref = _model(settings, reference, None, "reference")
    cand = _model(settings, candidate, candidate_model, "candidate")

    async def go() -> Any:
        with Progress(console=console, transient=True, disable=as_json) as bar:
            task = bar.add_task("asking both models", total=queries)
            return await run_llm_test(
                ref,
                cand,
                n_queries=queries,
                samples_per_query=samples,
                temperature=temperature,
                max_tokens=max_tokens,
                alpha=alpha,
                random_state=seed,
                candidate_label=candidate,
                progress=lambda: bar.advance(task),
            )

    result = asyncio.run(go())
    data = result.as_dict()

    def human() -> None:
        colour = "green" if result.decision == "same" else "red"
        console.print(
            f"[{colour}]{result.decision}[/]: p = {result.p_value:.4g} "
            f"(MMD p = {result.mmd.p_value:.4g}, rank p = {result.rank.p_value:.4g}, mean rank {result.rank.mean_rank:.3f}) "
            f"on {result.n_queries} queries x {result.samples_per_query} reference samples"
        )

    emit(as_json, data, human)
    if result.decision != "same":
        raise SubstitutionDetectedError(
            f"the candidate {candidate} does not serve the reference model's distribution "
            f"(p = {result.p_value:.4g} <= {alpha:g})",
            p_value=result.p_value,
        )
