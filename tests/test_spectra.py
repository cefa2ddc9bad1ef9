"""The pure spectral functions against analytic values and an independent NumPy version."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from audit.spectral import spectra


def numpy_reference(slices: np.ndarray, grid=None, cutoff=0.25):
    """Independent computation, one slice at a time, with explicit frequency loops.

    Returns (distinct radii, energy per radius, HFER, paper ring means).
    """
    height, width = grid or slices.shape[-2:]
    fy = np.fft.fftfreq(height)
    fx = np.fft.fftfreq(width)
    energy: dict[float, float] = {}
    counts: dict[float, int] = {}
    high = total = 0.0
    for w in slices:
        power = np.abs(np.fft.fft2(w, s=(height, width))) ** 2
        for i in range(height):
            for j in range(width):
                r = round(math.hypot(fy[i], fx[j]), 9)
                energy[r] = energy.get(r, 0.0) + power[i, j]
                total += power[i, j]
                if r > cutoff:
                    high += power[i, j]
    for i in range(height):
        for j in range(width):
            r = round(math.hypot(fy[i], fx[j]), 9)
            counts[r] = counts.get(r, 0) + 1
    radii = sorted(energy)
    sums = np.array([energy[r] for r in radii])
    ring_means = sums / np.array([counts[r] for r in radii])
    return np.array(radii), sums, high / total, ring_means


def layer_hfer(weights: torch.Tensor, cutoff: float = 0.25, grid=None) -> float:
    slices = weights.reshape(-1, *weights.shape[-2:])
    power = spectra.pooled_power_spectrum(slices, grid)
    radii = spectra.frequency_radii(tuple(power.shape))
    return float(spectra.hfer(power, radii, cutoff))


def checkerboard(n: int) -> torch.Tensor:
    idx = torch.arange(n)
    return ((-1.0) ** (idx[:, None] + idx[None, :])).to(torch.float64)


# --- analytic cases from DESIGN.md -------------------------------------------------


def test_constant_kernel_has_all_energy_at_dc():
    assert layer_hfer(torch.ones(1, 1, 3, 3)) == pytest.approx(0.0, abs=1e-12)
    power = spectra.pooled_power_spectrum(torch.ones(1, 3, 3))
    assert power[1, 1] == pytest.approx(81.0)  # |sum w|^2 = 9^2 at the centre (DC)
    assert power.sum() == pytest.approx(81.0)


def test_2x2_checkerboard_is_all_at_the_nyquist_corner():
    assert layer_hfer(checkerboard(2)[None]) == pytest.approx(1.0, abs=1e-12)
    power = spectra.pooled_power_spectrum(checkerboard(2)[None])
    radii = spectra.frequency_radii((2, 2))
    assert radii[power.argmax() // 2, power.argmax() % 2] == pytest.approx(math.sqrt(0.5))


def test_3x3_checkerboard_keeps_one_81st_at_dc():
    # An odd grid never samples Nyquist; the checkerboard sums to 1, so DC holds 1/81.
    assert layer_hfer(checkerboard(3)[None]) == pytest.approx(80 / 81, abs=1e-12)


def test_iid_gaussian_3x3_kernels_have_hfer_8_over_9():
    generator = torch.Generator().manual_seed(0)
    weights = torch.randn(256, 256, 3, 3, generator=generator)
    assert layer_hfer(weights) == pytest.approx(8 / 9, abs=2e-3)


def test_white_noise_reference_is_the_fraction_of_grid_points_above_cutoff():
    assert spectra.white_noise_hfer((3, 3)) == pytest.approx(8 / 9)
    assert spectra.white_noise_hfer((1, 1)) == 0.0
    # 5x5: per-axis {0, ±0.2, ±0.4}; only DC and the four (±0.2, 0)/(0, ±0.2) points are <= 0.25.
    assert spectra.white_noise_hfer((5, 5)) == pytest.approx(20 / 25)
    generator = torch.Generator().manual_seed(1)
    weights = torch.randn(128, 128, 5, 5, generator=generator)
    assert layer_hfer(weights) == pytest.approx(spectra.white_noise_hfer((5, 5)), abs=3e-3)


def test_white_noise_stays_flat_on_a_padded_grid():
    generator = torch.Generator().manual_seed(2)
    weights = torch.randn(64, 64, 3, 3, generator=generator)
    assert layer_hfer(weights, grid=(16, 16)) == pytest.approx(spectra.white_noise_hfer((16, 16)), abs=5e-3)


def test_3x3_grid_has_exactly_three_radii():
    radii, _ = spectra.distinct_radius_bins(spectra.frequency_radii((3, 3)))
    assert radii.tolist() == pytest.approx([0.0, 1 / 3, math.sqrt(2) / 3])


# --- invariances and conservation ---------------------------------------------------


def test_negated_kernel_has_the_same_spectrum():
    generator = torch.Generator().manual_seed(3)
    weights = torch.randn(10, 3, 3, generator=generator)
    assert torch.allclose(spectra.pooled_power_spectrum(weights), spectra.pooled_power_spectrum(-weights))


def test_scale_does_not_change_hfer():
    generator = torch.Generator().manual_seed(4)
    weights = torch.randn(4, 4, 3, 3, generator=generator)
    assert layer_hfer(weights) == pytest.approx(layer_hfer(weights * 1e-3), rel=1e-6)  # float32 FFT


@pytest.mark.parametrize("shape", [(3, 3), (5, 5), (7, 7), (2, 2), (3, 1), (4, 6)])
def test_parseval_on_the_native_grid(shape):
    generator = torch.Generator().manual_seed(5)
    weights = torch.randn(20, *shape, generator=generator, dtype=torch.float64)
    power = spectra.pooled_power_spectrum(weights)
    kh, kw = shape
    assert float(power.sum()) == pytest.approx(kh * kw * float(weights.square().sum()), rel=1e-10)


def test_parseval_on_a_padded_grid():
    generator = torch.Generator().manual_seed(6)
    weights = torch.randn(7, 3, 3, generator=generator, dtype=torch.float64)
    power = spectra.pooled_power_spectrum(weights, (8, 8))
    assert float(power.sum()) == pytest.approx(64 * float(weights.square().sum()), rel=1e-10)


def test_energy_fractions_sum_to_one():
    generator = torch.Generator().manual_seed(7)
    power = spectra.pooled_power_spectrum(torch.randn(9, 5, 5, generator=generator))
    _, energy = spectra.radial_energy(power, spectra.frequency_radii((5, 5)))
    assert float(spectra.energy_fractions(energy).sum()) == pytest.approx(1.0)


# --- against the independent NumPy computation ----------------------------------------


@pytest.mark.parametrize(
    "shape,grid", [((3, 3), None), ((5, 5), None), ((7, 7), None), ((3, 3), (8, 8)), ((2, 4), None)]
)
def test_matches_numpy_reference(shape, grid):
    rng = np.random.default_rng(8)
    weights = rng.normal(size=(6, *shape)) * np.linspace(0.1, 1, shape[-1])  # not white
    radii_ref, energy_ref, hfer_ref, means_ref = numpy_reference(weights, grid)
    tensor = torch.from_numpy(weights)
    power = spectra.pooled_power_spectrum(tensor, grid)
    radii = spectra.frequency_radii(tuple(power.shape))
    values, energy = spectra.radial_energy(power, radii)
    assert values.numpy() == pytest.approx(radii_ref, abs=1e-9)
    assert energy.numpy() == pytest.approx(energy_ref, rel=1e-9)
    assert float(spectra.hfer(power, radii)) == pytest.approx(hfer_ref, rel=1e-9)
    _, means = spectra.paper_ring_means(power, radii)
    assert means.numpy() == pytest.approx(means_ref, rel=1e-9)


def test_grouped_pooling_equals_separate_calls():
    generator = torch.Generator().manual_seed(9)
    a, b = torch.randn(5, 3, 3, generator=generator), torch.randn(7, 3, 3, generator=generator)
    pooled = spectra.pooled_power_spectrum(torch.cat([a, b]), counts=[5, 7])
    assert torch.allclose(pooled[0], spectra.pooled_power_spectrum(a))
    assert torch.allclose(pooled[1], spectra.pooled_power_spectrum(b))


@pytest.mark.parametrize(
    "shape,grid", [((3, 3), None), ((3, 3), (4, 4)), ((5, 5), (16, 16)), ((7, 7), (7, 7)), ((3, 5), (6, 9))]
)
def test_gram_route_equals_direct_fft(shape, grid):
    # The Wiener-Khinchin computation against the textbook one: FFT of every slice.
    generator = torch.Generator().manual_seed(10)
    weights = torch.randn(50, *shape, generator=generator, dtype=torch.float64)
    spectrum = torch.fft.fft2(weights, s=grid or shape)
    direct = torch.fft.fftshift(spectrum.abs().square().sum(dim=0))
    assert torch.allclose(spectra.pooled_power_spectrum(weights, grid), direct, rtol=1e-10, atol=1e-9)


def test_rings_of_width_one_over_n():
    radii = spectra.frequency_radii((8, 8))
    values, inverse = spectra.ring_bins(radii, 8)
    assert values.tolist() == pytest.approx([k / 8 for k in range(len(values))])
    assert inverse.max() == len(values) - 1


def test_all_zero_kernel_has_undefined_hfer():
    assert math.isnan(layer_hfer(torch.zeros(2, 2, 3, 3)))


# --- paper mode ------------------------------------------------------------------------


def test_paper_mode_values_for_3x3():
    # Ring means of a constant kernel: all power at DC -> h = 0.
    power = spectra.pooled_power_spectrum(torch.ones(1, 3, 3))
    radii = spectra.frequency_radii((3, 3))
    _, means = spectra.paper_ring_means(power, radii)
    assert float(spectra.paper_high_fraction(means)) == 0.0
    # Flat power (white noise in expectation): three equal bins, h = 2/3.
    flat = torch.ones(3, 3, dtype=torch.float64)
    _, means = spectra.paper_ring_means(flat, radii)
    assert float(spectra.paper_high_fraction(means)) == pytest.approx(2 / 3)
    assert spectra.white_noise_paper_h((3, 3)) == pytest.approx(2 / 3)
    # Normalised to DC = 1.
    assert spectra.normalise_to_dc(means).tolist() == pytest.approx([1.0, 1.0, 1.0])


def test_paper_mode_weighs_dc_four_times_a_non_dc_point_on_3x3():
    # Power 1 at DC only vs power 1 at one edge point: ring means 1 vs 1/4.
    dc = torch.zeros(3, 3, dtype=torch.float64)
    dc[1, 1] = 1
    edge = torch.zeros(3, 3, dtype=torch.float64)
    edge[0, 1] = 1
    radii = spectra.frequency_radii((3, 3))
    assert spectra.paper_ring_means(dc, radii)[1][0] == 1.0
    assert spectra.paper_ring_means(edge, radii)[1][1] == 0.25


def test_paper_high_start_index():
    assert spectra.paper_high_start(3) == 1
    assert spectra.paper_high_start(6) == 3
    assert spectra.paper_high_start(1) == 1


def test_suppression_ratios():
    assert spectra.suppression_ratio(0.8, 0.4) == 2.0
    assert spectra.suppression_ratio(0.5, 0.5) == 1.0
    assert math.isinf(spectra.suppression_ratio(0.5, 0.0))
    assert math.isnan(spectra.suppression_ratio(0.0, 0.0))
    assert spectra.paper_suppression_ratio(0.6, 0.6) == 0.0
    assert spectra.paper_suppression_ratio(0.6, 0.3) == pytest.approx(0.5)
