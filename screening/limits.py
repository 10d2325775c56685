"""Physical ranges every setting is checked against where it is read (campaign and MD engines).

One place for each bound, so ``validate`` refuses exactly what the MD engines would refuse later.
"""

from __future__ import annotations

#: MD/operating temperatures: Li alloys melt below ~1500 K; MLIPs are untrained far above that.
MAX_TEMPERATURE_K = 3000.0
#: Li is light: beyond ~10 fs velocity Verlet loses energy conservation for Li–M alloys.
MAX_TIMESTEP_FS = 10.0
#: production / equilibration length: 1 µs is orders beyond any screen on one machine.
MAX_MD_PS = 1.0e6
#: thermostat coupling time and sampling interval, fs (1 ns).
MAX_INTERVAL_FS = 1.0e6
