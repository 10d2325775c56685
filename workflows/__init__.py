"""jobflow Makers and Flows, MD engines, local DFT and HPC submission (orchestration layer)."""
