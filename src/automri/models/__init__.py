"""AutoMRI models layer."""
