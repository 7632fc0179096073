"""AutoMRI nas layer."""
