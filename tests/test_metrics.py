"""PSNR, MS-SSIM, Bjøntegaard deltas and the reference curves."""

import json
import math

import numpy as np
import pytest
import pytorch_msssim
import torch
from PIL import Image

from msinn.metrics import (
    bd_psnr,
    bd_rate,
    kodak_references,
    load_reference,
    ms_ssim,
    msinn_published,
    psnr,
    write_results_json,
)

RATES = [0.1, 0.25, 0.5, 1.0, 2.0]
PSNRS = [28.0, 31.0, 34.0, 37.5, 41.0]


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    """Seeded smooth-ish 192x176 RGB image (large enough for five-scale MS-SSIM)."""
    rng = np.random.default_rng(0)
    base = rng.integers(20, 236, (24, 22, 3)).astype(np.uint8)
    return np.kron(base, np.ones((8, 8, 1), np.uint8))


def _bd_rate_by_sampling(ra, pa, rb, pb, n=200_001):
    """Independent BD-rate: polyfit, then the mean gap by a dense trapezoid rule."""
    lo, hi = max(min(pa), min(pb)), min(max(pa), max(pb))
    grid = np.linspace(lo, hi, n)
    gap = np.polyval(np.polyfit(pb, np.log(rb), 3), grid) - np.polyval(
        np.polyfit(pa, np.log(ra), 3), grid
    )
    mean_gap = (
        (gap[:-1] + gap[1:]).sum() / 2 / (n - 1)
    )  # trapezoid rule on a uniform grid
    return 100 * (math.exp(mean_gap) - 1)


class TestPSNR:
    def test_identical_images_give_inf(self, image):
        assert psnr(image, image.copy()) == math.inf

    def test_known_noise_gives_known_psnr(self):
        x = np.full((32, 32, 3), 128, np.uint8)
        y = x.copy()
        y[::2] += 5
        y[1::2] -= 5  # |error| = 5 everywhere: MSE 25
        assert psnr(x, y) == pytest.approx(10 * math.log10(255**2 / 25), abs=1e-12)

    def test_accepts_pil_images(self, image):
        noisy = image.copy()
        noisy[0, 0, 0] ^= 1
        assert psnr(Image.fromarray(image), Image.fromarray(noisy)) == pytest.approx(
            psnr(image, noisy)
        )

    def test_mismatched_shapes_raise_value_error(self, image):
        with pytest.raises(ValueError, match="shapes differ"):
            psnr(image, image[:-1])


class TestMSSSIM:
    def test_identical_images_give_one(self, image):
        assert ms_ssim(image, image) == pytest.approx(1.0, abs=1e-6)
        assert ms_ssim(image[:64, :80], image[:64, :80]) == pytest.approx(1.0, abs=1e-6)

    def test_drops_with_noise(self, image):
        rng = np.random.default_rng(1)
        noisy = np.clip(image + rng.normal(0, 12, image.shape), 0, 255).astype(np.uint8)
        assert 0.5 < ms_ssim(image, noisy) < 0.999

    def test_small_image_falls_back_to_single_scale_ssim(self, image):
        x = image[:96, :128]
        y = np.clip(x.astype(int) + 9, 0, 255).astype(np.uint8)
        tx, ty = (
            torch.tensor(v, dtype=torch.float32).permute(2, 0, 1)[None] for v in (x, y)
        )
        expected = float(pytorch_msssim.ssim(tx, ty, data_range=255))
        assert ms_ssim(x, y) == pytest.approx(expected)


class TestBjontegaard:
    def test_rates_times_0_9_give_minus_10_percent(self):
        assert bd_rate(RATES, PSNRS, [0.9 * r for r in RATES], PSNRS) == pytest.approx(
            -10.0, abs=1e-9
        )

    def test_identical_curves_give_zero(self):
        assert bd_rate(RATES, PSNRS, RATES, PSNRS) == pytest.approx(0.0, abs=1e-9)
        assert bd_psnr(RATES, PSNRS, RATES, PSNRS) == pytest.approx(0.0, abs=1e-9)

    def test_psnr_plus_half_db_gives_bd_psnr_half_db(self):
        assert bd_psnr(RATES, PSNRS, RATES, [p + 0.5 for p in PSNRS]) == pytest.approx(
            0.5
        )

    def test_matches_independent_implementation(self):
        rb = [0.12, 0.24, 0.55, 0.95, 2.1, 3.0]
        pb = [28.5, 31.2, 34.6, 37.2, 41.1, 42.5]
        assert bd_rate(RATES, PSNRS, rb, pb) == pytest.approx(
            _bd_rate_by_sampling(RATES, PSNRS, rb, pb), abs=1e-6
        )

    @pytest.mark.parametrize(
        ("variant", "expected"), [("Ours", -4.8), ("Ours*", -5.2)]
    )  # MSINN_SPEC §6.2, one decimal (the paper's figure: about -5.1 % vs VTM-12.1)
    def test_published_msinn_against_vtm_matches_spec(self, variant, expected):
        vtm = kodak_references()["vtm"]["results"]
        ours = msinn_published("Kodak", variant)["results"]
        bd = bd_rate(vtm["bpp"], vtm["psnr-rgb"], ours["bpp"], ours["psnr-rgb"])
        assert bd == pytest.approx(expected, abs=0.1)

    def test_fewer_than_four_points_raise(self):
        with pytest.raises(ValueError, match="at least 4"):
            bd_rate(RATES[:3], PSNRS[:3], RATES, PSNRS)

    def test_disjoint_curves_raise(self):
        with pytest.raises(ValueError, match="do not overlap"):
            bd_rate(RATES, PSNRS, RATES, [p + 20 for p in PSNRS])


class TestReferences:
    def test_published_ours_kodak_has_12_points(self):
        curve = msinn_published("Kodak", "Ours")
        assert curve["name"] == "MSINN-VRLIC (published, 12 anchors)"
        assert len(curve["results"]["bpp"]) == len(curve["results"]["psnr-rgb"]) == 12
        assert curve["results"]["bpp"][0] == 0.141
        assert curve["results"]["psnr-rgb"][-1] == 46.96

    def test_published_ours_star_kodak_has_8_points(self):
        curve = msinn_published("Kodak", "Ours*")
        assert curve["name"] == "MSINN-VRLIC (published, 8 anchors)"
        assert curve["results"]["bpp"] == [
            0.134,
            0.2,
            0.294,
            0.429,
            0.606,
            0.836,
            1.114,
            1.449,
        ]

    def test_published_unknown_dataset_names_valid_ones(self):
        with pytest.raises(ValueError, match="Tecnick"):
            msinn_published("DIV2K")

    def test_kodak_references_have_all_keys_and_equal_lengths(self):
        refs = kodak_references()
        assert set(refs) == {"vtm", "bpg", "av1", "webp", "jpeg2000", "jpeg",
                             "msinn-vrlic", "invcompress"}  # fmt: skip
        for curve in refs.values():
            r = curve["results"]
            assert len(r["bpp"]) == len(r["psnr-rgb"]) >= 4

    def test_invcompress_keys_are_renamed_to_rgb(self):
        r = kodak_references()["invcompress"]["results"]
        assert {"bpp", "psnr-rgb", "ms-ssim-rgb"} <= set(r)

    def test_write_results_json_round_trips(self, tmp_path):
        results = {
            "bpp": [0.5, 1.0],
            "psnr-rgb": [33.0, 37.0],
            "ms-ssim-rgb": [0.97, 0.99],
        }
        path = tmp_path / "curve.json"
        write_results_json(path, "ours", "test curve", results)
        assert json.loads(path.read_text())["name"] == "ours"
        assert load_reference(path) == {
            "name": "ours",
            "description": "test curve",
            "results": results,
        }

    def test_write_results_json_rejects_ragged_lists(self, tmp_path):
        with pytest.raises(ValueError, match="differ in length"):
            write_results_json(
                tmp_path / "x.json", "x", "", {"bpp": [1.0], "psnr-rgb": []}
            )
