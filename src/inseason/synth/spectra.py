"""Surface reflectance spectra of the endmembers mixed into every pixel, for the 12 L2A bands.

Values are typical bottom-of-atmosphere reflectances (0–1) in band order B01 B02 B03 B04 B05 B06 B07 B08
B8A B09 B11 B12: green canopies differ by crop (soybeans are brighter in the NIR than corn, rice canopies
stand in water, cotton is sparser), so crops are separable but overlap, as in real data.
"""

from __future__ import annotations

import numpy as np

_GREEN = {
    "corn": [0.030, 0.032, 0.070, 0.032, 0.105, 0.290, 0.390, 0.420, 0.440, 0.430, 0.200, 0.095],
    "soybeans": [0.028, 0.030, 0.068, 0.028, 0.100, 0.320, 0.450, 0.490, 0.505, 0.490, 0.220, 0.095],
    "rice": [0.032, 0.034, 0.072, 0.036, 0.100, 0.270, 0.350, 0.380, 0.395, 0.380, 0.175, 0.080],
    "cotton": [0.036, 0.040, 0.078, 0.045, 0.115, 0.285, 0.370, 0.400, 0.415, 0.405, 0.230, 0.115],
    "sorghum": [0.032, 0.034, 0.072, 0.036, 0.110, 0.280, 0.370, 0.400, 0.420, 0.410, 0.215, 0.105],
    "wheat": [0.035, 0.038, 0.085, 0.040, 0.120, 0.290, 0.370, 0.400, 0.415, 0.400, 0.225, 0.110],
    "grass": [0.035, 0.038, 0.075, 0.045, 0.115, 0.260, 0.330, 0.350, 0.365, 0.355, 0.250, 0.130],
    "forest": [0.022, 0.024, 0.050, 0.024, 0.080, 0.230, 0.300, 0.320, 0.335, 0.325, 0.150, 0.065],
    "weeds": [0.038, 0.040, 0.080, 0.050, 0.120, 0.260, 0.320, 0.340, 0.355, 0.345, 0.240, 0.125],
}
SPECTRUM_INDEX: dict[str, int] = {name: i for i, name in enumerate(_GREEN)}
GREEN = np.array(list(_GREEN.values()), dtype=np.float32)  # (n_spectra, 12)
SOIL = np.array([0.085, 0.095, 0.125, 0.155, 0.185, 0.205, 0.215, 0.225, 0.235, 0.235, 0.310, 0.260], np.float32)
DRY = np.array([0.070, 0.080, 0.110, 0.140, 0.180, 0.230, 0.260, 0.280, 0.290, 0.290, 0.370, 0.280], np.float32)
WATER = np.array([0.070, 0.072, 0.075, 0.050, 0.038, 0.025, 0.021, 0.018, 0.016, 0.010, 0.006, 0.004], np.float32)
LINT = np.array([0.150, 0.170, 0.200, 0.220, 0.250, 0.280, 0.300, 0.320, 0.330, 0.330, 0.380, 0.300], np.float32)
IMPERVIOUS = np.array([0.120, 0.130, 0.140, 0.150, 0.160, 0.170, 0.180, 0.190, 0.190, 0.190, 0.220, 0.200], np.float32)
CLOUD = np.array([0.550, 0.560, 0.570, 0.580, 0.600, 0.600, 0.610, 0.610, 0.610, 0.500, 0.450, 0.350], np.float32)
CIRRUS = np.array([0.060, 0.050, 0.045, 0.040, 0.040, 0.035, 0.035, 0.030, 0.030, 0.020, 0.015, 0.010], np.float32)
