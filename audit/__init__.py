"""spectral-audit: what a trained CNN has learned in the frequency domain.

The library is usable without the command line::

    from audit import run_audit
    result = run_audit("model.pt")            # white-noise reference baseline
    print(result.spectral.summary.ssr)

Data flows one way: checkpoint -> ``loading`` -> ``ConvKernel`` list -> ``spectra`` /
``profile`` -> ``comparison`` against a baseline -> ``AuditResult`` (JSON round trip).
"""

from audit.errors import AuditError
from audit.api import run_audit, load_result, save_result

__version__ = "0.1.0"

__all__ = ["AuditError", "run_audit", "load_result", "save_result", "__version__"]
