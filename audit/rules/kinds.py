"""The kinds of finding: one entry per id, with what it means and what to do about it.

Rules (:mod:`audit.rules.findings`) raise findings by these ids, the verdict reads them,
and the report's "How to read this report" shows each kind's entry (every finding links to
its own). ``action`` names options in braces, as :class:`~audit.errors.AuditError` hints
do; whoever shows it spells them (:func:`audit.errors.spell`). Adding a kind of finding
is one entry here and the rule that raises it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FindingKind:
    """title: the guide's heading. meaning: what the finding says. action: what a reviewer
    should do ({option} fields spelled by the presenter). sanity: it questions the
    measurement itself (listed first). interprets: an info finding of this kind reads
    meaning into the numbers, so it is left out once an error says they mean nothing."""

    id: str
    title: str
    meaning: str
    action: str
    sanity: bool = False
    interprets: bool = False


NON_FINITE_LOGITS = "non-finite-logits"
CHANCE_LEVEL_ACCURACY = "chance-level-accuracy"
BASELINE_CHANCE_LEVEL_ACCURACY = "baseline-chance-level-accuracy"
BELOW_RECORDED_ACCURACY = "below-recorded-accuracy"
UNTRAINED_WEIGHTS = "untrained-weights"
NON_FINITE_WEIGHTS = "non-finite-weights"
ZERO_KERNELS = "zero-kernels"
PARTIAL_COMPARISON = "partial-comparison"
BATCHNORM_FOLDED = "batchnorm-folded"
LAYER_HIGH_FREQUENCY = "layer-high-frequency"
SPECTRAL_FORECAST = "spectral-forecast"
NETWORK_SSR = "network-ssr"
NETWORK_SSR_BELOW_POLICY = "network-ssr-below-policy"
ROBUSTNESS_REGRESSION = "robustness-regression"
ROBUSTNESS_IMPROVEMENT = "robustness-improvement"
PROBE_DROP = "probe-drop"
PROBE_DROP_ABOVE_POLICY = "probe-drop-above-policy"

KINDS: dict[str, FindingKind] = {
    kind.id: kind
    for kind in (
        FindingKind(
            NON_FINITE_LOGITS,
            "NaN or infinite outputs",
            "The model's logits held NaN or Inf for some clean images; such images count as wrong.",
            "Fix the model first: look for NaN/Inf weights, a wrong normalisation or a precision that overflows.",
            sanity=True,
        ),
        FindingKind(
            CHANCE_LEVEL_ACCURACY,
            "Accuracy at chance",
            "The model does not classify the evaluation images at all.",
            "Fix the evaluation before anything else: trained weights? the normalisation it was trained with "
            "({mean}/{std})? the data set's class order? the output that holds the logits ({logits})?",
            sanity=True,
        ),
        FindingKind(
            BASELINE_CHANCE_LEVEL_ACCURACY,
            "Baseline at chance",
            "The baseline does not classify the images: no comparison with it means anything.",
            "Check the baseline's weights and its architecture options ({baseline_arch}).",
            sanity=True,
        ),
        FindingKind(
            BELOW_RECORDED_ACCURACY,
            "Below the recorded accuracy",
            "The checkpoint records a clean accuracy far above the one measured here.",
            "Usually a different preprocessing: check {mean}/{std} and the input size; or another data split.",
            sanity=True,
        ),
        FindingKind(
            UNTRAINED_WEIGHTS,
            "Untrained weights against a trained baseline",
            "The model's kernels keep white noise's high-frequency share (SSR within 5% of 1 against i.i.d. weights) "
            "while the baseline's are clearly low-pass, as trained CNNs are: the model looks untrained, or its "
            "weights were lost in loading (a renamed key, a wrong checkpoint entry).",
            "Check that the file holds the trained weights ({checkpoint_key}, the architecture options) before "
            "comparing.",
            sanity=True,
        ),
        FindingKind(
            NON_FINITE_WEIGHTS,
            "NaN or Inf weights",
            "Some kernels hold NaN or Inf: training diverged or the file is corrupt.",
            "Do not release; retrain or restore an earlier checkpoint.",
        ),
        FindingKind(
            ZERO_KERNELS,
            "Dead layers",
            "Some layers' kernels are (nearly) all zero and pass no signal.",
            "Check pruning, initialisation or a loading bug that zeroed them.",
        ),
        FindingKind(
            PARTIAL_COMPARISON,
            "Partial comparison",
            "The baseline is another architecture; only whole-network numbers were compared, never one layer with "
            "another of the same name.",
            "Read the SSR as a comparison of whole networks; for layer by layer, use a baseline of the same "
            "architecture.",
        ),
        FindingKind(
            BATCHNORM_FOLDED,
            "BatchNorm folded",
            "The kernels equal the baseline's up to a per-channel scale, as when BatchNorm is folded into them.",
            "Nothing to do: the filters are the same. Export with optimize=False to keep identical numbers.",
        ),
        FindingKind(
            LAYER_HIGH_FREQUENCY,
            "A high-frequency layer",
            "A layer keeps much more energy above the cutoff than the same layer of the baseline. A description, not "
            "a forecast: the zoo study does not show that one layer's ratio predicts robustness.",
            "Nothing by itself; the probes ({data}) measure what it costs.",
        ),
        FindingKind(
            SPECTRAL_FORECAST,
            "Forecast from the spectrum",
            "A spectral statistic differs from the baseline's, and in every zoo study (a zoo trained here and real "
            "models trained by others, or your own {calibration} study) that statistic ranked the drop under this "
            "probe across models of one architecture with the same sign (rho, 95% interval and n of each). It is a "
            "forecast from weights alone, made only where the association replicates; measured drops replace it.",
            "Run the probes ({data}) with this baseline to measure the drop before relying on the forecast.",
            interprets=True,
        ),
        FindingKind(
            NETWORK_SSR,
            "Network SSR",
            "How the network's high-frequency share compares with the baseline (SSR > 1: more low-pass).",
            "Read it with the probes: the measured differences, not the spectrum, decide. Forecasts from the spectrum"
            " are made only where the zoo study supports them.",
            interprets=True,
        ),
        FindingKind(
            NETWORK_SSR_BELOW_POLICY,
            "SSR below the policy",
            "The policy asks for a network SSR at least this high.",
            "Compare the training recipe with the baseline's (weight decay, augmentation).",
        ),
        FindingKind(
            ROBUSTNESS_REGRESSION,
            "Loses more than the baseline",
            "Under this corruption the model loses more accuracy than the baseline, on the same images, averaged over"
            " the severities where the baseline is at least twice chance; the difference stays significant after "
            "Holm's adjustment for the number of probes (p < 0.05).",
            "Decide whether the regression matters for deployment; if it does, train with matching augmentation.",
            interprets=True,
        ),
        FindingKind(
            ROBUSTNESS_IMPROVEMENT,
            "Loses less than the baseline",
            "Under this corruption the model keeps more accuracy than the baseline, averaged over the severities "
            "where the baseline is at least twice chance, beyond sampling noise (Holm-adjusted p < 0.05).",
            "Nothing to do; worth noting in the release notes.",
            interprets=True,
        ),
        FindingKind(
            PROBE_DROP,
            "Accuracy drop",
            "How much accuracy this corruption costs, with no baseline to compare it with.",
            "Pass a baseline ({baseline} last_release.json) or set policy limits to turn this into a decision.",
            interprets=True,
        ),
        FindingKind(
            PROBE_DROP_ABOVE_POLICY,
            "Drop above the policy",
            "The drop's whole 95% interval is above the limit the policy sets.",
            "Treat as a regression: review the training recipe or the limit.",
        ),
    )
}
