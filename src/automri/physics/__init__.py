"""AutoMRI physics layer."""
