"""spectral-audit: what a trained CNN has learned in the frequency domain.

The library is usable without the command line::

    from audit import run_audit
    result = run_audit("model.pt")            # white-noise reference baseline
    print(result.spectral.summary.ssr)

Data flows one way, and the sub-packages follow it::

    loading/  checkpoint file -> conv kernels (+ a runnable model)
    spectral/ kernels -> radial spectra, HFER, SSR against a baseline
    probes/   runnable model + data set -> accuracy under corruptions
    rules/    result -> findings, verdict, gates
    report/   result -> HTML/PDF, terminal, CI files
    schema/   the result dataclasses (audit, track, zoo) and the one codec for their JSON

``import audit`` is cheap: torch and friends are imported by the functions that need them.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.2.0"

__all__ = ["AuditError", "run_audit", "build_profile", "run_track", "load_result", "save_result", "__version__"]

_LAZY = {
    "AuditError": "audit.errors",
    "run_audit": "audit.api",
    "build_profile": "audit.api",
    "run_track": "audit.api",
    "load_result": "audit.api",
    "save_result": "audit.api",
}


def __getattr__(name: str) -> Any:
    # PEP 562: the API (and torch behind it) is imported on first use, not by `import audit`.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'audit' has no attribute {name!r}")
