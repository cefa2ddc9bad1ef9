"""Spectra of conv kernels: pure tensor functions (``spectra``), per-layer profiles
(``profile``), the comparison with a baseline (``comparison``) and training runs
(``evolution``)."""
