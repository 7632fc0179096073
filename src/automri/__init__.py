"""AutoMRI: neural architecture search for MR image reconstruction (FedAutoMRI, EMR-NAS)."""

__version__ = "0.1.0"
