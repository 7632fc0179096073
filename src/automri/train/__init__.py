"""AutoMRI train layer."""
