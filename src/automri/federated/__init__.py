"""AutoMRI federated layer."""
