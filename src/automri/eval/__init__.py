"""AutoMRI eval layer."""
