"""Markdown renderings of the suite's results (the tables docs/provenance.md quotes)."""

from __future__ import annotations

from trustplane.provenance._suite import SuiteResult


def _ci(ci: tuple[float, float]) -> str:
    return f"[{ci[0]:.2f}, {ci[1]:.2f}]"


def suite_markdown(result: SuiteResult) -> str:
    c = result.config
    lines = [
        f"Substitute suite, certificate {result.certificate_id}: k={c.k} x {c.n_keys} key(s), n_train={c.n_train}, "
        f"{c.n_calibration} calibration images, {c.n_eval} outputs per generator, alpha={c.alpha:g}, seed {c.random_state}.",
        "",
        "| substitute | output RMS | FPR@95%TPR AuthPrint n=1 | AuthPrint n=10 | trustplane n=1 | trustplane n=10 "
        "| AUROC n=1 | AUROC n=10 | verify rejects n=10 | verify rejects n=100 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in result.rows:
        lines.append(
            f"| {r.substitute} | {r.output_rms:.4f} | {r.fpr95_authprint_n1:.2f} | {r.fpr95_authprint_n10:.2f} "
            f"| {r.fpr95_n1:.2f} {_ci(r.fpr95_n1_ci)} | {r.fpr95_n10:.2f} {_ci(r.fpr95_n10_ci)} "
            f"| {r.auroc_n1:.2f} {_ci(r.auroc_n1_ci)} | {r.auroc_n10:.2f} {_ci(r.auroc_n10_ci)} "
            f"| {r.rejected_n10:.2f} {_ci(r.rejected_n10_ci)} | {r.rejected_n100:.2f} {_ci(r.rejected_n100_ci)} |"
        )
    return "\n".join(lines) + "\n"
