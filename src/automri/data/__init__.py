"""AutoMRI data layer."""
