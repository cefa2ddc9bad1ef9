"""Robustness probes: corruptions (pure functions) and their registry, data sets,
runners for torch and ONNX models, user-named architectures, and the engines that run
the sweep and the Fourier heat map on the device (``stage`` ties them together)."""
